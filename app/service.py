"""`WatermarkRemovalService`: the streaming pipeline decode -> detect -> track -> inpaint -> encode.

Decoding and encoding run in their own threads, joined to the detect/track/inpaint loop
by bounded queues; frames are held only for the current segment plus the tracker's
look-ahead, so memory stays flat however long the video is.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from loguru import logger

from app.backends import choose_detector, choose_inpainter
from app.config import IMAGE_FORMATS, VIDEO_FORMATS, ProcessOptions, Settings, get_settings
from app.detection.tracking import StreamingTracker, TrackParams
from app.detection.types import Detection
from app.errors import EncodeError, InputError
from app.gpu import BatchPlan, GpuInfo, GpuProbe, detect_gpu, make_plan
from app.inpainting.masks import dilation_pixels
from app.inpainting.temporal import SEED_RING, load_seeds, save_seeds
from app.media.keyframes import clean_keyframes, kept_keyframes, trim
from app.media.probe import VideoInfo, probe
from app.media.reader import read_at, read_frames
from app.media.writer import EncoderChoice, VideoWriter, choose_encoder, even, transcode, untouched
from app.preview import PreviewSheet
from app.registry import Choice
from app.report import FrameBoxes, Report
from app.stages import Consumer, Producer, StageTimer

Progress = Callable[[int, int], None]


def result_suffix(info: VideoInfo, force_format: str | None) -> str:
    """The result's file suffix: an image in its own format, a video as MP4, unless `force_format`
    (of the input's kind) says otherwise."""
    kind, formats, wrong = (("image", IMAGE_FORMATS, VIDEO_FORMATS) if info.image_suffix is not None
                            else ("video", VIDEO_FORMATS, IMAGE_FORMATS))
    if force_format in wrong:
        raise InputError(f"force_format {force_format} does not fit this {kind}: use one of {', '.join(formats)}")
    return formats[force_format] if force_format else info.output_suffix


@dataclass(frozen=True)
class VideoPart:
    """A file that is one part of a longer video (a split job's child): every frame is cleaned and
    encoded, with IDR frames at `keyframes`, so the lead-in and lead-out from the neighbouring parts
    give tracking, restoration and the encoder their context; the result is then cut down to the frames
    in `keep`. `analysis`: the whole video's detection decision (saved by `analyse`), used instead of
    analysing the part alone; the part's first frame is the video's `first_frame`. `seeds`: the places'
    pictures from before the part (saved by `analyse`), which restoration remembers as a single run would."""

    keep: range
    first_frame: int
    analysis: Path | None = None
    keyframes: tuple[int, ...] = ()
    seeds: Path | None = None


class WatermarkRemovalService:
    """Removes watermarks from one video at a time; backends are chosen per job."""

    def __init__(self, settings: Settings | None = None, gpu: GpuInfo | None = None, probe_gpu: bool = True) -> None:
        self.settings = settings or get_settings()
        found = detect_gpu() if gpu is None and probe_gpu else GpuProbe(gpu)
        self.gpu = found.gpu
        self.device_fallbacks = [f"device: {found.problem}"] if found.problem else []
        if self.gpu is None:
            logger.info("No CUDA GPU detected: running on CPU")

    def clean(self, input_path: str | Path, output_path: str | Path, options: ProcessOptions | None = None,
              progress: Progress | None = None, preview: Path | None = None, info: VideoInfo | None = None,
              part: VideoPart | None = None) -> Report:
        """Clean `input_path` into `output_path`: a still image in its own format, a video as MP4 (with
        the preview picture at `preview` when given). `info` is the file's probe when the caller has
        one already (each file is probed once). `part`: this file is a part of a longer video (a split
        job's child). Raises a `WatermarkRemovalError` on bad input."""
        info = info or probe(input_path)
        options = options or ProcessOptions()
        if info.image_suffix is not None:
            return self._image(info, Path(output_path), options)
        return self._video(info, Path(output_path), options, progress, preview, part)

    def _video(self, info: VideoInfo, output_path: Path, options: ProcessOptions, progress: Progress | None,
               preview: Path | None, part: VideoPart | None = None) -> Report:
        started = time.perf_counter()
        plan = make_plan(self.gpu, self.settings, options)
        logger.info("Input {}x{} @ {:.3f} fps, {} frames, {:.2f}s, codec {}, audio {}",
                    info.width, info.height, info.fps, info.frames, info.duration_s, info.codec, info.audio_codec or "none")
        preference = options.encoder or self.settings.encoder
        encoder = choose_encoder(preference, even(info.width), even(info.height))
        fallbacks = list(self.device_fallbacks)
        if encoder.name == "libx264" and preference != "libx264":
            fallbacks.append(f"encoder: {encoder.reason}")
        try:
            report = self._run(info, output_path, options, plan, encoder, progress, preview, part)
        except EncodeError as exc:
            if encoder.name != "h264_nvenc":
                raise
            logger.warning("NVENC failed mid-encode ({}); encoding the whole video again with libx264", exc)
            fallbacks.append(f"encoder: h264_nvenc failed mid-encode ({exc}); re-encoded with libx264")
            encoder = EncoderChoice("libx264", "fallback after h264_nvenc failed mid-encode")
            report = self._run(info, output_path, options, plan, encoder, progress, preview, part)
        if part is not None:
            trim(output_path, part.keep, output_path.parent)
        report.fallbacks = fallbacks + report.fallbacks
        report.output = probe(output_path)
        report.timings["total"] = round(time.perf_counter() - started, 3)
        logger.info("Done: {} frames, {} with a watermark, timings {}", report.frames_processed,
                    report.watermark_frames, report.timings)
        return report

    def analyse(self, info: VideoInfo, options: ProcessOptions, path: Path, seeds: Path, starts: list[int]) -> bool:
        """Run the detector's pass over the whole video and save its decision at `path`, for the parts
        of a split job, and at `seeds` each place's last picture free of marks before each of the parts'
        `starts`; False when there is no such decision (given regions, a per-frame detector)."""
        if options.regions:
            return False
        detector = choose_detector(self.settings, options, info, make_plan(self.gpu, self.settings, options))
        detector.backend.analyse(info)
        if not detector.backend.save_analysis(path):
            return False
        pad = dilation_pixels(self.settings.mask_dilate_kernel, self.settings.mask_dilate_iterations) + SEED_RING
        save_seeds(seeds, detector.backend.views_before(info, [s for s in starts if s > 0], pad))
        return True

    def _image(self, info: VideoInfo, output_path: Path, options: ProcessOptions) -> Report:
        """A still image through the same detector and inpainter, written in the format of `output_path`."""
        started = time.perf_counter()
        plan = make_plan(self.gpu, self.settings, options)
        image = cv2.imread(info.path, cv2.IMREAD_COLOR)
        if image is None:
            raise InputError(f"cannot decode the image {Path(info.path).name}")
        frame = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        detector = choose_detector(self.settings, options, info, plan)
        inpainter = choose_inpainter(self.settings, options, info, plan)
        dets = detector.backend.detect([frame])[0]
        cleaned = inpainter.backend.inpaint_batch([frame], [dets])[0]
        if not cv2.imwrite(str(output_path), cv2.cvtColor(cleaned, cv2.COLOR_RGB2BGR)):
            raise EncodeError(f"cannot write the image {output_path.name}")
        boxes = [tuple(int(v) for v in d.box) for d in dets]
        return Report(
            input=info, output=probe(output_path), detector=detector.name, detector_reason=detector.reason,
            inpainter=inpainter.name, inpainter_reason=inpainter.reason, encoder="image", encoder_reason="still image",
            device=plan.device, fallbacks=list(self.device_fallbacks), notes=options.notes + list(detector.backend.notes),
            frames_processed=1, watermark_frames=int(bool(boxes)),
            frames=[FrameBoxes(index=0, boxes=boxes)], timings={"total": round(time.perf_counter() - started, 3)},
        )

    def _run(self, info: VideoInfo, output: Path, options: ProcessOptions, plan: BatchPlan, encoder: EncoderChoice,
             progress: Progress | None, preview: Path | None, part: VideoPart | None = None) -> Report:
        s = self.settings
        detector = choose_detector(s, options, info, plan)
        inpainter = choose_inpainter(s, options, info, plan)
        segment_frames, inpaint_batch = plan.segment_frames, plan.inpaint_batch
        report = Report(
            input=info, detector=detector.name, detector_reason=detector.reason, inpainter=inpainter.name,
            inpainter_reason=inpainter.reason, encoder=encoder.name, encoder_reason=encoder.reason,
            device=plan.device,
            batch_plan={k: v for k, v in plan.describe().items() if isinstance(v, int) and not isinstance(v, bool)},
            mask_dilation_px=dilation_pixels(s.mask_dilate_kernel, s.mask_dilate_iterations),
        )
        logger.info("Batch plan on {}: {}", plan.device, plan.describe())
        logger.info("Detector: {} ({}); inpainter: {} ({}); encoder: {} ({})",
                    detector.name, detector.reason, inpainter.name, inpainter.reason, encoder.name, encoder.reason)
        params = TrackParams(
            look_back=s.track_look_back_frames, look_ahead=round(s.track_look_ahead_seconds * info.fps),
            position_threshold=s.track_position_threshold, max_gap=s.track_max_gap, min_frames=s.track_min_frames,
        )
        tracker = StreamingTracker(info.width, info.height, params)
        timer = StageTimer()
        with timer.measure("analyse"):
            if part is not None and part.analysis is not None:
                detector.backend.load_analysis(part.analysis, part.first_frame)
            else:
                detector.backend.analyse(info)
            seeds = (load_seeds(part.seeds, part.first_frame, info.width, info.height)
                     if part is not None and part.seeds is not None else [])
            inpainter.backend.expect(detector.backend.places, seeds)
        if part is None and detector.backend.finds_nothing and info.width % 2 == 0 and info.height % 2 == 0:
            return self._straight(info, output, encoder, report, timer, preview, progress, options, detector, inpainter)
        keyframes = sorted({*part.keyframes, part.keep.start, part.keep.stop}) if part is not None else _source_keyframes(info)
        writer = VideoWriter(output, info, encoder, keyframes)
        sheet = PreviewSheet(info.frames) if preview is not None else None
        places = detector.backend.places if detector.backend.only_places else []
        regions = inpainter.backend.footprint(places) if places else None
        reader = Producer(read_frames(info, regions, sheet.picks if sheet is not None else ()), s.queue_frames, timer, "decode")
        encode = Consumer(writer.write, s.queue_frames, timer, "encode")
        pipeline = _Loop(detector, inpainter, tracker, encode, timer, report, inpaint_batch, info.frames, progress,
                         use_tracking=not options.regions and not detector.backend.tracked,
                         sheet=sheet, keep=part.keep if part is not None else None)
        try:
            segment: list[np.ndarray] = []
            for frame in reader:
                segment.append(frame)
                if len(segment) >= segment_frames:
                    pipeline.segment(segment)
                    segment = []
            pipeline.segment(segment, final=True)
            encode.close()
            writer.close()
        except BaseException:
            reader.stop()
            writer.abort()
            try:
                encode.close()
            except Exception:  # noqa: BLE001 - the first error is the one to report
                pass
            raise
        if sheet is not None and preview is not None:
            sheet.save(preview)
        return _finished(report, options, detector, inpainter, timer)

    @staticmethod
    def _straight(info: VideoInfo, output: Path, encoder: EncoderChoice, report: Report, timer: StageTimer,
                  preview: Path | None, progress: Progress | None, options: ProcessOptions, detector: Choice,
                  inpainter: Choice) -> Report:
        """A video the analysis found no mark in (even-sized: odd edges are the streaming encoder's to pad):
        one ffmpeg run copies its H.264 stream when it can (`untouched`), else re-encodes it with its frames
        untouched (no RGB round trip, no Python in the frame path); the preview shows a few of its frames."""
        tick = (lambda done: progress(done, info.frames)) if progress else None
        copy = untouched(info)
        with timer.measure("encode"):
            if copy is not None:
                logger.info("No mark found: copying the video stream as it is")
                try:
                    transcode(info, output, copy, tick)
                    report.encoder, report.encoder_reason = copy.name, copy.reason
                except EncodeError as exc:
                    logger.warning("Copying the stream failed ({}): re-encoding it", exc)
                    report.fallbacks.append(f"encoder: copying the unmarked video failed ({exc}); re-encoded")
                    copy = None
            if copy is None:
                logger.info("No mark found: encoding the video straight through, frames untouched")
                transcode(info, output, encoder, tick)
        if preview is not None:
            sheet = PreviewSheet(info.frames)
            for index, frame in read_at(info, sheet.picks):
                sheet.add(index, frame, [], frame)
            sheet.save(preview)
        report.frames_processed = info.frames
        report.frames = [FrameBoxes(index=i, boxes=[]) for i in range(info.frames)]
        return _finished(report, options, detector, inpainter, timer)


def _source_keyframes(info: VideoInfo) -> list[int]:
    """The frames the result gets IDR frames at (`app.media.keyframes`); none when the source's packets
    cannot say (the encoder then places its own)."""
    try:
        return kept_keyframes(clean_keyframes(Path(info.path))[1], info.fps)
    except (InputError, EncodeError) as exc:
        logger.warning("Keyframes: the source's cannot be read ({}); the encoder places its own IDR frames", exc)
        return []


def _finished(report: Report, options: ProcessOptions, detector: Choice, inpainter: Choice, timer: StageTimer) -> Report:
    """The report of a run, with what the backends noted, fell back to and restored, and the timings."""
    report.notes = options.notes + list(detector.backend.notes)
    report.fallbacks += detector.backend.fallbacks + inpainter.backend.fallbacks
    report.restored_pixels = dict(inpainter.backend.pixels)
    report.multiscale = detector.backend.multiscale
    for note in report.notes:
        logger.warning("Detector: {}", note)
    report.timings = timer.rounded()
    return report


class _Loop:
    """The detect -> track -> inpaint part, fed one segment at a time."""

    def __init__(self, detector: Choice, inpainter: Choice, tracker: StreamingTracker, encode: Consumer,
                 timer: StageTimer, report: Report, inpaint_batch: int, total: int, progress: Progress | None,
                 use_tracking: bool, sheet: PreviewSheet | None = None, keep: range | None = None) -> None:
        self.detector, self.inpainter, self.tracker = detector.backend, inpainter.backend, tracker
        self.encode, self.timer, self.report = encode, timer, report
        self.inpaint_batch, self.total, self.progress = inpaint_batch, total, progress
        self.use_tracking = use_tracking
        self.sheet = sheet
        self.keep = keep
        self.pending: deque[np.ndarray] = deque()

    def segment(self, frames: list[np.ndarray], final: bool = False) -> None:
        start = time.perf_counter()
        raw = self.detector.detect(frames) if frames else []
        self.timer.add("detect", time.perf_counter() - start)
        self.pending.extend(frames)
        start = time.perf_counter()
        self.inpainter.observe(frames, raw)
        self.timer.add("inpaint", time.perf_counter() - start)
        start = time.perf_counter()
        if self.use_tracking:
            ready = list(self.tracker.push(raw)) + (list(self.tracker.finish()) if final else [])
        else:
            ready = list(enumerate(raw, start=self.report.frames_processed))
        self.timer.add("track", time.perf_counter() - start)
        for i in range(0, len(ready), self.inpaint_batch):
            self._inpaint([dets for _, dets in ready[i : i + self.inpaint_batch]])

    def _inpaint(self, dets: list[list[Detection]]) -> None:
        frames = [self.pending.popleft() for _ in dets]
        first = self.report.frames_processed
        originals = {k: f.copy() for k, f in enumerate(frames) if self.sheet is not None and self.sheet.wants(first + k)}
        start = time.perf_counter()
        cleaned = self.inpainter.inpaint_batch(frames, dets)
        self.timer.add("inpaint", time.perf_counter() - start)
        for k, (frame, frame_dets) in enumerate(zip(cleaned, dets, strict=True)):
            if self.sheet is not None and k in originals:
                self.sheet.add(first + k, originals[k], frame_dets, frame)
            index = self.report.frames_processed
            self.report.frames_processed += 1
            if self.keep is None or index in self.keep:
                boxes = [tuple(int(v) for v in d.box) for d in frame_dets]
                self.report.frames.append(FrameBoxes(index=index, boxes=boxes))
                self.report.watermark_frames += bool(boxes)
            self.encode.put(frame)
        if self.progress is not None:
            self.progress(self.report.frames_processed, self.total)
