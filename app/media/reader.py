"""Streaming decoder: RGB uint8 frames from an ffmpeg rawvideo pipe, rotation applied.

The streamed frames cross the pipe as yuv420p (half the bytes of RGB) and become RGB in the decode
thread (`rgb`): swscale's accurate RGB conversion cost as much CPU as a fifth of the whole encode at
720p. Each keeps its decoded planes (`Frame`), so the writer (`app.media.writer`) sends the pixels
the pipeline left alone back exactly as decoded. Odd sizes, which yuv420p cannot hold as OpenCV
reads it, and the analysis's scaled samples come as rgb24."""

from __future__ import annotations

import mmap
import subprocess
from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO

import cv2
import numpy as np
from loguru import logger

from app.detection.types import Box
from app.errors import InputError
from app.media.probe import VideoInfo
from app.media.process import INPUT_FENCE, SWS_FLAGS, spawn


def _fill(stream: BinaryIO, view: memoryview) -> bool:
    """Read exactly len(view) bytes into `view`; False at the end of the stream."""
    done = 0
    while done < len(view):
        got = stream.readinto(view[done:])
        if not got:
            return False
        done += got
    return True


# BT.601 limited range to RGB, as OpenCV's I420 conversion has it: (Y, U, V, 1) -> R, G, B.
_RGB = np.array([[1.164, 0.0, 1.596], [1.164, -0.392, -0.813], [1.164, 2.017, 0.0]], np.float32)
_RGB = np.concatenate([_RGB, -(_RGB @ np.array([16.0, 128.0, 128.0], np.float32))[:, None]], axis=1)


def _blank(shape: tuple[int, int, int]) -> np.ndarray:
    """A zeroed uint8 array on fresh pages from the kernel, which are zero-filled only where written.
    Why not np.zeros: glibc serves a freed frame's size from its heap after the first one and zeroes it
    all, which cost 5.6 ms a 1080p frame beside x264 (of which a region conversion writes a few %)."""
    return np.frombuffer(mmap.mmap(-1, int(np.prod(shape))), np.uint8).reshape(shape)


