"""Which URLs a worker may fetch: http(s) only, and no private, loopback or link-local hosts
unless `ALLOW_PRIVATE_URLS` (a worker must not be a way into its own network or cloud metadata)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlparse

from app.errors import InputError


def check_url(url: str, allow_private: bool) -> None:
    """Raise `InputError` when `url` is not an http(s) URL to a public host (or private hosts are allowed)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https"):
        raise InputError(f"unsupported URL scheme '{parsed.scheme or '(none)'}': use http, https or s3")
    host = parsed.hostname
    if not host:
        raise InputError("URL has no host")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, parsed.port or (443 if parsed.scheme == "https" else 80), proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise InputError(f"cannot resolve host {host}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise InputError(f"URL host {host} resolves to a non-public address ({address}); not allowed")


def redact(url: str) -> str:
    """Scheme, host and path only: query strings carry signatures and tokens."""
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.hostname or ''}{parsed.path}"
