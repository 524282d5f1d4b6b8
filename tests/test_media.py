"""Media I/O on real files: probe, decode, encode with audio, odd sizes, rotation, NVENC fallback."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import numpy as np
import pytest

from app.config import ProcessOptions
from app.errors import EncodeError, InputError
from app.media.keyframes import clean_keyframes, kept_keyframes, trim
from app.media.probe import probe
from app.inpainting.masks import Crop, FeatherPaster
from app.media.reader import read_frames, rgb
from app.media.writer import X264_ARGS, VideoWriter, _repainted, choose_encoder, nvenc_check
from app.service import WatermarkRemovalService
from scripts.footage import opencv_data, pan_frames, write_clip


def _roundtrip(src: Path, out: Path, preference: str = "auto") -> tuple:
    info = probe(src)
    encoder = choose_encoder(preference, info.width + info.width % 2, info.height + info.height % 2)
    with VideoWriter(out, info, encoder) as writer:
        for frame in read_frames(info):
            writer.write(frame)
    return info, probe(out), encoder


def test_roundtrip_keeps_frames_fps_duration_and_audio(pan_clean: Path, tmp_path: Path) -> None:
    src, out, _ = _roundtrip(pan_clean, tmp_path / "out.mp4")
    assert src.has_audio and out.has_audio
    assert abs(out.frames - src.frames) <= 1
    assert out.fps == pytest.approx(src.fps, rel=1e-3)
    assert out.duration_s == pytest.approx(src.duration_s, abs=1.5 / src.fps)
    assert (out.width, out.height, out.codec, out.pix_fmt) == (src.width, src.height, "h264", "yuv420p")


def test_rgb_round_trip_is_as_sharp_as_a_direct_transcode(pan_logo, tmp_path: Path) -> None:
    """Real (yuv420p) video through RGB and back must lose no more than ffmpeg's own transcode."""
    path, _ = pan_logo
    src, out, _ = _roundtrip(path, tmp_path / "out.mp4")
    direct = tmp_path / "direct.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), *X264_ARGS, "-pix_fmt", "yuv420p", str(direct)], check=True)
    ours, theirs = psnr_video(src, out), psnr_video(src, probe(direct))
    assert ours > theirs - 0.3, f"our decode/encode round trip {ours:.2f} dB vs a direct transcode {theirs:.2f} dB"


def psnr_video(reference, test) -> float:
    errors = [np.mean((a.astype(float) - b) ** 2) for a, b in zip(read_frames(reference), read_frames(test), strict=False)]
    return float(10 * np.log10(255**2 / np.mean(errors)))


def test_audio_that_mp4_cannot_carry_is_reencoded(tmp_path: Path) -> None:
    """Real footage (vtest.avi) with an AC-3 track is copied as is; a PCM track must become AAC."""
    ac3 = tmp_path / "ac3.avi"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(opencv_data() / "vtest.avi"), "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=48000", "-t", "3", "-map", "0:v", "-map", "1:a", "-c:v", "copy",
                    "-c:a", "ac3", str(ac3)], check=True)
    pcm = tmp_path / "pcm.mov"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(ac3), "-c:v", "copy", "-c:a", "pcm_s16le", str(pcm)], check=True)
    src, out, _ = _roundtrip(pcm, tmp_path / "out.mp4")
    assert src.audio_codec == "pcm_s16le" and out.audio_codec == "aac"
    _, copied, _ = _roundtrip(ac3, tmp_path / "copied.mp4")
    assert copied.audio_codec == "ac3" and copied.frames == 30


def test_variable_packet_avi_keeps_its_duration(tmp_path: Path) -> None:
    """tree.avi has empty 'repeat' packets: decoding must keep all 444 frames, not 68."""
    src, out, _ = _roundtrip(opencv_data() / "tree.avi", tmp_path / "tree.mp4")
    assert src.frames == 444
    assert abs(out.frames - 444) <= 1 and out.duration_s == pytest.approx(src.duration_s, abs=0.2)


def test_odd_size_input_is_padded_to_even(tmp_path: Path) -> None:
    odd = tmp_path / "odd.mkv"
    write_clip(pan_frames("home.jpg", (321, 177), 30, 25), odd, 25, audio=False, lossless=True)
    src, out, _ = _roundtrip(odd, tmp_path / "out.mp4")
    assert (src.width, src.height) == (321, 177)
    assert (out.width, out.height) == (322, 178)
    assert out.frames == 30 and not out.has_audio


def test_rotated_input_is_decoded_upright(tmp_path: Path) -> None:
    plain = tmp_path / "plain.mp4"
    write_clip(pan_frames("home.jpg", (320, 180), 20, 25), plain, 25, audio=False)
    rotated = tmp_path / "rotated.mp4"
    options = subprocess.run(["ffmpeg", "-hide_banner", "-h", "full"], capture_output=True, text=True).stdout
    if "-display_rotation" in options:  # ffmpeg >= 6 (the image's 7.1) writes a display matrix; the tag is gone
        turn = ["-display_rotation:v:0", "90", "-i", str(plain)]
    else:  # ffmpeg 5.1 (Debian's) turns the old `rotate` tag into the display matrix
        turn = ["-i", str(plain), "-metadata:s:v:0", "rotate=90"]
    subprocess.run(["ffmpeg", "-v", "error", *turn, "-c", "copy", str(rotated)], check=True)
    info = probe(rotated)
    assert info.rotation in (90, 270) and (info.width, info.height) == (180, 320)
    frames = list(read_frames(info))
    assert len(frames) == 20 and frames[0].shape == (320, 180, 3)
    upright = next(read_frames(probe(plain)))
    turned = np.rot90(upright, k=-1 if info.rotation == 90 else 1)  # rotation is clockwise for display
    assert np.abs(frames[0].astype(int) - turned.astype(int)).mean() < 4


