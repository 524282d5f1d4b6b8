"""A split job's parent: cut, hand the parts to child jobs on the same endpoint, join, answer.

Parts travel through the job's S3 bucket under a prefix of their own, which is deleted when the
parent ends, whether it succeeded or not."""

from __future__ import annotations

import math
import time
from fractions import Fraction
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger

from app.config import Settings
from app.errors import ConfigError, InputError
from app.job import JobInput
from app.jobio import credentials
from app.media.keyframes import clean_keyframes, kept_keyframes
from app.media.probe import VideoInfo, count_frames, probe
from app.service import WatermarkRemovalService
from app.split.children import Child, EndpointQueue, SplitError, run_children
from app.split.media import cut, join
from app.split.plan import Part, overlap_frames, plan_parts
from app.storage import s3
from app.storage.fetch import safe_filename


def part_count(request: JobInput, info: VideoInfo, settings: Settings) -> int:
    """How many parts this job is cleaned in (1: not split): the job's `split`, else the automatic
    mode above `SPLIT_ABOVE_SECONDS`; never for a still image or a job that is itself a part."""
    if request.part is not None or info.image_suffix is not None:
        return 1
    if request.split is not None:
        wanted = request.split.parts or math.ceil(info.duration_s / (request.split.seconds or 1))
    elif settings.split_above_seconds and info.duration_s > settings.split_above_seconds:
        wanted = math.ceil(info.duration_s / settings.split_part_seconds)
    else:
        return 1
    return max(1, min(wanted, settings.split_max_parts))


def ready(request: JobInput, settings: Settings) -> tuple[EndpointQueue, s3.S3Credentials]:
    """The endpoint and the bucket the parts go through; a `ConfigError` naming what is missing."""
    creds = credentials(request, settings)
    missing = [name for name, ok in (
        ("RUNPOD_ENDPOINT_ID (RunPod sets it on its workers)", settings.runpod_endpoint_id),
        ("RUNPOD_API_KEY (a RunPod API key, as a secret, allowed to run jobs on this endpoint)", settings.runpod_api_key),
        ("S3 for the parts (the BUCKET_* env with BUCKET_NAME, or the job's s3Config with a bucketName)",
         creds is not None and creds.bucket),
    ) if not ok]
    if missing:
        raise ConfigError("cannot split this video: configure " + "; ".join(missing))
    assert creds is not None and settings.runpod_endpoint_id and settings.runpod_api_key
    return EndpointQueue(settings.runpod_endpoint_id, settings.runpod_api_key.get_secret_value()), creds


def _child_input(request: JobInput, part: Part, count: int, bucket: str, prefix: str, fps: str,
                 analysed: bool, keyframes: list[int]) -> dict[str, Any]:
    given: dict[str, Any] = {
        "s3": {"bucket": bucket, "key": f"{prefix}/part-{part.index:03d}.mkv"},
        "s3_prefix": prefix,
        "output_filename": f"clean-{part.index:03d}.mp4",
        "watermark_config": request.watermark_config.model_dump(mode="json", exclude_unset=True),
        "part": {"index": part.index, "count": count, "first_frame": part.first, "keep_first": part.keep_first,
                 "keep_frames": part.keep_frames, "fps": fps, "keyframes": keyframes,
                 "analysis_key": f"{prefix}/analysis.npz" if analysed else None,
                 **({"seeds_key": f"{prefix}/seeds.npz"} if analysed else {})},
    }
    if request.s3Config is not None:  # the caller's own bucket: the children need its credentials too
        given["s3Config"] = {**request.s3Config.model_dump(mode="json", exclude_none=True),
                             "accessSecret": request.s3Config.accessSecret.get_secret_value()}
    return given


