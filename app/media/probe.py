"""ffprobe wrapper: the facts about a video the pipeline needs before decoding."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

from pydantic import BaseModel

from app.errors import InputError
from app.media.process import INPUT_FENCE

PROBE_TIMEOUT_S = 120
# Still images come back in their own format: by their codec, whether ffmpeg read them as a pipe
# format (content-probed) or with image2 (by the file's extension).
IMAGE_FORMATS = {"png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "image2"}
IMAGE_SUFFIXES = {"png": ".png", "mjpeg": ".jpg", "webp": ".webp", "bmp": ".bmp"}


class VideoInfo(BaseModel):
    """A probed video. `width`/`height` are the displayed size (rotation applied)."""

    path: str
    width: int
    height: int
    coded_width: int
    coded_height: int
    fps: float
    fps_rational: str
    frames: int
    duration_s: float
    rotation: int
    pix_fmt: str
    codec: str
    has_audio: bool
    audio_codec: str | None = None
    format_name: str = ""

    @property
    def image_suffix(self) -> str | None:
        """The file suffix of a still image (cleaned in its own format), None for a video."""
        return IMAGE_SUFFIXES.get(self.codec) if self.format_name in IMAGE_FORMATS else None

    @property
    def output_suffix(self) -> str:
        return self.image_suffix or ".mp4"


def _run_probe(args: list[str], path: Path) -> dict:
    try:
        done = subprocess.run(
            ["ffprobe", "-v", "error", *INPUT_FENCE, "-of", "json", *args, str(path)],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        raise InputError(f"ffprobe timed out after {PROBE_TIMEOUT_S}s reading {path.name}") from exc
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise InputError(f"not a readable video ({path.name}): {reason}")
    return json.loads(done.stdout or "{}")


def _rotation(stream: dict) -> int:
    """Display rotation in degrees (0, 90, 180, 270) from the display matrix or the old tag."""
    for side in stream.get("side_data_list", []) or []:
        if "rotation" in side:
            return int(round(-float(side["rotation"]))) % 360
    tag = (stream.get("tags") or {}).get("rotate")
    return int(tag) % 360 if tag else 0


def _fps(stream: dict) -> Fraction:
    """Average frame rate, falling back to the base rate when the average is unknown."""
    for key in ("avg_frame_rate", "r_frame_rate"):
        num, _, den = (stream.get(key) or "0/0").partition("/")
        if den and int(den) != 0 and int(num) != 0:
            return Fraction(int(num), int(den))
    return Fraction(0)


def count_frames(path: Path) -> int:
    """Count video packets by demuxing (no decode): the truth when headers lie."""
    data = _run_probe(["-select_streams", "v:0", "-count_packets", "-show_entries", "stream=nb_read_packets"], path)
    streams = data.get("streams") or [{}]
    return int(streams[0].get("nb_read_packets") or 0)


def probe(path: str | Path) -> VideoInfo:
    """Probe `path`; raise `InputError` with a specific reason when it is not a usable video."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input file not found: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"input file is empty (0 bytes): {path.name}")
    data = _run_probe(["-show_streams", "-show_format"], path)
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video" and not _is_cover_art(s)), None)
    if video is None:
        raise InputError(f"no video stream in {path.name}")
    if not video.get("codec_name") or video.get("codec_name") == "unknown":
        tag = video.get("codec_tag_string") or "?"
        raise InputError(f"unsupported video codec (tag '{tag}') in {path.name}: no decoder for it")
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    fmt = data.get("format", {})
    fps = _fps(video)
    if fps <= 0:
        raise InputError(f"cannot determine the frame rate of {path.name}")
    duration = float(video.get("duration") or fmt.get("duration") or 0.0)
    frames = int(video.get("nb_frames") or 0)
    if frames <= 0 or (duration > 0 and abs(frames - duration * fps) > max(2.0, 0.02 * frames)):
        frames = count_frames(path)
    if frames <= 0:
        raise InputError(f"no decodable video frames in {path.name}")
    if duration <= 0:
        duration = float(frames / fps)
    rotation = _rotation(video)
    coded_w, coded_h = int(video.get("width") or 0), int(video.get("height") or 0)
    if coded_w <= 0 or coded_h <= 0:
        raise InputError(f"video stream of {path.name} has no frame size")
    width, height = (coded_h, coded_w) if rotation in (90, 270) else (coded_w, coded_h)
    return VideoInfo(
        path=str(path),
        width=width,
        height=height,
        coded_width=coded_w,
        coded_height=coded_h,
        fps=float(fps),
        fps_rational=f"{fps.numerator}/{fps.denominator}",
        frames=frames,
        duration_s=duration,
        rotation=rotation,
        pix_fmt=str(video.get("pix_fmt") or ""),
        codec=str(video.get("codec_name") or ""),
        has_audio=audio is not None,
        audio_codec=(audio or {}).get("codec_name"),
        format_name=str(fmt.get("format_name") or ""),
    )


def _is_cover_art(stream: dict) -> bool:
    return bool((stream.get("disposition") or {}).get("attached_pic"))
