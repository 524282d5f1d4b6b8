"""Where a job's result goes, decided before any heavy work, and delivering it there.

In order: the caller's presigned PUT URL; S3 (job `s3Config` or RunPod's `BUCKET_*` env);
inline base64 when asked and small enough; a local path only when local files are enabled.
With none of these the job fails up front, saying what to configure.
"""

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
from app.job import JobInput
from app.storage import s3
from app.storage.fetch import safe_filename
from app.storage.s3 import UploadError
from app.storage.urls import redact

NO_DESTINATION = (
    "no output destination: give output_url (a presigned PUT URL), configure S3 (BUCKET_ENDPOINT_URL, "
    "BUCKET_ACCESS_KEY_ID, BUCKET_SECRET_ACCESS_KEY and BUCKET_NAME, or s3Config in the job), "
    "or set return_base64 for small outputs"
)


@dataclass(frozen=True)
class Destination:
    kind: str  # "put" | "s3" | "inline" | "local"
    creds: s3.S3Credentials | None = None


def plan_destination(job: JobInput, settings: Settings) -> Destination:
    """Choose where the result goes; raise `UploadError` when nowhere is configured."""
    if job.output_url:
        return Destination("put")
    creds = s3.credentials(job.s3Config, settings)
    if creds is not None and not job.return_base64:
        if not creds.bucket:
            raise UploadError("S3 is configured but has no bucket name: set BUCKET_NAME or s3Config.bucketName")
        return Destination("s3", creds)
    if job.return_base64:
        return Destination("inline")
    if settings.allow_local_files:
        return Destination("local")
    raise UploadError(NO_DESTINATION)


def output_name(job: JobInput, job_id: str, suffix: str) -> str:
    stem = Path(safe_filename(job.output_filename, "")).stem or f"{safe_filename(job_id, 'job')}-clean"
    return f"{stem}{suffix}"


def deliver(dest: Destination, job: JobInput, result: Path, name: str, settings: Settings) -> dict:
    """Send `result` to `dest`; return the output fields that say where it is."""
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if dest.kind == "put":
        _put(job.output_url or "", result, content_type, settings.upload_attempts)
        return {"output_url": redact(job.output_url or ""), "video_url": job.output_url}
    if dest.kind == "s3":
        assert dest.creds is not None
        prefix = (job.s3_prefix or "").strip("/")
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


def _put(url: str, path: Path, content_type: str, attempts: int) -> None:
    """PUT the file with retries and exponential backoff on connection errors and 5xx."""
    last = ""
    for attempt in range(1, attempts + 1):
        try:
            with path.open("rb") as body:
                response = requests.put(url, data=body, headers={"Content-Type": content_type}, timeout=(10, 300))
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


def deliver_preview(dest: Destination, job: JobInput, picture: Path, name: str, settings: Settings) -> dict:
    """The preview picture beside the result: in the same bucket (a presigned URL) or folder, else
    inline (a presigned PUT URL is for the video alone)."""
    if dest.kind == "s3":
        return {"preview_url": deliver(dest, job, picture, name, settings)["video_url"]}
    if dest.kind == "local":
        return {"preview_path": deliver(dest, job, picture, name, settings)["output_path"]}
    return {"preview_base64": base64.b64encode(picture.read_bytes()).decode("ascii"), "preview_content_type": "image/jpeg"}
