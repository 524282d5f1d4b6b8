"""A RunPod job's source and destination, mapped onto the storage primitives: where the input
comes from (`video_url`, `video_base64`, `s3`), which S3 credentials apply (the job's `s3Config`
over the env), and where the result goes, decided before any heavy work.

Destinations in order: the caller's presigned PUT URL; S3; inline base64 when asked and small
enough; a local folder only when local files are enabled. With none of these the job fails up
front, saying what to configure.
"""

from __future__ import annotations

from pathlib import Path

from app.config import Settings
from app.errors import InputError
from app.job import JobInput
from app.storage import s3
from app.storage.deliver import Destination
from app.storage.fetch import fetch_url, from_base64, from_s3, name_from_url, safe_filename
from app.storage.s3 import UploadError

NO_DESTINATION = (
    "no output destination: give output_url (a presigned PUT URL), configure S3 (BUCKET_ENDPOINT_URL, "
    "BUCKET_ACCESS_KEY_ID, BUCKET_SECRET_ACCESS_KEY and BUCKET_NAME, or s3Config in the job), "
    "or set return_base64 for small outputs"
)


def credentials(job: JobInput, settings: Settings) -> s3.S3Credentials | None:
    """The job's `s3Config` wins over the env; None when neither is complete. A job's own endpoint
    goes through the egress policy (and its bucket's virtual host too, when it asks for that)."""
    given = job.s3Config
    if given is None:
        return s3.from_settings(settings)
    bucket = given.bucketName or settings.bucket_name
    path_style = True if given.forcePathStyle is None else given.forcePathStyle
    creds = s3.S3Credentials(given.endpointUrl, given.accessId, given.accessSecret, bucket, given.region, path_style,
                             settings.egress())
    creds.targets(bucket)  # refused up front, before any download or work
    return creds


def fetch(job: JobInput, workdir: Path, settings: Settings) -> Path:
    """Put the job's source at a path inside `workdir` and return it."""
    name = safe_filename(job.filename or name_from_url(job.video_url), "input")
    dest = workdir / f"in-{name}"
    if job.video_base64:
        return from_base64(job.video_base64, dest, settings.max_base64_bytes)
    if job.s3 is not None:
        return from_s3(credentials(job, settings), job.s3.bucket, job.s3.key, dest, settings)
    url = job.video_url or ""
    creds = credentials(job, settings) if url.startswith("s3://") else None
    if not job.source_verify_ssl and not settings.allow_insecure_tls:
        raise InputError("source_verify_ssl: false is refused: this worker checks TLS certificates "
                         "(an operator may allow it with ALLOW_INSECURE_TLS=1)")
    return fetch_url(url, dest, settings, creds, job.source_headers, verify=job.source_verify_ssl)


def plan_destination(job: JobInput, settings: Settings) -> Destination:
    """Choose where the result goes; raise `UploadError` when nowhere is configured."""
    if job.output_url:
        settings.egress().check(job.output_url, "output_url")  # refused up front; checked again when the PUT is made
        return Destination("put", put_url=job.output_url)
    creds = credentials(job, settings)
    if creds is not None and not job.return_base64:
        if not creds.bucket:
            raise UploadError("S3 is configured but has no bucket name: set BUCKET_NAME or s3Config.bucketName")
        return Destination("s3", creds, s3_prefix=job.s3_prefix)
    if job.return_base64:
        return Destination("inline")
    if settings.allow_local_files:
        return Destination("local")
    raise UploadError(NO_DESTINATION)


def output_name(job: JobInput, job_id: str, suffix: str) -> str:
    stem = Path(safe_filename(job.output_filename, "")).stem or f"{safe_filename(job_id, 'job')}-clean"
    return f"{stem}{suffix}"
