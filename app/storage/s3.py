"""S3 through boto3: download, upload with a presigned GET URL. Credentials come from RunPod's
`BUCKET_*` env (`from_settings`) or from whoever calls (the job's `s3Config`, mapped in `app.jobio`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from loguru import logger
from pydantic import SecretStr

from app.config import Settings
from app.errors import InputError, WatermarkRemovalError
from app.storage.egress import EgressPolicy, Target, pinned


class UploadError(WatermarkRemovalError):
    """The result could not be delivered."""


@dataclass(frozen=True)
class S3Credentials:
    """Where and how to reach a bucket. `policy` is set for an endpoint a job gave: every request is then
    pinned to the hosts it checks (the operator's own `BUCKET_*` endpoint is trusted configuration)."""

    endpoint_url: str
    access_key_id: str
    secret_access_key: SecretStr
    bucket: str | None
    region: str | None = None
    path_style: bool | None = None  # None: botocore decides (virtual-hosted where the name allows)
    policy: EgressPolicy | None = None  # a job's own endpoint: checked (and pinned) at every use

    def targets(self, bucket: str | None) -> tuple[Target, ...]:
        """The checked hosts a request for `bucket` connects to: the endpoint, and the bucket's own host
        when it is addressed virtual-hosted. Checked now, so a long job does not use a stale answer."""
        if self.policy is None:
            return ()
        found = [self.policy.check(self.endpoint_url, "s3Config.endpointUrl")]
        if self.path_style is False and bucket:
            parsed = urlparse(self.endpoint_url)
            found.append(self.policy.check(parsed._replace(netloc=f"{bucket}.{parsed.netloc}").geturl(),
                                           "the S3 bucket's host"))
        return tuple(found)

    def __repr__(self) -> str:
        return f"S3Credentials(endpoint_url={self.endpoint_url!r}, bucket={self.bucket!r})"


def from_settings(settings: Settings) -> S3Credentials | None:
    """RunPod's `BUCKET_*` env; None when it is incomplete."""
    if settings.bucket_endpoint_url and settings.bucket_access_key_id and settings.bucket_secret_access_key:
        return S3Credentials(settings.bucket_endpoint_url, settings.bucket_access_key_id,
                             settings.bucket_secret_access_key, settings.bucket_name)
    return None


def client(creds: S3Credentials, attempts: int):
    style = "auto" if creds.path_style is None else "path" if creds.path_style else "virtual"
    config = Config(signature_version="s3v4", retries={"max_attempts": attempts, "mode": "standard"},
                    connect_timeout=10, read_timeout=60, s3={"addressing_style": style})
    return boto3.client(
        "s3", endpoint_url=creds.endpoint_url, aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key.get_secret_value(), config=config,
        region_name=creds.region or os.environ.get("BUCKET_REGION", "us-east-1"),
    )


# One thread per transfer: the egress pins are per thread (a context), and s3transfer's pool threads
# would connect outside them.
SINGLE_THREAD = TransferConfig(use_threads=False)


def _explain(exc: Exception, what: str) -> str:
    """A message naming the cause, never the exception's text (it holds local paths and key ids)."""
    if isinstance(exc, S3UploadFailedError) and isinstance(exc.__context__, ClientError):
        exc = exc.__context__  # upload_file re-raises S3's refusal as S3UploadFailedError, keeping it as context
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchKey", "NotFound"):
            return f"{what}: object not found"
        if code == "NoSuchBucket":
            return f"{what}: bucket does not exist"
        if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return f"{what}: access denied (check the S3 credentials)"
        return f"{what}: S3 error {code}"
    if isinstance(exc, EndpointConnectionError):
        return f"{what}: cannot reach the S3 endpoint"
    return f"{what}: {type(exc).__name__}"


def download(creds: S3Credentials, bucket: str, key: str, dest: Path, max_bytes: int, attempts: int) -> Path:
    """Fetch s3://bucket/key to `dest`, refusing objects larger than `max_bytes`."""
    where = f"S3 input s3://{bucket}/{key}"
    try:
        s3 = client(creds, attempts)
        with pinned(*creds.targets(bucket)):
            size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
            if size > max_bytes:
                raise InputError(f"{where} is {size} bytes, over the {max_bytes}-byte limit")
            s3.download_file(bucket, key, str(dest), Config=SINGLE_THREAD)
    except (ClientError, BotoCoreError) as exc:
        raise InputError(_explain(exc, where)) from exc
    return dest


def upload(creds: S3Credentials, path: Path, key: str, content_type: str, expiry: int, attempts: int) -> str:
    """Upload with boto3's retries and backoff; return a presigned GET URL valid for `expiry` seconds."""
    if not creds.bucket:
        raise UploadError("S3 upload: no bucket name (set BUCKET_NAME or s3Config.bucketName)")
    try:
        s3 = client(creds, attempts)
        with pinned(*creds.targets(creds.bucket)):
            s3.upload_file(str(path), creds.bucket, key, ExtraArgs={"ContentType": content_type}, Config=SINGLE_THREAD)
        return s3.generate_presigned_url("get_object", Params={"Bucket": creds.bucket, "Key": key}, ExpiresIn=expiry)
    except (ClientError, BotoCoreError, S3UploadFailedError) as exc:
        raise UploadError(_explain(exc, f"S3 upload to s3://{creds.bucket}/{key} failed")) from exc


def delete_prefix(creds: S3Credentials, bucket: str, prefix: str, attempts: int) -> int:
    """Delete every object under `prefix` (a split job's intermediate parts); return how many. Failures
    are logged, not raised: the job's own outcome is what the caller is told."""
    removed = 0
    try:
        s3 = client(creds, attempts)
        with pinned(*creds.targets(bucket)):
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
                    removed += len(keys)
    except (ClientError, BotoCoreError) as exc:
        logger.warning("{}", _explain(exc, f"S3 cleanup of s3://{bucket}/{prefix}"))
    return removed
