"""Streaming decoder: RGB uint8 frames from an ffmpeg rawvideo pipe, rotation applied."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import numpy as np

from app.errors import InputError
from app.media.probe import VideoInfo
from app.media.process import SWS_FLAGS, spawn


def read_frames(info: VideoInfo) -> Iterator[np.ndarray]:
    """Yield every decoded frame of `info.path` as an (H, W, 3) RGB array.

    ffmpeg applies the display rotation (autorotate) so frames come out at
    `info.width` x `info.height`. Frames come at a constant `info.fps`: a variable-rate
    source, or an AVI with empty "repeat" packets, keeps its duration. The OS pipe is the only buffer, so memory stays at one frame here.
    """
    args = [
        "ffmpeg", "-nostdin", "-v", "error", "-i", info.path,
        "-map", "0:v:0", "-an", "-sn", "-dn", "-fps_mode", "cfr", "-r", info.fps_rational, "-frames:v", str(info.frames),
        "-sws_flags", SWS_FLAGS, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
    ]
    proc, tail = spawn(args, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    frame_bytes = info.width * info.height * 3
    count = 0
    try:
        while True:
            buf = proc.stdout.read(frame_bytes)
            if len(buf) < frame_bytes:
                break
            count += 1
            yield np.frombuffer(buf, np.uint8).reshape(info.height, info.width, 3)
    finally:
        proc.stdout.close()
        if proc.poll() is None:
            proc.kill()
        code = proc.wait()
    if code != 0 and count == 0:
        raise InputError(f"could not decode {info.codec} video: {tail.last() or f'ffmpeg exit {code}'}")
    if count == 0:
        raise InputError("the video has no decodable frames")
