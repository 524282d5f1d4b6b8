"""One RunPod job, start to finish: validate, fetch, process, deliver, clean up, answer.

Every failure becomes `{"error": "<what to fix>"}` (RunPod then marks the job FAILED); the
job's temp dir is removed whatever happens, and the worker stays ready for the next job.
"""

from __future__ import annotations

import ctypes
import gc
import shutil
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

from loguru import logger
from pydantic import ValidationError

from app.config import ProcessOptions, Settings, get_settings
from app.errors import InputError, WatermarkRemovalError
from app.gpu import make_plan
from app.job import JobInput, describe_validation_error
from app.jobio import credentials, fetch, output_name, plan_destination
from app.media.probe import VideoInfo, probe
from app.report import Report
from app.service import VideoPart, WatermarkRemovalService, result_suffix
from app.split.parent import clean_in_parts, part_count, ready as split_ready
from app.storage.deliver import deliver, deliver_preview
from app.storage.fetch import from_s3

ProgressSink = Callable[[dict, dict], None]
DISK_MARGIN_BYTES = 200 * 1024**2


def release_memory() -> None:
    """Hand freed heap back to the OS between jobs: glibc keeps it otherwise, and a long-lived worker grows."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def is_fatal_cuda_error(exc: BaseException) -> bool:
    """Errors after which the CUDA context is unusable: the worker must be replaced."""
    text = str(exc)
    return "CUDA error" in text or "device-side assert" in text or "cuDNN error" in text


class Worker:
    """Holds what lives across jobs (settings, GPU profile, loaded models) and runs jobs."""

    def __init__(self, settings: Settings | None = None, progress: ProgressSink | None = None) -> None:
        self.settings = settings or get_settings()
        self.service = WatermarkRemovalService(self.settings)
        self.progress = progress
        self.startup_error: str | None = None

    def warm_up(self) -> None:
        """Load every configured model at cold start, not on the first job. A model that cannot load
        (a bad path, a failed download) does not crash-loop the container: the worker starts, logs the
        reason once, and answers every job with it."""
        from app.models import load_configured_models

        try:
            load_configured_models(self.settings, make_plan(self.service.gpu, self.settings, ProcessOptions()).device)
        except WatermarkRemovalError as exc:
            self.startup_error = f"worker misconfigured: {exc}"
            logger.error("{}; every job will fail with this message until the configuration is fixed",
                         self.startup_error)

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        job_id = str(job.get("id") or "local")
        started = time.perf_counter()
        workdir = Path(tempfile.mkdtemp(prefix="wm-job-", dir=self.settings.temp_dir))
        try:
            return self._run(job, job_id, workdir, started)
        except ValidationError as exc:
            return self._fail(job_id, describe_validation_error(exc))
        except WatermarkRemovalError as exc:
            return self._fail(job_id, str(exc))
        except Exception as exc:  # noqa: BLE001 - the worker must answer every job and keep serving
            logger.exception("Job {} crashed", job_id)
            answer = self._fail(job_id, f"internal error: {type(exc).__name__}: {exc}")
            if is_fatal_cuda_error(exc):
                answer["refresh_worker"] = True
            return answer
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
            release_memory()

    def _run(self, job: dict[str, Any], job_id: str, workdir: Path, started: float) -> dict[str, Any]:
        if self.startup_error is not None:
            raise WatermarkRemovalError(self.startup_error)
        given = job.get("input")
        if given is not None and not isinstance(given, dict):
            raise InputError(f"invalid input: input must be a JSON object, not {type(given).__name__}")
        raw = dict(given or {})
        if "s3Config" not in raw and job.get("s3Config"):
            raw["s3Config"] = job["s3Config"]
        request = JobInput.model_validate(raw)
        destination = plan_destination(request, self.settings)
        if request.split is not None:
            split_ready(request, self.settings)  # refused before any download
        self._report_progress(job, "downloading", 0)
        source = fetch(request, workdir, self.settings)
        info = probe(source)
        self._check_limits(info.width, info.height, info.duration_s)
        parts = part_count(request, info, self.settings)
        # A split parent holds the pieces, the parts (with their overlaps) and the cleaned parts at once.
        self._check_disk(workdir, source, 2 if parts == 1 else 5)
        is_image = info.image_suffix is not None
        suffix = result_suffix(info, request.watermark_config.force_format)
        result = workdir / f"out{suffix}"
        preview = workdir / "preview.jpg" if request.preview and not is_image and parts == 1 else None
        if parts > 1:
            summary = clean_in_parts(self.service, request, job_id, info, result, workdir, parts,
                                     lambda stage, percent: self._report_progress(job, stage, percent))
            if request.preview:
                summary["notes"].append("preview: not made for a split job (each part is cleaned by another worker)")
        else:
            report = self._clean(job, request, source, info, result, preview, workdir)
            summary = self._summary(report, result)
        self._report_progress(job, "uploading", 100)
        name = output_name(request, job_id, suffix)
        location = deliver(destination, result, name, self.settings)
        answer = {**location, "filename": name, **summary, "status": "success",
                  "result": {"filename": name, **({"result_url": location["video_url"]} if destination.kind == "s3" else {})}}
        if preview is not None:
            answer.update(deliver_preview(destination, preview, f"{Path(name).stem}-preview.jpg", self.settings))
        answer["timings"]["job_total"] = round(time.perf_counter() - started, 3)
        logger.info("Job {} done: {} frames, {} with a watermark, {:.1f}s", job_id, summary["frames"],
                    summary["watermark_frames"], answer["timings"]["job_total"])
        return answer

    def _clean(self, job: dict[str, Any], request: JobInput, source: Path, info: VideoInfo, result: Path,
               preview: Path | None, workdir: Path) -> Report:
        """This worker cleans the video itself: the whole of it, or the part a split parent sent."""
        video_part = None
        if (part := request.part) is not None:
            analysis = seeds = None
            if part.analysis_key and request.s3 is not None:
                analysis = from_s3(credentials(request, self.settings), request.s3.bucket, part.analysis_key,
                                   workdir / "analysis.npz", self.settings)
            if part.seeds_key and request.s3 is not None:
                seeds = from_s3(credentials(request, self.settings), request.s3.bucket, part.seeds_key,
                                workdir / "seeds.npz", self.settings)
            video_part = VideoPart(range(part.keep_first, part.keep_first + part.keep_frames), part.first_frame, analysis,
                                   tuple(part.keyframes), seeds)
            info = info.model_copy(update={"fps": float(Fraction(part.fps)), "fps_rational": part.fps})
        self._report_progress(job, "processing", 0)
        step = max(1, info.frames // 10)
        marks = {"next": step}

        def on_frames(done: int, total: int) -> None:
            if done >= marks["next"] or done == total:
                marks["next"] = done + step
                self._report_progress(job, "processing", round(100 * done / max(1, total)))

        report = self.service.clean(source, result, request.watermark_config, on_frames, preview, info, video_part)
        if video_part is not None and report.output is not None and report.output.frames != len(video_part.keep):
            raise WatermarkRemovalError(f"part {part.index + 1}: {report.output.frames} frames encoded, "
                                        f"{len(video_part.keep)} expected (the part's file has {report.frames_processed})")
        return report

    def _check_limits(self, width: int, height: int, duration_s: float) -> None:
        s = self.settings
        if width > s.max_width or height > s.max_height:
            raise InputError(f"resolution {width}x{height} is above the limit of {s.max_width}x{s.max_height}")
        if duration_s > s.max_duration_seconds:
            raise InputError(f"duration {duration_s:.0f}s is above the limit of {s.max_duration_seconds:.0f}s")

    def _check_disk(self, workdir: Path, source: Path, copies: int) -> None:
        need = copies * source.stat().st_size + DISK_MARGIN_BYTES
        free = shutil.disk_usage(workdir).free
        if free < need:
            raise WatermarkRemovalError(f"not enough disk space: {free // 1024**2} MiB free, about {need // 1024**2} MiB needed")

    @staticmethod
    def _summary(report: Report, result: Path) -> dict[str, Any]:
        out = report.output or report.input
        return {
            "size_bytes": result.stat().st_size, "width": out.width, "height": out.height,
            "fps": round(out.fps, 3), "frames": out.frames, "duration_s": round(out.duration_s, 3),
            "device": report.device, "detector": report.detector, "inpainter": report.inpainter, "encoder": report.encoder,
            "multiscale": report.multiscale, "fallbacks": report.fallbacks, "notes": report.notes,
            "watermark_frames": report.watermark_frames, "timings": dict(report.timings),
        }

    def _report_progress(self, job: dict, stage: str, percent: int) -> None:
        logger.info("Job {}: {} {}%", job.get("id"), stage, percent)
        if self.progress is not None:
            self.progress(job, {"stage": stage, "percent": percent})

    @staticmethod
    def _fail(job_id: str, message: str) -> dict[str, Any]:
        logger.error("Job {} failed: {}", job_id, message)
        return {"error": message}
