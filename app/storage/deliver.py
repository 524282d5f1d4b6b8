"""Delivering a result to a `Destination`: a presigned PUT URL, S3 (a presigned GET URL back),
inline base64 when small enough, or a local folder. Which one a job gets is decided up front, before
any heavy work, in `app.jobio`."""

from __future__ import annotations

import base64
import mimetypes
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from loguru import logger

from app.config import Settings
from app.storage import s3
from app.storage.egress import Target, pinned, redact
from app.storage.s3 import UploadError


@dataclass(frozen=True)
class Destination:
    kind: str  # "put" | "s3" | "inline" | "local"
    creds: s3.S3Credentials | None = None
    put_url: str | None = None
    s3_prefix: str | None = None


def deliver(dest: Destination, result: Path, name: str, settings: Settings) -> dict:
    """Send `result` to `dest`; return the output fields that say where it is."""
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if dest.kind == "put":
        url = dest.put_url or ""
        _put(url, settings.egress().check(url, "output_url"), result, content_type, settings.upload_attempts)
        return {"output_url": redact(url), "video_url": url}
    if dest.kind == "s3":
        assert dest.creds is not None
        prefix = (dest.s3_prefix or "").strip("/")
        key = f"{prefix}/{name}" if prefix else name
        url = s3.upload(dest.creds, result, key, content_type, settings.presign_expiry_seconds, settings.upload_attempts)
        return {"video_url": url, "s3_key": key, "s3_bucket": dest.creds.bucket}
    if dest.kind == "inline":
        size = result.stat().st_size
        if size > settings.inline_output_max_bytes:
            raise UploadError(f"result is {size} bytes, over the {settings.inline_output_max_bytes}-byte limit for "
                              "return_base64: use output_url or S3")
        return {"video_base64": base64.b64encode(result.read_bytes()).decode("ascii"), "content_type": content_type}
    path = settings.local_output_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(result, path)
    return {"output_path": str(path.resolve())}


def _put(url: str, target: Target, path: Path, content_type: str, attempts: int) -> None:
    """PUT the file to the checked address with retries and exponential backoff on connection errors and
    5xx. A redirect is refused: a presigned PUT URL does not redirect, and following one would send
    the result wherever it points."""
    last = ""
    for attempt in range(1, attempts + 1):
        try:
            with path.open("rb") as body, pinned(target), requests.Session() as session:
                session.trust_env = False  # no proxy from the environment: the checked address is the one used
                response = session.put(url, data=body, headers={"Content-Type": content_type}, timeout=(10, 300),
                                       allow_redirects=False)
            if response.is_redirect:
                raise UploadError(f"upload to output_url {redact(url)} was answered with a redirect (HTTP "
                                  f"{response.status_code}); refused: a presigned PUT URL does not redirect")
            if response.status_code < 300:
                return
            last = f"HTTP {response.status_code}"
            if response.status_code < 500:
                break
        except requests.RequestException as exc:
            last = type(exc).__name__
        if attempt < attempts:
            delay = min(8.0, 0.5 * 2 ** (attempt - 1))
            logger.warning("Upload to {} failed ({}); retry {}/{} in {:.1f}s", redact(url), last, attempt, attempts - 1, delay)
            time.sleep(delay)
    raise UploadError(f"upload to output_url {redact(url)} failed: {last}")


def deliver_preview(dest: Destination, picture: Path, name: str, settings: Settings) -> dict:
    """The preview picture beside the result: in the same bucket (a presigned URL) or folder, else
    inline (a presigned PUT URL is for the video alone)."""
    if dest.kind == "s3":
        return {"preview_url": deliver(dest, picture, name, settings)["video_url"]}
    if dest.kind == "local":
        return {"preview_path": deliver(dest, picture, name, settings)["output_path"]}
    return {"preview_base64": base64.b64encode(picture.read_bytes()).decode("ascii"), "preview_content_type": "image/jpeg"}