def clean_in_parts(service: WatermarkRemovalService, request: JobInput, job_id: str, info: VideoInfo, result: Path,
                   workdir: Path, count: int, progress: Callable[[str, int], None]) -> dict[str, Any]:
    """Clean `info`'s video into `result` through `count` child jobs; return the answer's fields.
    Detection's pass over the whole video runs here, once, and every child uses its decision: what is a
    mark, and where, is decided as for one run; each child also gets the pictures of the marks' places
    from before its part, which a single run's restoration would remember."""
    settings = service.settings
    queue, creds = ready(request, settings)
    assert creds.bucket
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    deadline = time.monotonic() + ((request.split.timeout_seconds if request.split else None)
                                   or settings.split_timeout_seconds)
    try:
        total, keys = clean_keyframes(Path(info.path))
    except InputError as exc:
        raise InputError(f"cannot split this video: {exc}") from exc
    keys = kept_keyframes(keys, info.fps)  # the single run's IDR frames: the parts are cut and encoded at them
    parts = plan_parts(keys, total, count, overlap_frames(settings.split_overlap_seconds, info.fps))
    logger.info("Split: {} frames in {} parts (asked for {}), cut at frames {}", total, len(parts), count,
                [p.first + p.keep_first for p in parts])
    if len(parts) < 2:
        raise SplitError("cannot split this video: it has too few keyframes to cut it into parts")
    progress("cutting", 0)
    files = cut(Path(info.path), parts, Fraction(info.fps_rational), workdir / "cut")
    timings["split_cut"] = round(time.perf_counter() - clock, 3)
    clock = time.perf_counter()
    progress("analysing", 0)
    analysis, seeds = workdir / "analysis.npz", workdir / "seeds.npz"
    shared = [analysis, seeds] if service.analyse(info, request.watermark_config, analysis, seeds,
                                                  [p.first for p in parts]) else []
    timings["split_analyse"] = round(time.perf_counter() - clock, 3)
    prefix = "/".join(filter(None, [(request.s3_prefix or "").strip("/"),
                                    f"split-{safe_filename(job_id, 'job')}-{uuid.uuid4().hex[:8]}"]))
    try:
        clock = time.perf_counter()
        for file in [*files, *shared]:
            s3.upload(creds, file, f"{prefix}/{file.name}", "application/octet-stream", settings.presign_expiry_seconds,
                      settings.upload_attempts)
        timings["split_upload"] = round(time.perf_counter() - clock, 3)
        clock = time.perf_counter()
        inputs = [_child_input(request, part, len(parts), creds.bucket, prefix, info.fps_rational, bool(shared),
                               [k - part.first for k in keys if part.first <= k < part.end])
                  for part in parts]
        children = run_children(queue, inputs, settings.split_part_timeout_seconds, deadline, settings.split_poll_seconds,
                                lambda done, of: progress("cleaning parts", round(100 * done / of)))
        timings["split_children"] = round(time.perf_counter() - clock, 3)
        clock = time.perf_counter()
        cleaned = [_fetch_part(creds, prefix, part, child, workdir, settings) for part, child in zip(parts, children)]
        timings["split_download"] = round(time.perf_counter() - clock, 3)
        clock = time.perf_counter()
        progress("joining", 100)
        encoders = {str(child.output.get("encoder")) for child in children if child.output}
        join(cleaned, [p.keep_frames for p in parts], info, result, workdir, reencode=len(encoders) > 1)
        timings["split_join"] = round(time.perf_counter() - clock, 3)
    finally:
        removed = s3.delete_prefix(creds, creds.bucket, f"{prefix}/", settings.upload_attempts)
        logger.info("Split: removed {} intermediate objects under s3://{}/{}/", removed, creds.bucket, prefix)
    return _answer(result, parts, children, encoders, timings)


def _fetch_part(creds: s3.S3Credentials, prefix: str, part: Part, child: Child, workdir: Path,
                settings: Settings) -> Path:
    """A child's cleaned part, checked: it must hold exactly the frames the part keeps."""
    assert child.output is not None and creds.bucket
    key = str(child.output.get("s3_key") or "")
    if not key.startswith(f"{prefix}/"):
        raise SplitError(f"part {part.index + 1}: the child answered without its result in the job's bucket")
    path = workdir / f"clean-{part.index:03d}{Path(key).suffix}"
    s3.download(creds, creds.bucket, key, path, settings.max_input_bytes, settings.upload_attempts)
    if (got := count_frames(path)) != part.keep_frames:
        raise SplitError(f"part {part.index + 1}: the child returned {got} frames, {part.keep_frames} expected")
    return path


def _answer(result: Path, parts: list[Part], children: list[Child], encoders: set[str],
            timings: dict[str, float]) -> dict[str, Any]:
    out = probe(result)
    outputs = [child.output or {} for child in children]
    first = outputs[0]
    notes = list(dict.fromkeys(note for o in outputs for note in o.get("notes", [])))
    fallbacks = list(dict.fromkeys(f for o in outputs for f in o.get("fallbacks", [])))
    if len(encoders) > 1:
        fallbacks.append(f"split: the parts came from different encoders ({', '.join(sorted(encoders))}); "
                         "joined by re-encoding with libx264")
    return {
        "size_bytes": result.stat().st_size, "width": out.width, "height": out.height, "fps": round(out.fps, 3),
        "frames": out.frames, "duration_s": round(out.duration_s, 3), "device": first.get("device"),
        "detector": first.get("detector"), "inpainter": first.get("inpainter"),
        "encoder": first.get("encoder") if len(encoders) == 1 else "libx264",
        "multiscale": first.get("multiscale"), "fallbacks": fallbacks, "notes": notes,
        "watermark_frames": sum(int(o.get("watermark_frames", 0)) for o in outputs), "timings": timings,
        "split": {"parts": len(parts), "jobs": [{"part": part.index + 1, "job_id": child.job_id,
                                                 "attempts": child.attempts, "frames": part.keep_frames,
                                                 "errors": child.errors} for part, child in zip(parts, children)]},
    }
