"""The bad day: bad inputs and injected faults each end as a specific FAILED answer, within a bounded
time, with the temp area clean, and the next good job in the same worker succeeds."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from loguru import logger

from app.config import Settings
from app.errors import InputError
from app.media.probe import probe
from app.worker import Worker
from scripts.footage import opencv_data
from scripts.servers import file_server, moto_server

GOOD_FRAMES = 150


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, pan_logo) -> Path:
    """Broken and odd files made from a real clip, served over HTTP."""
    root = tmp_path_factory.mktemp("bad")
    good = root / "good.mp4"
    shutil.copy(pan_logo[0], good)
    data = good.read_bytes()
    (root / "empty.mp4").write_bytes(b"")
    (root / "text.mp4").write_text("hello, I am not a video\n" * 100)
    (root / "truncated.mp4").write_bytes(data[: len(data) // 3])
    flipped = bytearray(data)
    for i in range(len(flipped) // 2, len(flipped) // 2 + 4096):
        flipped[i] ^= 0xFF
    (root / "flipped.mp4").write_bytes(bytes(flipped))
    avi = bytearray((opencv_data() / "vtest.avi").read_bytes()[:3_000_000])
    for at in [i for i in range(4096) if avi[i : i + 4] == b"div3"]:
        avi[at : at + 4] = b"ZZZZ"  # a codec tag no decoder knows
    (root / "unknown_codec.avi").write_bytes(bytes(avi))
    run = lambda *a: subprocess.run(["ffmpeg", "-v", "error", "-y", *a], check=True)  # noqa: E731
    run("-f", "lavfi", "-i", "sine=d=2", str(root / "audio.m4a"))
    run("-i", str(good), "-frames:v", "1", "-an", str(root / "oneframe.mp4"))
    run("-f", "lavfi", "-i", "testsrc2=s=4200x240:d=0.2", "-c:v", "libx264", str(root / "wide.mp4"))
    run("-f", "lavfi", "-i", "testsrc2=s=64x64:r=1:d=4000", "-c:v", "libx264", "-preset", "ultrafast", str(root / "long.mp4"))
    with file_server(root) as url:
        yield url, root


CASES = [
    ({"video_url": "{url}/empty.mp4"}, "empty"),
    ({"video_url": "{url}/text.mp4"}, "not a readable video"),
    ({"video_url": "{url}/truncated.mp4"}, "not a readable video"),
    ({"video_url": "{url}/audio.m4a"}, "no video stream"),
    ({"video_url": "{url}/unknown_codec.avi"}, "unsupported video codec (tag 'ZZZZ')"),
    ({"video_url": "{url}/wide.mp4"}, "resolution 4200x240 is above the limit"),
    ({"video_url": "{url}/long.mp4"}, "duration 4000s is above the limit"),
    ({"video_url": "{url}/nope.mp4"}, "HTTP 404"),
    ({"video_url": "{url}/status/500"}, "HTTP 500"),
    ({"video_url": "http://127.0.0.1:9/clip.mp4"}, "cannot connect"),
    ({"video_url": "{url}/stall"}, "broke off"),
    ({"video_url": "{url}/redirect-loop"}, "more than 5 redirects"),
    ({"video_url": "{url}/huge"}, "over the 10000000-byte limit"),
    ({"video_url": "{url}/huge-chunked"}, "over the 10000000-byte limit (stopped reading)"),
    ({"video_base64": "%%%not-base64%%%"}, "not valid base64"),
    ({"video_url": 42}, "video_url: Input should be a valid string"),
    ({"video_url": "{url}/good.mp4", "return_base64": "maybe"}, "return_base64"),
    ({"video_url": "{url}/good.mp4", "extra": 1}, "extra: unknown field"),
    ({"source_s3_key": "missing.mp4"}, "S3 input needs credentials"),
    ({"video_url": "file:///etc/passwd"}, "local file inputs are disabled"),
    ({"video_url": "ftp://example.com/a.mp4"}, "unsupported URL scheme 'ftp'"),
    ({"video_url": "{url}/good.mp4", "output_url": "{url}/put-fails"}, "upload to output_url"),
    ({"video_url": "{url}/good.mp4", "output_url": "file:///tmp/x"}, "output_url must be an http(s)"),
    ({"video_url": "{url}/good.mp4", "output_url": "{url}/redirect?to=http://127.0.0.1:9/x"}, "answered with a redirect"),
    ({"video_url": "http:///clip.mp4"}, "video_url: the URL has no host"),
    ({"video_url": "http://127.0.0.1:99999/clip.mp4"}, "video_url: the URL's port is not valid"),
    ({"video_url": "http://no-such-host.invalid/clip.mp4"}, "video_url: cannot resolve host no-such-host.invalid"),
    ({"video_url": "{url}/redirect?to=ftp://127.0.0.1/x.mp4"}, "video_url (redirect 1): unsupported URL scheme 'ftp'"),
    ({"video_url": "{url}/good.mp4", "source_verify_ssl": False}, "source_verify_ssl: false is refused"),
    ({"video_url": "{url}/good.mp4", "watermark_config": {"transparent": True}}, "transparent output"),
    ({"video_url": "{url}/good.mp4", "watermark_config": {"force_format": "PNG"}},
     "force_format PNG does not fit this video: use one of MP4, M4V, MOV"),
    ({"video_url": "{url}/good.mp4", "watermark_config": {"force_format": "gifv"}}, "unknown format 'gifv'"),
    ({"video_url": "{url}/good.mp4", "watermark_config": {"detector": "florence2"}}, "unknown detector 'florence2'"),
    ({"video_url": "{url}/good.mp4", "watermark_config": {"regions": [[0, 0, -5, 5]]}}, "must have x,y >= 0"),
    ({"video_url": "{url}/good.mp4", "watermark_config": {"scales": []}}, "watermark_config.scales"),
    ({}, "give exactly one source"),
    ({"video_url": "{url}/good.mp4", "video_base64": "AAAA"}, "got video_url, video_base64"),
    ({"video_url": "{url}/good.mp4", "s3Config": {"accessId": "k", "accessSecret": "s", "endpointUrl": "ftp://x"}},
     "s3Config.endpointUrl: unsupported URL scheme 'ftp'"),
    ({"video_url": "{url}/good.mp4", "s3Config": {"accessId": "k", "accessSecret": "s",
                                                  "endpointUrl": "http://no-such-host.invalid"}},
     "s3Config.endpointUrl: cannot resolve host"),
    ({"video_url": "{url}/good.mp4", "s3Config": {"accessId": "k", "accessSecret": "s", "endpointUrl": "{url}",
                                                  "forcePathStyle": "sometimes"}}, "s3Config.forcePathStyle"),
    ({"video_url": "{url}/good.mp4", "s3Config": {"accessId": "", "accessSecret": "s", "endpointUrl": "{url}"}},
     "s3Config.accessId"),
    ({"video_url": "{url}/good.mp4", "s3Config": {"accessId": "k", "accessSecret": "s", "endpointUrl": "{url}",
                                                  "region": "eu west"}}, "s3Config.region: String should match pattern"),
]


@pytest.mark.parametrize(("job_input", "message"), CASES, ids=[c[1][:40] for c in CASES])
def test_bad_input_fails_clearly_and_the_worker_keeps_serving(corpus, job_input: dict, message: str,
                                                              monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url, _ = corpus
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "1")
    monkeypatch.setenv("MAX_INPUT_BYTES", "10000000")
    monkeypatch.setenv("DOWNLOAD_READ_TIMEOUT", "2")
    monkeypatch.setenv("UPLOAD_ATTEMPTS", "2")
    monkeypatch.setenv("TEMP_DIR", str(tmp_path))
    worker = Worker(Settings())
    job = json.loads(json.dumps(job_input).replace("{url}", url))
    if "output_url" not in job:
        job.setdefault("return_base64", True)
    started = time.monotonic()
    answer = worker.run({"id": "bad", "input": job})
    assert set(answer) == {"error"} and message in answer["error"], answer
    assert time.monotonic() - started < 30
    assert not list(tmp_path.iterdir()), "the job's temp dir is removed"
    good = worker.run({"id": "next", "input": {"video_url": f"{url}/good.mp4", "return_base64": True}})
    assert "error" not in good and good["frames"] == GOOD_FRAMES


def test_wrong_s3_credentials_fail_clearly_without_leaking_the_secret(corpus, monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    """S3 that checks keys (moto with IAM authentication on) refuses the job's keys, for the result and
    for an S3 input: each a specific FAILED, no retry storm, the secret nowhere in answers or logs."""
    url, _ = corpus
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "1")
    monkeypatch.setenv("TEMP_DIR", str(tmp_path))
    secret = "wrong-secret-4f9c2a71"
    said: list[str] = []
    handle = logger.add(lambda message: said.append(str(message)), level="DEBUG")
    try:
        with moto_server(authenticate=True) as endpoint:
            keys = {"accessId": "AKIDWRONGKEY", "accessSecret": secret, "bucketName": "results", "endpointUrl": endpoint}
            worker = Worker(Settings())
            started = time.monotonic()
            result = worker.run({"id": "s3-out", "s3Config": keys, "input": {"video_url": f"{url}/good.mp4"}})
            source = worker.run({"id": "s3-in", "s3Config": keys,
                                 "input": {"video_url": "s3://results/clip.mp4", "return_base64": True}})
            elapsed = time.monotonic() - started
    finally:
        logger.remove(handle)
    assert set(result) == {"error"} and result["error"].startswith("S3 upload to s3://results/")
    assert result["error"].endswith("failed: access denied (check the S3 credentials)")
    assert source == {"error": "S3 input s3://results/clip.mp4: access denied (check the S3 credentials)"}
    assert elapsed < 60
    assert secret not in json.dumps([result, source]) and secret not in "".join(said)
    assert not list(tmp_path.iterdir()), "the job's temp dir is removed"
    good = worker.run({"id": "next", "input": {"video_url": f"{url}/good.mp4", "return_base64": True}})
    assert "error" not in good and good["frames"] == GOOD_FRAMES


@pytest.mark.parametrize("name", ["flipped.mp4", "oneframe.mp4"])
def test_damaged_or_tiny_videos_either_process_or_fail_clearly(corpus, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bytes flipped mid-file: ffmpeg conceals the damage; one frame: nothing to learn from, still valid."""
    url, root = corpus
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "1")
    answer = Worker(Settings()).run({"id": name, "input": {"video_url": f"{url}/{name}", "return_base64": True}})
    if "error" in answer:
        assert answer["error"].startswith(("not a readable video", "could not decode")), answer
    else:
        out = root / f"out-{name}"
        out.write_bytes(base64.b64decode(answer["video_base64"]))
        assert answer["frames"] >= 1


