"""Streaming encoder: RGB frames piped into ffmpeg, NVENC first, libx264 as the fallback.

Frames go down the pipe as yuv420p, made in the encode thread: a decoded `Frame` sends its own planes
with only the boxes the restorer painted converted back (`i420`), so pixels the pipeline left alone
reach the encoder exactly as decoded, and ffmpeg spends no CPU on RGB (its accurate conversion cost a
fifth of a 720p encode).

The source's audio is muxed in the same ffmpeg run, copied when MP4 can carry the
codec and re-encoded to AAC otherwise.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np
from loguru import logger

from app.config import EncoderName
from app.errors import EncodeError
from app.media.keyframes import force_args
from app.media.probe import VideoInfo
from app.media.reader import Frame
from app.media.process import INPUT_FENCE, SWS_FLAGS, spawn

NVENC_ARGS = [
    "-c:v", "h264_nvenc", "-preset", "p4", "-tune", "hq", "-rc", "vbr", "-cq", "16", "-b:v", "0",
    "-multipass", "fullres", "-spatial-aq", "1", "-temporal-aq", "1", "-forced-idr", "1",
]
CPUS = len(os.sched_getaffinity(0))
# x264's frame threads: three per core, not its default one and a half. On 2 cores a bare 720p encode
# ran 10.3-10.7 s against 11.8-12.1 s (`-threads 6` against the default 3, interleaved), and more of
# them keep the encoder's share of the cores while the decoder and the restorer compete for them.
X264_THREADS = min(3 * CPUS, 32)
X264_ARGS = ["-c:v", "libx264", "-preset", "slow", "-crf", "16", "-tune", "film", "-threads", str(X264_THREADS)]
FASTSTART = ["-movflags", "+faststart"]
COMMON_ARGS = ["-pix_fmt", "yuv420p", *FASTSTART]
MP4_AUDIO_CODECS = {"aac", "mp3", "ac3", "eac3", "opus", "alac", "flac"}
# The containers a video result can be written in, by the output's suffix (anything else: MP4).
MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov"}


def with_source_audio(source: VideoInfo) -> list[str]:
    """ffmpeg arguments, after the video input (input 0), that map its video and the source's audio into
    the result: copied when MP4 can carry it, else AAC; the video alone when the source has no audio."""
    if not source.has_audio:
        return ["-map", "0:v:0"]
    codec = ["-c:a", "copy"] if source.audio_codec in MP4_AUDIO_CODECS else ["-c:a", "aac", "-b:a", "192k"]
    return [*INPUT_FENCE, "-i", source.path, "-map", "0:v:0", "-map", "1:a?", *codec]


@dataclass(frozen=True)
class EncoderChoice:
    """Which encoder runs and why (reported to the caller)."""

    name: str
    reason: str


@lru_cache(maxsize=16)
def nvenc_check(width: int, height: int) -> str | None:
    """Encode one black frame with NVENC at this size; None when it works, else the reason.

    NVENC fails at start-up when there is no NVIDIA device or driver, or the size is outside
    its limits; a one-frame trial run tells before any real frame is sent.
    """
    args = [
        "ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", f"color=black:s={width}x{height}:r=1",
        "-frames:v", "1", *NVENC_ARGS, *COMMON_ARGS[:2], "-f", "null", "-",
    ]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"h264_nvenc trial failed: {exc}"
    if done.returncode == 0:
        return None
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return "h264_nvenc unavailable: " + (lines[0] if lines else f"ffmpeg exit {done.returncode}")


def choose_encoder(preference: EncoderName, width: int, height: int) -> EncoderChoice:
    """NVENC when asked for (or auto) and it works at this size, else libx264 with the reason."""
    if preference == "libx264":
        return EncoderChoice("libx264", "libx264 requested")
    failure = nvenc_check(width, height)
    if failure is None:
        return EncoderChoice("h264_nvenc", "NVENC trial encode succeeded")
    logger.warning("Encoder fallback: {} -> using libx264", failure)
    return EncoderChoice("libx264", failure)


# BT.601 limited-range chroma rows, as OpenCV's I420 conversion has them (Y' scaled by 224/255 about 128).
_CHROMA = np.array([[-0.168736, -0.331264, 0.5, 0.0], [0.5, -0.418688, -0.081312, 0.0]], np.float32) * 224 / 255
_CHROMA[:, 3] = 128.0


def i420(frame: np.ndarray) -> np.ndarray:
    """An even-sized RGB frame as yuv420p planes, (h * 3 / 2, w) uint8. OpenCV's conversion takes each
    2x2 block's chroma from its top-left pixel alone, which aliases restored pixels' colour (1.3-2.4 dB
    inside marks on the validation clips); here the chroma is that of the block's mean. For painted
    boxes, and for frames without their decoded planes (odd sizes, padded)."""
    h, w = frame.shape[:2]
    planes = cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420)
    chroma = cv2.transform(cv2.resize(frame, (w // 2, h // 2), interpolation=cv2.INTER_AREA), _CHROMA)
    halves = planes[h:].reshape(2, h // 2, w // 2)
    halves[0], halves[1] = chroma[:, :, 0], chroma[:, :, 1]
    return planes


def _repainted(frame: Frame) -> np.ndarray:
    """A decoded frame's own yuv420p planes with the boxes painted into it converted from its RGB, each
    widened to even edges (a chroma sample covers 2x2 pixels)."""
    assert frame.planes is not None
    planes = frame.planes
    h, w = frame.shape[:2]
    chroma = planes[h:].reshape(2, h // 2, w // 2)
    for x1, y1, x2, y2 in frame.painted:
        x1, y1, x2, y2 = x1 - x1 % 2, y1 - y1 % 2, min(w, x2 + x2 % 2), min(h, y2 + y2 % 2)
        if x2 <= x1 or y2 <= y1:
            continue
        patch = i420(np.ascontiguousarray(frame[y1:y2, x1:x2]))
        planes[y1:y2, x1:x2] = patch[: y2 - y1]
        chroma[:, y1 // 2 : y2 // 2, x1 // 2 : x2 // 2] = patch[y2 - y1 :].reshape(2, (y2 - y1) // 2, (x2 - x1) // 2)
    return planes


def even(value: int) -> int:
    return value + (value % 2)


COPY = "copy"  # the encoder name of a video whose stream goes into the result as it is


def untouched(source: VideoInfo) -> EncoderChoice | None:
    """For a video with nothing to remove: its H.264 stream copied into the result, when it already is
    what a cleaned video is (H.264, yuv420p, in MP4/MOV, no rotation to apply); None when it must be
    encoded. A clean video then comes back bit for bit, in the time a remux takes."""
    if (source.codec, source.pix_fmt, source.rotation) == ("h264", "yuv420p", 0) and "mp4" in source.format_name.split(","):
        return EncoderChoice(COPY, "no mark found: the source's H.264 stream is copied as it is, not re-encoded")
    return None


def _result_args(source: VideoInfo, encoder: EncoderChoice, output: Path, video: tuple[str, ...] = ()) -> list[str]:
    """ffmpeg arguments after the video input: the source's audio, output options for the video
    (`video`), the encoder, the container, `output`."""
    codec_args = {"h264_nvenc": NVENC_ARGS, COPY: ["-c:v", "copy"]}.get(encoder.name, X264_ARGS)
    pixels = FASTSTART if encoder.name == COPY else ["-sws_flags", SWS_FLAGS, *COMMON_ARGS]
    output.parent.mkdir(parents=True, exist_ok=True)
    return [*with_source_audio(source), *video, *codec_args, *pixels, "-f", MUXERS.get(output.suffix.lower(), "mp4"),
            str(output)]


def transcode(source: VideoInfo, output: Path, encoder: EncoderChoice,
              progress: Callable[[int], None] | None = None) -> None:
    """Put the source's frames unchanged into `output` in one ffmpeg run, with the same audio and
    container as a cleaned video (and, like it, without the source's metadata tags): encoded on the same
    constant-rate timeline with the same encoder, or copied when `encoder` is `untouched`'s. For a video
    with no mark, whose frames need no trip through Python. `progress` gets the count of frames done as
    ffmpeg reports it. Raises `EncodeError` with ffmpeg's words. Even sizes only (a cleaned video's odd
    edge is padded by repeating it)."""
    timeline = () if encoder.name == COPY else ("-fps_mode", "cfr", "-r", source.fps_rational, "-frames:v", str(source.frames))
    video = (*timeline, "-map_metadata", "-1")
    args = ["ffmpeg", "-nostdin", "-y", "-v", "error", "-nostats", "-progress", "pipe:1", *INPUT_FENCE,
            "-i", source.path, *_result_args(source, encoder, output, video)]
    proc, tail = spawn(args, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            key, _, value = line.decode("ascii", "replace").strip().partition("=")
            if progress is not None and key == "frame" and value.isdigit():
                progress(int(value))
        code = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        output.unlink(missing_ok=True)
        raise
    if code != 0:
        output.unlink(missing_ok=True)
        raise EncodeError(f"{encoder.name} failed (exit {code}): {tail.text()}")


class VideoWriter:
    """Context manager that encodes frames written to it; `close()` raises `EncodeError` on failure."""

    def __init__(self, output: Path, source: VideoInfo, encoder: EncoderChoice, keyframes: Sequence[int] = ()) -> None:
        """`keyframes`: frames (counted from the first written) to encode as IDR frames."""
        self.output = Path(output)
        self.source = source
        self.encoder = encoder
        self.width, self.height = source.width, source.height
        self.out_width, self.out_height = even(self.width), even(self.height)
        self.frames_written = 0
        args = [
            "ffmpeg", "-nostdin", "-y", "-v", "error",
            "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{self.out_width}x{self.out_height}",
            "-r", source.fps_rational, "-i", "pipe:0",
            *_result_args(source, encoder, self.output, tuple(force_args(keyframes, source.fps_rational))),
        ]
        self._proc, self._tail = spawn(args, stdin=subprocess.PIPE)

    def write(self, frame: np.ndarray) -> None:
        """Send one (H, W, 3) RGB frame; odd sizes are padded by repeating the last row/column."""
        if isinstance(frame, Frame) and frame.planes is not None:
            planes = _repainted(frame)
        else:
            pad_h, pad_w = self.out_height - frame.shape[0], self.out_width - frame.shape[1]
            if pad_h or pad_w:
                frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
            planes = i420(np.ascontiguousarray(frame, dtype=np.uint8))
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(memoryview(planes).cast("B"))
        except (BrokenPipeError, OSError) as exc:
            self._proc.wait()
            raise EncodeError(f"{self.encoder.name} stopped after {self.frames_written} frames: {self._tail.text()}") from exc
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file; raise `EncodeError` with ffmpeg's words when it failed."""
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        code = self._proc.wait()
        if code != 0:
            raise EncodeError(f"{self.encoder.name} failed (exit {code}): {self._tail.text()}")

    def abort(self) -> None:
        """Stop ffmpeg and delete the partial output."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self.output.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