def rgb(planes: np.ndarray, regions: Sequence[Box] | None = None) -> np.ndarray:
    """yuv420p planes, (h * 3 / 2, w) uint8, as an RGB frame with the chroma interpolated (bilinear).
    OpenCV's I420 conversion repeats each chroma sample over its 2x2 block, and restoring from those
    blocky colours cost up to 2.4 dB inside marks on the validation clips.

    `regions`: convert only these boxes (the same pixels, to the bit: each is converted with two chroma
    samples of context, which the bilinear interpolation reaches at most one of); the rest stays black."""
    h, w = planes.shape[0] * 2 // 3, planes.shape[1]
    halves = planes[h:].reshape(2, h // 2, w // 2)
    if regions is None:
        u, v = (cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in halves)
        return cv2.transform(cv2.merge([planes[:h], u, v]), _RGB)
    out = _blank((h, w, 3))
    for x1, y1, x2, y2 in regions:
        cx1, cy1 = max(0, x1 // 2 - 2), max(0, y1 // 2 - 2)
        cx2, cy2 = min(w // 2, (x2 + 1) // 2 + 2), min(h // 2, (y2 + 1) // 2 + 2)
        size = (2 * (cx2 - cx1), 2 * (cy2 - cy1))
        u, v = (cv2.resize(c[cy1:cy2, cx1:cx2], size, interpolation=cv2.INTER_LINEAR) for c in halves)
        part = cv2.transform(cv2.merge([planes[2 * cy1 : 2 * cy2, 2 * cx1 : 2 * cx2], u, v]), _RGB)
        out[y1:y2, x1:x2] = part[y1 - 2 * cy1 : y2 - 2 * cy1, x1 - 2 * cx1 : x2 - 2 * cx1]
    return out


class Frame(np.ndarray):
    """An RGB frame that keeps the yuv420p planes it was decoded from (`planes`) and the boxes painted
    into it since (`painted`, appended by the restorer's paster): the encoder sends the decoded pixels
    back as they were and converts only the painted boxes, so the RGB round trip costs nothing outside
    the marks, neither in quality nor in time. Views and copies are plain frames again (no planes)."""

    planes: np.ndarray | None
    painted: list[tuple[int, int, int, int]]

    def __array_finalize__(self, obj: object) -> None:
        self.planes, self.painted = None, []


def decoded(planes: np.ndarray, regions: Sequence[Box] | None = None) -> Frame:
    """The RGB frame of yuv420p `planes` (only in `regions` when given), which it keeps: the caller
    hands them over."""
    frame = rgb(planes, regions).view(Frame)
    frame.planes = planes
    return frame


def _pipe(args: list[str], width: int, height: int, codec: str, planar: bool = False,
          regions: Callable[[int], Sequence[Box] | None] = lambda index: None) -> Iterator[np.ndarray]:
    """Frames of `width` x `height` from ffmpeg `args` (input options and filters, no output) as RGB;
    the OS pipe is the only buffer, so memory stays at one frame here. Each frame is its own writable
    array: the restorer pastes into it in place. `planar`: ffmpeg sends yuv420p and the frames are
    `Frame`s (even sizes only); else ffmpeg converts to rgb24 itself, which a frame scaled down in the
    same filter graph needs (yuv420p at the small size would halve its chroma: a half-transparent
    logo's colour edges are what the analysis goes by). `regions(i)`: where frame i needs RGB (planar
    only; None: everywhere)."""
    pixels = ["-sws_flags", SWS_FLAGS, "-f", "rawvideo", "-pix_fmt", "yuv420p" if planar else "rgb24", "pipe:1"]
    proc, tail = spawn([*args, *pixels], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    shape = (height * 3 // 2, width) if planar else (height, width, 3)
    count = 0
    try:
        while _fill(proc.stdout, memoryview(raw := np.empty(shape, np.uint8)).cast("B")):
            count += 1
            yield decoded(raw, regions(count - 1)) if planar else raw
    finally:
        proc.stdout.close()
        if proc.poll() is None:
            proc.kill()
        code = proc.wait()
    if code != 0 and count == 0:
        raise InputError(f"could not decode {codec} video: {tail.last() or f'ffmpeg exit {code}'}")
    if count == 0:
        raise InputError("the video has no decodable frames")


def read_frames(info: VideoInfo, regions: Sequence[Box] | None = None, whole: Sequence[int] = ()) -> Iterator[np.ndarray]:
    """Yield every decoded frame of `info.path` as an (H, W, 3) RGB array.

    ffmpeg applies the display rotation (autorotate) so frames come out at
    `info.width` x `info.height`. Frames come at a constant `info.fps`: a variable-rate
    source, or an AVI with empty "repeat" packets, keeps its duration.
    `regions`: the only boxes the pipeline will look at or paint (marks decided before streaming), where
    an even-sized frame gets its RGB (black elsewhere; the encoder sends the rest as decoded), except
    the frames numbered in `whole`: a full-size RGB conversion cost 7 ms a 1080p frame.
    """
    picks = set(whole)
    args = [
        "ffmpeg", "-nostdin", "-v", "error", *INPUT_FENCE, "-i", info.path,
        "-map", "0:v:0", "-an", "-sn", "-dn", "-fps_mode", "cfr", "-r", info.fps_rational, "-frames:v", str(info.frames),
    ]
    yield from _pipe(args, info.width, info.height, info.codec, planar=info.width % 2 == 0 and info.height % 2 == 0,
                     regions=lambda index: None if index in picks else regions)


def read_samples(info: VideoInfo, every: int, width: int, height: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (frame index, RGB frame at width x height) for every `every`-th frame, for analysis.

    The same constant-rate timeline as `read_frames`, so indices match the frames it yields; only the
    picked frames are scaled and piped, which keeps a whole-video analysis pass cheap.
    """
    args = [
        "ffmpeg", "-nostdin", "-v", "error", *INPUT_FENCE, "-i", info.path, "-map", "0:v:0", "-an", "-sn", "-dn",
        "-vf", f"fps={info.fps_rational},select=not(mod(n\\,{every})),scale={width}:{height}:flags=area",
        "-fps_mode", "passthrough", "-frames:v", str(-(-info.frames // every)),
    ]
    for count, frame in enumerate(_pipe(args, width, height, info.codec)):
        yield count * every, frame


def read_at(info: VideoInfo, indices: list[int]) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (frame index, full-size RGB frame) for the frames at `indices` alone, each decoded from the
    keyframe before it (input seeking): a few frames of a video that is not streamed cost a few GOPs,
    not a decode of the whole video. Frame i is the first shown at or after (i - 0.5) / fps: on a
    constant-rate source, the one `read_frames` yields as frame i, with the same pixels (after a gap in
    a variable-rate source's timestamps, a later one). A frame that cannot be decoded is left out
    (logged); an `InputError` when none can."""
    planar = info.width % 2 == 0 and info.height % 2 == 0  # RGB as `read_frames` makes it, to the bit
    failed: InputError | None = None
    got = 0
    for index in sorted(set(indices)):
        at = max(0.0, (index - 0.5) / info.fps)  # input seeking drops the frames before `at`: frame i is first
        args = ["ffmpeg", "-nostdin", "-v", "error", *INPUT_FENCE, "-ss", f"{at:.6f}", "-i", info.path,
                "-map", "0:v:0", "-an", "-sn", "-dn", "-frames:v", "1"]
        try:
            for frame in _pipe(args, info.width, info.height, info.codec, planar):
                got += 1
                yield index, frame
        except InputError as exc:
            logger.warning("Frame {} could not be decoded on its own ({}): left out", index, exc)
            failed = exc
    if failed is not None and not got:
        raise failed
