"""The split's ffmpeg work, all stream copy: cut the source into the parts' segments, join the
cleaned parts and put the source's audio back over the whole video."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from app.errors import InputError
from app.media.keyframes import segment
from app.media.probe import VideoInfo, count_frames
from app.media.process import run
from app.media.writer import COMMON_ARGS, FASTSTART, MUXERS, X264_ARGS, with_source_audio
from app.split.plan import Part, cut_points

FFMPEG_TIMEOUT_S = 1800


def _concat(pieces: list[Path], frames: list[int], fps: Fraction, workdir: Path, name: str) -> Path:
    """A concat-demuxer list that gives each piece its exact duration (frames / fps): read from the
    files, a piece that starts with B-frame delay would leave a gap of that delay at the join."""
    listing = workdir / f"{name}.txt"
    listing.write_text("".join(f"file '{piece.resolve()}'\nduration {float(count / fps):.6f}\n"
                               for piece, count in zip(pieces, frames, strict=True)))
    return listing


def cut(source: Path, parts: list[Part], fps: Fraction, workdir: Path) -> list[Path]:
    """Each part's segment as its own file (video only, stream copy, Matroska so any codec fits).
    The source is cut once at every segment boundary; a segment is a run of those pieces."""
    points = cut_points(parts)
    pieces = segment(source, points, workdir / "pieces", ".mkv", "cutting the video into parts", FFMPEG_TIMEOUT_S)
    starts = [0, *points]
    if len(pieces) != len(starts):
        raise InputError(f"cannot split this video: cutting gave {len(pieces)} pieces, {len(starts)} expected")
    sizes = [b - a for a, b in zip(starts, [*points, max(p.end for p in parts)])]
    files = []
    for part in parts:
        span = slice(starts.index(part.first), starts.index(part.end) if part.end in starts else len(pieces))
        target = workdir / f"part-{part.index:03d}.mkv"
        listing = _concat(pieces[span], sizes[span], fps, workdir, target.stem)
        run(["ffmpeg", "-nostdin", "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy",
             str(target)], f"making part {part.index + 1}", FFMPEG_TIMEOUT_S)
        if (got := count_frames(target)) != part.frames:
            raise InputError(f"cannot split this video: part {part.index + 1} has {got} frames where "
                             f"{part.frames} were cut (its GOPs may be open)")
        files.append(target)
    return files


def join(cleaned: list[Path], frames: list[int], source: VideoInfo, output: Path, workdir: Path,
         reencode: bool = False) -> None:
    """The cleaned parts one after the other (stream copy), with the source's audio over the whole.
    `reencode`: the parts came from different encoders (their H.264 headers differ, so they cannot
    share one stream): encoded once more with libx264."""
    listing = _concat(cleaned, frames, Fraction(source.fps_rational), workdir, "joined")
    video = [*X264_ARGS, *COMMON_ARGS] if reencode else ["-c:v", "copy", *FASTSTART]
    run(["ffmpeg", "-nostdin", "-y", "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing),
         *with_source_audio(source), *video, "-f", MUXERS.get(output.suffix.lower(), "mp4"), str(output)],
        "joining the cleaned parts", FFMPEG_TIMEOUT_S)
