"""Running ffmpeg as a child process while keeping the tail of its stderr for error messages."""

from __future__ import annotations

import fcntl
import subprocess
import threading
from collections import deque
from typing import IO

from app.errors import EncodeError

# YUV <-> RGB conversions on the way in and out: swscale's defaults (bilinear chroma, fast rounding)
# cost about 2 dB PSNR over the whole frame on a round trip; these cost 0.05 dB (measured on real footage).
SWS_FLAGS = "bicubic+accurate_rnd+full_chroma_int"

# ffmpeg opens a job's file only as one of the containers and image formats the worker accepts, and
# only from the file itself: a playlist (HLS), a concat list or any format that opens other files or
# URLs is refused when probed, whatever the file is named and whatever ffmpeg's defaults are.
# (image2 reads one file unless its name holds a "%d" sequence; job files are renamed without "%".)
DEMUXERS = ("mov", "matroska", "avi", "flv", "mpegts", "mpeg", "ogg", "asf", "gif", "h264", "hevc", "mjpeg",
            "image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe")
INPUT_FENCE = ["-protocol_whitelist", "file,pipe", "-format_whitelist", ",".join(DEMUXERS)]


class StderrTail:
    """Drains a child's stderr in a thread (so the pipe never blocks it) and keeps the last lines."""

    def __init__(self, stream: IO[bytes], keep: int = 20) -> None:
        self._lines: deque[str] = deque(maxlen=keep)
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").strip()
            if line:
                self._lines.append(line)
        stream.close()

    def text(self) -> str:
        """The kept lines, joined; waits briefly for the drain thread to finish."""
        self._thread.join(timeout=5)
        return " | ".join(self._lines)

    def last(self) -> str:
        self._thread.join(timeout=5)
        return self._lines[-1] if self._lines else ""


PIPE_BYTES = 1 << 20  # Linux's default ceiling for an unprivileged pipe (/proc/sys/fs/pipe-max-size)


def _widen(pipe: IO[bytes]) -> None:
    """Give a frame pipe 1 MiB of buffer instead of 64 KiB: a 720p frame then crosses in two reads, not
    twenty-one, each a wake-up of both processes (measured: several seconds of system time a minute)."""
    try:
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except OSError:  # a lower ceiling set by the host: the default size still works
        pass


def run(args: list[str], what: str, timeout: float) -> str:
    """Run ffmpeg or ffprobe to the end; its stdout, or an `EncodeError` naming `what` with ffmpeg's words."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise EncodeError(f"{what}: ffmpeg took over {timeout:.0f}s") from exc
    if done.returncode != 0:
        raise EncodeError(f"{what} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def spawn(args: list[str], stdin: int | None = None, stdout: int | None = None) -> tuple[subprocess.Popen, StderrTail]:
    """Start `args` with stderr drained into a `StderrTail`."""
    proc = subprocess.Popen(args, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            _widen(pipe)
    return proc, StderrTail(proc.stderr)