def test_nvenc_falls_back_to_libx264_without_losing_frames(pan_clean: Path, tmp_path: Path) -> None:
    """Debian's ffmpeg lists h264_nvenc but this machine has no NVIDIA driver: the real fallback runs."""
    listed = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    assert "h264_nvenc" in listed
    failure = nvenc_check(640, 360)
    assert failure is not None and "h264_nvenc" in failure
    src, out, encoder = _roundtrip(pan_clean, tmp_path / "out.mp4", "nvenc")
    assert encoder.name == "libx264" and encoder.reason == failure
    assert out.frames == src.frames


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"this is not a video\n" * 50, "not a readable video")],
)
def test_unreadable_input_raises_specific_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        probe(path)


def test_missing_input_and_audio_only_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        probe(tmp_path / "nope.mp4")
    audio = tmp_path / "tone.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=d=1", str(audio)], check=True)
    with pytest.raises(InputError, match="no video stream"):
        probe(audio)


def test_decoded_frames_are_writable_and_their_own(pan_clean: Path) -> None:
    """The restorer pastes into decoded frames in place: each must be writable and share no memory
    with the next one (a reused buffer would paste one frame's fill into the frames queued after it)."""
    frames = list(itertools.islice(read_frames(probe(pan_clean)), 3))
    assert all(f.flags.writeable for f in frames)
    assert not np.shares_memory(frames[0], frames[1]) and not np.shares_memory(frames[1], frames[2])
    assert not np.array_equal(frames[0], frames[2]), "the pan moves: three distinct pictures"


def test_frames_decoded_for_known_places_have_the_same_pixels_there(pan_logo) -> None:
    """When the marks are decided before streaming, frames get RGB only where restoration looks (odd-edged
    boxes, one at the frame's corner): there it is the full conversion's to the bit, elsewhere black;
    the frames asked for whole (the preview's) are whole."""
    path, _ = pan_logo
    info = probe(path)
    boxes = [(101, 51, 231, 163), (info.width - 37, info.height - 21, info.width, info.height)]
    whole = list(itertools.islice(read_frames(info), 4))
    parts = list(itertools.islice(read_frames(info, boxes, whole=[2]), 4))
    outside = np.ones(whole[0].shape[:2], bool)
    for x1, y1, x2, y2 in boxes:
        outside[y1:y2, x1:x2] = False
    for k, (full, part) in enumerate(zip(whole, parts)):
        assert np.array_equal(part.planes, full.planes)
        if k == 2:
            assert np.array_equal(part, full)
            continue
        for x1, y1, x2, y2 in boxes:
            assert np.array_equal(part[y1:y2, x1:x2], full[y1:y2, x1:x2])
        assert not part[outside].any() and full[outside].any()


def test_only_the_painted_boxes_are_converted_back_the_rest_goes_out_as_decoded(pan_logo) -> None:
    """A real decoded frame, painted through the restorer's paster at an odd-edged box: the planes sent to
    the encoder are the decoded ones outside the box (to the bit) and the painted picture inside it."""
    path, _ = pan_logo
    frame = next(iter(read_frames(probe(path))))
    decoded_planes = frame.planes.copy()
    box = (101, 51, 231, 163)
    mask = np.zeros((box[3] - box[1], box[2] - box[0]), np.uint8)
    mask[20:-20, 20:-20] = 255
    FeatherPaster().paste(frame, Crop(box=box, mask=mask), np.full((*mask.shape, 3), (200, 40, 90), np.uint8))
    assert frame.painted == [box]
    sent = _repainted(frame)
    h, w = frame.shape[:2]
    inside = np.zeros((h, w), bool)
    inside[50:164, 100:232] = True  # the box widened to even edges
    assert np.array_equal(sent[:h][~inside], decoded_planes[:h][~inside])
    chroma_inside = inside[::2, ::2]
    for k in range(2):
        assert np.array_equal(sent[h:].reshape(2, h // 2, w // 2)[k][~chroma_inside],
                              decoded_planes[h:].reshape(2, h // 2, w // 2)[k][~chroma_inside])
    back = rgb(sent)[72:142, 122:210].reshape(-1, 3).mean(axis=0)
    assert np.abs(back - (200, 40, 90)).max() < 3, "the painted colour is what the encoder gets"


def test_a_cleaned_video_has_idr_frames_where_its_source_has_keyframes(tmp_path: Path) -> None:
    """Source keyframes every 0.6 s at 25 fps: the result gets IDR frames at those at least 2 s apart (and
    the encoder may add its own), so a split job's parts are encoded as the single run is."""
    src = tmp_path / "keys.mp4"
    write_clip(pan_frames("fruits.jpg", (320, 180), 150, 25), src, 25, keyint=15)
    total, keys = clean_keyframes(src)
    assert (total, keys) == (150, list(range(0, 150, 15)))
    assert kept_keyframes(keys, 25.0) == [0, 60, 120]
    out = tmp_path / "out.mp4"
    WatermarkRemovalService(probe_gpu=False).clean(src, out, ProcessOptions(regions=[(8, 8, 60, 30)]))
    assert {0, 60, 120} <= set(clean_keyframes(out)[1])
    trimmed = tmp_path / "trimmed.mp4"
    trimmed.write_bytes(out.read_bytes())
    trim(trimmed, range(60, 120), tmp_path)
    assert probe(trimmed).frames == 60 and not list(tmp_path.glob("trim-*"))
    assert np.array_equal(np.stack(list(read_frames(probe(trimmed)))), np.stack(list(read_frames(probe(out))))[60:120])
    with pytest.raises(EncodeError, match="lacks an IDR frame"):
        trim(out, range(30, 120), tmp_path)
    assert not list(tmp_path.glob("trim-*"))
