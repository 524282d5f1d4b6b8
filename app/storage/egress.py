"""One egress policy for every outbound connection a job causes: the download and each of its
redirects, the result's PUT, the job's own S3 endpoint.

A URL is checked before anything connects: http(s) only, a host, and every address the host resolves
to public (loopback, private, link-local, carrier-grade NAT, multicast and reserved ranges refused),
unless `ALLOW_PRIVATE_URLS` is set or the address is in `EGRESS_ALLOW_NETS`. The connection is then
pinned to the address that was checked: urllib3 (under requests and boto3 alike) connects to it
without resolving the name again, so a DNS answer that changes between check and connect (rebinding)
has no effect, while TLS still verifies the certificate for the name. Inside a pinned block a
connection to a host that was not checked is refused, so neither a redirect nor an SDK's second
endpoint slips past.

requests-hardened pins requests' connections the same way, but only requests' and with loopback as
its one exception; boto3 speaks urllib3 directly, so the pin lives in urllib3, where both meet.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import urlparse

import idna
import urllib3.util.connection as urllib3_connection

from app.errors import InputError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# IPv4 ranges `is_global` still calls global that reach no public service (carrier-grade NAT, ...).
NOT_PUBLIC = tuple(ipaddress.ip_network(n) for n in ("100.64.0.0/10", "192.0.0.0/24", "192.88.99.0/24"))
# IPv6 forms that carry an IPv4 address in their last 32 bits (IPv4-compatible, SIIT, NAT64): judged by it.
V4_IN_V6 = tuple(ipaddress.ip_network(n) for n in ("::/96", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48"))
GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")


def is_public(ip: IPAddress) -> bool:
    """Whether `ip` is a public unicast address, judging IPv6 forms that embed an IPv4 address by it."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and any(ip in net for net in V4_IN_V6):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(embedded)
        if ip not in GLOBAL_UNICAST:
            return False
    return ip.is_global and not ip.is_multicast and not any(ip in net for net in NOT_PUBLIC)


def _ascii_host(host: str) -> str:
    """The host as urllib3 connects to it (an international name in its IDNA form)."""
    try:
        return idna.encode(host, uts46=True).decode("ascii") if not host.isascii() else host
    except idna.IDNAError:
        return host


@dataclass(frozen=True)
class Target:
    """A checked host: connections to (host, port) go to `address`."""

    host: str
    port: int
    address: str


@dataclass(frozen=True)
class EgressPolicy:
    allow_private: bool = False
    allow_nets: tuple[IPNetwork, ...] = ()

    def check(self, url: str, field: str) -> Target:
        """The pinned target for `url`, or an `InputError` naming `field` and why (never the URL's query)."""
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https"):
            raise InputError(f"{field}: unsupported URL scheme '{parsed.scheme or '(none)'}' (use http or https)")
        host = _ascii_host((parsed.hostname or "").lower())
        if not host:
            raise InputError(f"{field}: the URL has no host")
        try:
            port = parsed.port or (443 if parsed.scheme == "https" else 80)
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except ValueError as exc:
            raise InputError(f"{field}: the URL's port is not valid") from exc
        except (socket.gaierror, UnicodeError) as exc:
            raise InputError(f"{field}: cannot resolve host {host}") from exc
        addresses = [info[4][0] for info in infos]
        for address in addresses:
            self._check_address(address, host, field)
        return Target(host, port, addresses[0])

    def _check_address(self, address: str, host: str, field: str) -> None:
        ip = ipaddress.ip_address(address.split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if self.allow_private or any(ip in net for net in self.allow_nets):
            return
        if not is_public(ip):
            raise InputError(f"{field}: host {host} resolves to a non-public address ({ip}); refused "
                             "(set ALLOW_PRIVATE_URLS=1 or EGRESS_ALLOW_NETS for trusted private hosts)")


_PINS: ContextVar[dict[tuple[str, int], str] | None] = ContextVar("egress_pins", default=None)
_connect = urllib3_connection.create_connection


@contextmanager
def pinned(*targets: Target) -> Iterator[None]:
    """Within the block, urllib3 connects only to these targets, each to its checked address.
    With no target at all (a trusted, operator-configured endpoint) nothing is fenced."""
    if not targets:
        yield
        return
    token = _PINS.set({(t.host, t.port): t.address for t in targets})
    try:
        yield
    finally:
        _PINS.reset(token)


def _pinned_connection(address: tuple[str, int], *args, **kwargs) -> socket.socket:
    pins = _PINS.get()
    if pins is not None:
        host, port = address
        checked = pins.get((host.strip("[]").lower(), port))
        if checked is None:
            raise ConnectionRefusedError(f"egress policy: {host}:{port} was not checked for this request")
        address = (checked, port)
    return _connect(address, *args, **kwargs)


urllib3_connection.create_connection = _pinned_connection


def redact(url: str) -> str:
    """Scheme, host and path only: query strings carry signatures and tokens."""
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.hostname or ''}{parsed.path}"