def test_path_traversal_in_names_stays_inside(corpus, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url, _ = corpus
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "1")
    monkeypatch.setenv("ALLOW_LOCAL_FILES", "1")
    monkeypatch.setenv("LOCAL_OUTPUT_DIR", str(tmp_path / "out"))
    job = {"video_url": f"{url}/good.mp4", "filename": "../../etc/passwd", "output_filename": "../../../evil.mp4"}
    answer = Worker(Settings()).run({"id": "trav", "input": job})
    assert "error" not in answer, answer
    assert Path(answer["output_path"]).parent == (tmp_path / "out").resolve()
    assert answer["filename"] == "evil.mp4"


def test_too_little_disk_is_refused_before_processing(corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = corpus
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "1")
    import app.worker as worker_module

    monkeypatch.setattr(worker_module, "DISK_MARGIN_BYTES", 10**15)
    answer = Worker(Settings()).run({"id": "disk", "input": {"video_url": f"{url}/good.mp4", "return_base64": True}})
    assert answer["error"].startswith("not enough disk space")


def test_ffmpeg_killed_mid_encode_fails_the_job_and_cleans_up(corpus, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url, _ = corpus
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "1")
    monkeypatch.setenv("TEMP_DIR", str(tmp_path))
    import app.media.writer as writer_module

    original = writer_module.VideoWriter.write

    def write_then_die(self, frame):
        if self.frames_written == 40:
            self._proc.kill()
            self._proc.wait()
        return original(self, frame)

    monkeypatch.setattr(writer_module.VideoWriter, "write", write_then_die)
    answer = Worker(Settings()).run({"id": "kill", "input": {"video_url": f"{url}/good.mp4", "return_base64": True}})
    assert answer["error"].startswith("libx264 stopped after 40 frames"), answer
    assert not list(tmp_path.iterdir())


