"""Sources onto local disk: http(s) (streamed, bounded), `s3://`, base64, or a local file when allowed.

Plain primitives that know nothing of a job: the worker maps its job onto them (`app.jobio`), the CLI
calls `fetch_url` with whatever the user typed."""

from __future__ import annotations

import base64
import binascii
import re
import time
from pathlib import Path
from urllib.parse import urljoin, urlparse

import requests

from app.config import Settings
from app.errors import InputError
from app.storage import s3
from app.storage.egress import pinned, redact

CHUNK = 1 << 20
DOWNLOAD_DEADLINE_S = 1800
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str | None, default: str) -> str:
    """A bare file name: no directories, no traversal, no odd characters."""
    base = Path(name or "").name
    cleaned = SAFE_NAME.sub("_", base).lstrip(".")[:120]
    return cleaned or default


def fetch_url(url: str, dest: Path, settings: Settings, creds: s3.S3Credentials | None = None,
              headers: dict[str, str] | None = None, verify: bool = True) -> Path:
    """`url` (http(s), `s3://bucket/key`, `file://` or a bare path) on local disk: at `dest`, or where
    it already is for a local file."""
    if url.startswith("s3://"):
        parsed = urlparse(url)
        return from_s3(creds, parsed.netloc, parsed.path.lstrip("/"), dest, settings)
    if url.startswith("file://") or not urlparse(url).scheme:
        return _from_local(url, settings)
    return download(url, dest, headers or {}, settings, verify=verify)


def name_from_url(url: str | None) -> str | None:
    return Path(urlparse(url).path).name if url else None


def _from_local(url: str, settings: Settings) -> Path:
    if not settings.allow_local_files:
        raise InputError("local file inputs are disabled: give an http(s) or s3:// URL (or set ALLOW_LOCAL_FILES=1)")
    path = Path(urlparse(url).path if url.startswith("file://") else url)
    if not path.is_file():
        raise InputError(f"local input not found: {path}")
    return path


def from_s3(creds: s3.S3Credentials | None, bucket: str | None, key: str, dest: Path, settings: Settings) -> Path:
    if creds is None:
        raise InputError("S3 input needs credentials: s3Config in the job or BUCKET_ENDPOINT_URL/BUCKET_ACCESS_KEY_ID/"
                         "BUCKET_SECRET_ACCESS_KEY in the env")
    bucket = bucket or creds.bucket
    if not bucket or not key:
        raise InputError("S3 input needs a bucket and a key")
    return s3.download(creds, bucket, key, dest, settings.max_input_bytes, settings.upload_attempts)


def from_base64(data: str, dest: Path, max_bytes: int) -> Path:
    if data.startswith("data:"):
        data = data.partition(",")[2]
    if len(data) * 3 // 4 > max_bytes:
        raise InputError(f"video_base64 decodes to more than the {max_bytes}-byte limit")
    try:
        raw = base64.b64decode(re.sub(r"\s+", "", data), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError("video_base64 is not valid base64") from exc
    if not raw:
        raise InputError("video_base64 is empty")
    dest.write_bytes(raw)
    return dest


def download(url: str, dest: Path, headers: dict[str, str], settings: Settings, verify: bool = True) -> Path:
    """Stream `url` to `dest`: bounded size (counted, not trusted from headers), time and redirects;
    every hop checked by the egress policy and connected to the address that was checked."""
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: the checked address is the one connected to
    current = url
    started = time.monotonic()
    policy = settings.egress()
    for hop in range(settings.max_redirects + 1):
        target = policy.check(current, "video_url" if hop == 0 else f"video_url (redirect {hop})")
        where = redact(current)
        try:
            with pinned(target):
                response = session.get(current, headers=headers, stream=True, allow_redirects=False, verify=verify,
                                       timeout=(settings.download_connect_timeout, settings.download_read_timeout))
        except requests.exceptions.ConnectTimeout as exc:
            raise InputError(f"download timed out connecting to {where}") from exc
        except requests.exceptions.ReadTimeout as exc:
            raise InputError(f"download timed out: {where} sent nothing for {settings.download_read_timeout:.0f}s") from exc
        except requests.exceptions.ConnectionError as exc:
            raise InputError(f"download failed: cannot connect to {where}") from exc
        except requests.RequestException as exc:
            raise InputError(f"download failed for {where}: {type(exc).__name__}") from exc
        with response:
            if response.is_redirect:
                following = urljoin(current, response.headers.get("location", ""))
                if urlparse(following)[:2] != urlparse(current)[:2]:
                    headers = {}  # the job's headers (tokens, cookies) are for the host it named, not another
                current = following
                continue
            if response.status_code != 200:
                raise InputError(f"download failed: HTTP {response.status_code} from {where}")
            declared = int(response.headers.get("content-length") or 0)
            if declared > settings.max_input_bytes:
                raise InputError(f"input is {declared} bytes, over the {settings.max_input_bytes}-byte limit")
            _stream(response, dest, settings.max_input_bytes, started, where)
            return dest
    raise InputError(f"download failed: more than {settings.max_redirects} redirects")


def _stream(response: requests.Response, dest: Path, limit: int, started: float, where: str) -> None:
    written = 0
    try:
        with dest.open("wb") as out:
            for chunk in response.iter_content(CHUNK):
                written += len(chunk)
                if written > limit:
                    raise InputError(f"input is over the {limit}-byte limit (stopped reading)")
                if time.monotonic() - started > DOWNLOAD_DEADLINE_S:
                    raise InputError(f"download from {where} took longer than {DOWNLOAD_DEADLINE_S}s")
                out.write(chunk)
    except requests.RequestException as exc:
        raise InputError(f"download from {where} broke off after {written} bytes: {type(exc).__name__}") from exc
    if written == 0:
        raise InputError(f"download from {where} was empty (0 bytes)")