def test_unrecoverable_cuda_error_asks_runpod_for_a_new_worker(corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = corpus
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "1")
    worker = Worker(Settings())

    def broken(*args, **kwargs):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(worker.service, "clean", broken)
    answer = worker.run({"id": "cuda", "input": {"video_url": f"{url}/good.mp4", "return_base64": True}})
    assert answer["refresh_worker"] is True and "illegal memory access" in answer["error"]


def _playlist_inputs(root: Path) -> dict[str, Path]:
    """Files that make ffmpeg open other files: an HLS playlist and a concat list named like videos,
    and an AVI whose first bytes are a playlist. Each points at a real local clip (the secret)."""
    secret = root / "secret.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=10", "-t", "1",
                    str(secret)], check=True)
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\nfile://{secret}\n#EXT-X-ENDLIST\n"
    files = {"hls.mp4": playlist, "concat.mp4": f"ffconcat version 1.0\nfile '{secret}'\n", "embedded.avi": playlist}
    out = {}
    for name, text in files.items():
        (root / name).write_text(text)
        out[name] = root / name
    return out


def test_playlists_and_concat_lists_are_refused_at_probe(tmp_path: Path) -> None:
    for name, path in _playlist_inputs(tmp_path).items():
        with pytest.raises(InputError, match="not a readable video"):
            probe(path)
