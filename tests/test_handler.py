"""The RunPod job contract against real servers on loopback: HTTP, moto's S3, RunPod's local API."""

from __future__ import annotations

import base64
import io
import shutil
from pathlib import Path

import boto3
import cv2
import numpy as np
import pytest
import requests
from loguru import logger

from app.config import Settings
from app.media.probe import probe
from app.media.reader import read_frames
from app.preview import PreviewSheet
from app.worker import Worker
from bench import endpoint as endpoint_bench
from scripts.servers import file_server, moto_server, runpod_api

BUCKET = "results"
KEY_ID, SECRET = "AKIDTEST", "very-secret-value-123"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, pan_logo) -> tuple[str, Path]:
    """A directory with a short real clip, served over HTTP on loopback."""
    root = tmp_path_factory.mktemp("www")
    shutil.copy(pan_logo[0], root / "clip.mp4")
    (root / "notes.txt").write_text("not a video")
    with file_server(root) as url:
        yield url, root / "clip.mp4"


@pytest.fixture(scope="module")
def s3_endpoint() -> str:
    with moto_server() as url:
        s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                          region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield url


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, s3_endpoint: str, tmp_path: Path) -> Path:
    """Worker env with S3 configured the RunPod way; returns the temp area the jobs use."""
    temp = tmp_path / "jobs"
    temp.mkdir()
    for key, value in {"BUCKET_ENDPOINT_URL": s3_endpoint, "BUCKET_ACCESS_KEY_ID": KEY_ID,
                       "BUCKET_SECRET_ACCESS_KEY": SECRET, "BUCKET_NAME": BUCKET, "ALLOW_PRIVATE_URLS": "1",
                       "TEMP_DIR": str(temp)}.items():
        monkeypatch.setenv(key, value)
    return temp


def s3_client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                        region_name="us-east-1")


def fetch_video(url: str, tmp_path: Path) -> Path:
    response = requests.get(url, timeout=30)
    assert response.status_code == 200
    path = tmp_path / "fetched.mp4"
    path.write_bytes(response.content)
    return path


def test_http_input_to_s3_presigned_url(env: Path, served, tmp_path: Path) -> None:
    url, clip = served
    answer = Worker(Settings()).run({"id": "job-1", "input": {"video_url": f"{url}/clip.mp4", "s3_prefix": "clean"}})
    assert "error" not in answer, answer
    fetched = fetch_video(answer["video_url"], tmp_path)
    assert probe(fetched).frames == probe(clip).frames == answer["frames"]
    assert answer["s3_key"] == "clean/job-1-clean.mp4" and answer["size_bytes"] == fetched.stat().st_size
    for field in ("width", "height", "fps", "duration_s", "detector", "inpainter", "encoder", "multiscale",
                  "fallbacks", "watermark_frames", "timings"):
        assert field in answer
    assert answer["watermark_frames"] > 0 and answer["encoder"] == "libx264"
    assert not list(env.iterdir()), "the job's temp dir is removed"


def test_s3_input_by_url_and_by_object(env: Path, served, s3_endpoint: str, tmp_path: Path) -> None:
    _, clip = served
    s3_client(s3_endpoint).upload_file(str(clip), BUCKET, "in/clip.mp4")
    worker = Worker(Settings())
    by_url = worker.run({"id": "a", "input": {"video_url": f"s3://{BUCKET}/in/clip.mp4", "output_filename": "x.mp4"}})
    by_object = worker.run({"id": "b", "input": {"source_s3": {"bucket": BUCKET, "key": "in/clip.mp4"}}})
    assert "error" not in by_url and "error" not in by_object, (by_url, by_object)
    assert by_url["filename"] == "x.mp4" and by_object["frames"] == by_url["frames"]
    missing = worker.run({"id": "c", "input": {"source_s3_key": "in/nope.mp4"}})
    assert missing["error"] == f"S3 input s3://{BUCKET}/in/nope.mp4: object not found"


def test_output_to_callers_presigned_put_url(env: Path, served, s3_endpoint: str) -> None:
    url, _ = served
    s3 = s3_client(s3_endpoint)
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": "caller/out.mp4"}, ExpiresIn=600)
    answer = Worker(Settings()).run({"id": "p", "input": {"video_url": f"{url}/clip.mp4", "output_url": put_url}})
    assert "error" not in answer, answer
    stored = s3.get_object(Bucket=BUCKET, Key="caller/out.mp4")
    assert stored["ContentLength"] == answer["size_bytes"] and stored["ContentType"] == "video/mp4"
    assert "Signature" not in answer["output_url"]


def test_base64_in_and_out(monkeypatch: pytest.MonkeyPatch, served, tmp_path: Path) -> None:
    _, clip = served
    data = "data:video/mp4;base64," + base64.b64encode(clip.read_bytes()).decode()
    answer = Worker(Settings()).run({"id": "b64", "input": {"video_base64": data, "return_base64": True}})
    assert "error" not in answer, answer
    out = tmp_path / "out.mp4"
    out.write_bytes(base64.b64decode(answer["video_base64"]))
    assert probe(out).frames == probe(clip).frames


def test_job_level_s3config_overrides_env_and_secret_never_leaks(monkeypatch: pytest.MonkeyPatch, served,
                                                                  s3_endpoint: str) -> None:
    url, _ = served
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "1")
    sink = io.StringIO()
    handle = logger.add(sink, level="DEBUG")
    try:
        config = {"accessId": KEY_ID, "accessSecret": SECRET, "bucketName": BUCKET, "endpointUrl": s3_endpoint}
        answer = Worker(Settings()).run({"id": "cfg", "s3Config": config, "input": {"video_url": f"{url}/clip.mp4"}})
        unreachable = Worker(Settings()).run({"id": "down", "input": {"video_url": f"{url}/clip.mp4", "s3Config": {
            **config, "endpointUrl": "http://127.0.0.1:9"}}})
    finally:
        logger.remove(handle)
    assert "error" not in answer and answer["s3_bucket"] == BUCKET
    assert unreachable["error"].startswith("S3 upload to s3://results/down-clean.mp4 failed: cannot reach the S3 endpoint")
    assert SECRET not in sink.getvalue() and SECRET not in str(answer) and SECRET not in str(unreachable)


@pytest.mark.parametrize(
    ("job_input", "message"),
    [
        ({"video_url": "{url}/clip.mp4", "colour": "red"}, "colour: unknown field"),
        ({"video_url": "{url}/clip.mp4", "watermark_config": {"detektor": "yolo"}}, "watermark_config.detektor: unknown field"),
        ({"video_url": "{url}/clip.mp4", "video_base64": "AAAA"}, "give exactly one source"),
        ({}, "give exactly one source"),
        ({"video_url": "{url}/clip.mp4", "watermark_config": {"detection_stride": "fast"}}, "detection_stride"),
        ({"video_url": "{url}/missing.mp4"}, "HTTP 404"),
        ({"video_url": "{url}/status/500"}, "HTTP 500"),
        ({"video_url": "{url}/notes.txt"}, "not a readable video"),
        ({"video_base64": "@@not base64@@"}, "not valid base64"),
        ({"video_url": "samples/sample.mp4"}, "local file inputs are disabled"),
    ],
)
def test_bad_jobs_fail_with_specific_message(env: Path, served, job_input: dict, message: str) -> None:
    url, _ = served
    filled = {k: v.format(url=url) if isinstance(v, str) else v for k, v in job_input.items()}
    answer = Worker(Settings()).run({"id": "bad", "input": filled})
    assert set(answer) == {"error"} and message in answer["error"], answer
    assert not list(env.iterdir())


def test_no_storage_fails_before_downloading(monkeypatch: pytest.MonkeyPatch, served) -> None:
    url, _ = served
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "1")
    from scripts.servers import _Handler

    before = len(_Handler.hits)
    answer = Worker(Settings()).run({"id": "n", "input": {"video_url": f"{url}/clip.mp4"}})
    assert answer["error"].startswith("no output destination: give output_url")
    assert len(_Handler.hits) == before, "nothing was downloaded"


def test_private_urls_are_refused_by_default(monkeypatch: pytest.MonkeyPatch, served) -> None:
    url, _ = served
    monkeypatch.setenv("ALLOW_LOCAL_FILES", "1")
    answer = Worker(Settings()).run({"id": "ssrf", "input": {"video_url": f"{url}/clip.mp4"}})
    assert "non-public address (127.0.0.1)" in answer["error"]
    meta = Worker(Settings()).run({"id": "meta", "input": {"video_url": "http://169.254.169.254/latest/meta-data"}})
    assert "non-public address (169.254.169.254)" in meta["error"]


def test_local_api_runsync_run_and_status(s3_endpoint: str, served) -> None:
    url, clip = served
    env = {"BUCKET_ENDPOINT_URL": s3_endpoint, "BUCKET_ACCESS_KEY_ID": KEY_ID, "BUCKET_SECRET_ACCESS_KEY": SECRET,
           "BUCKET_NAME": BUCKET, "ALLOW_PRIVATE_URLS": "1"}
    with runpod_api(env) as (api, _):
        good = {"input": {"video_url": f"{url}/clip.mp4"}}
        done = requests.post(f"{api}/runsync", json=good, timeout=300).json()
        assert done["status"] == "COMPLETED", done
        assert requests.get(done["output"]["video_url"], timeout=30).status_code == 200
        bad = requests.post(f"{api}/runsync", json={"input": {"video_url": f"{url}/missing.mp4"}}, timeout=60).json()
        assert bad["status"] == "FAILED" and "HTTP 404" in bad["error"]
        queued = requests.post(f"{api}/run", json=good, timeout=30).json()
        status = requests.post(f"{api}/status/{queued['id']}", timeout=300).json()
        assert status["status"] == "COMPLETED" and status["output"]["frames"] == probe(clip).frames
        queued_bad = requests.post(f"{api}/run", json={"input": {"bogus": 1}}, timeout=30).json()
        failed = requests.post(f"{api}/status/{queued_bad['id']}", timeout=60).json()
        assert failed["status"] == "FAILED" and "bogus: unknown field" in failed["error"]


def test_endpoint_benchmark_measures_speed_and_cost_per_video_minute(served, capsys: pytest.CaptureFixture) -> None:
    url, clip = served
    with runpod_api({"ALLOW_PRIVATE_URLS": "1"}) as (api, _):
        assert endpoint_bench.main([api, str(clip), "--price-per-second", "0.001", "--inline-output"]) == 0
        with pytest.raises(RuntimeError, match="missing.mp4: FAILED: .*HTTP 404"):
            endpoint_bench.main([api, f"{url}/missing.mp4", "--inline-output"])
    row = capsys.readouterr().out.strip().splitlines()[-1].strip("|").split("|")
    name, video_s, processing, per_minute, cost, device, detector, fallbacks = (cell.strip() for cell in row)
    seconds = float(processing.split()[0])
    assert name == clip.name and float(video_s) == pytest.approx(probe(clip).duration_s, abs=0.05)
    assert "(wall)" in processing and seconds > 0
    assert float(per_minute) == pytest.approx(seconds / float(video_s) * 60, rel=0.02)
    assert float(cost.lstrip("$")) == pytest.approx(float(per_minute) * 0.001, rel=0.02)
    assert (device, detector) == ("cpu", "auto") and "encoder:" in fallbacks


@pytest.mark.parametrize("filename", [None, "photo.jpg"])  # probed by content, or by image2 from the name
def test_still_image_comes_back_in_its_format(filename: str | None) -> None:
    import cv2
    import numpy as np

    from scripts.footage import composite, opencv_data, text_rgba

    photo = cv2.cvtColor(cv2.imread(str(opencv_data() / "home.jpg")), cv2.COLOR_BGR2RGB)
    marked = composite(photo, text_rgba("STOCK", 30), 40, 40, 0.8)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(marked, cv2.COLOR_RGB2BGR))
    assert ok
    job = {"video_base64": base64.b64encode(jpeg.tobytes()).decode(), "return_base64": True,
           "watermark_config": {"regions": [[36, 36, 150, 45]]}, "filename": filename}
    answer = Worker(Settings()).run({"id": "img", "input": job})
    assert "error" not in answer, answer
    raw = base64.b64decode(answer["video_base64"])
    assert raw[:3] == b"\xff\xd8\xff" and answer["filename"].endswith(".jpg") and answer["content_type"] == "image/jpeg"
    out = cv2.cvtColor(cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert out.shape == photo.shape and answer["watermark_frames"] == 1
    region = (slice(40, 75), slice(40, 180))
    err_before = np.abs(marked[region].astype(int) - photo[region]).mean()
    err_after = np.abs(out[region].astype(int) - photo[region]).mean()
    assert err_after < err_before


def test_progress_is_reported_per_stage_and_about_every_tenth(monkeypatch: pytest.MonkeyPatch, served) -> None:
    _, clip = served
    monkeypatch.setenv("ALLOW_LOCAL_FILES", "1")
    monkeypatch.setenv("LOCAL_OUTPUT_DIR", str(clip.parent / "local-out"))
    updates: list[dict] = []
    answer = Worker(Settings(), progress=lambda job, p: updates.append(p)).run({"id": "pr", "input": {"video_url": str(clip)}})
    assert "error" not in answer and Path(answer["output_path"]).is_file()
    stages = [u["stage"] for u in updates]
    assert stages[0] == "downloading" and stages[-1] == "uploading"
    processing = [u["percent"] for u in updates if u["stage"] == "processing"]
    assert processing == sorted(processing) and processing[-1] == 100 and 9 <= len(processing) <= 13


def _drawn_outline(preview: np.ndarray, clip: Path) -> np.ndarray:
    """Where the preview's first row drew its red outline over the frame it shows: red pixels that
    the frame itself does not have there, in frame coordinates of the 480-wide tile."""
    info = probe(clip)
    index = PreviewSheet(info.frames).picks[0]
    frame = next(f for i, f in enumerate(read_frames(info)) if i == index)
    scaled = cv2.resize(frame, (480, round(info.height * 480 / info.width)), interpolation=cv2.INTER_AREA)
    tile = preview[20 : 20 + scaled.shape[0], :480].astype(int)
    red = (tile[:, :, 0] > 180) & (tile[:, :, 1] < 110) & (tile[:, :, 2] < 110)
    return red & (np.abs(tile - scaled).max(axis=2) > 60)


def test_preview_comes_back_from_s3_and_inline_and_shows_the_masks(env: Path, served, pan_logo) -> None:
    url, clip = served
    worker = Worker(Settings())
    answer = worker.run({"id": "pv", "input": {"video_url": f"{url}/clip.mp4", "preview": True}})
    assert "error" not in answer, answer
    response = requests.get(answer["preview_url"], timeout=30)
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/jpeg"
    from_s3 = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    inline = worker.run({"id": "pv2", "input": {"video_url": f"{url}/clip.mp4", "preview": True, "return_base64": True}})
    assert "error" not in inline, inline
    picture = cv2.imdecode(np.frombuffer(base64.b64decode(inline["preview_base64"]), np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == from_s3.shape and inline["preview_content_type"] == "image/jpeg"
    outline = _drawn_outline(from_s3, clip)
    ys, xs = np.nonzero(outline)
    assert answer["watermark_frames"] > 0 and len(xs) > 100, "the run's masks are outlined"
    scale = 480 / probe(clip).width
    x1, y1, x2, y2 = (v * scale for v in pan_logo[1])
    assert x1 - 12 <= xs.min() and xs.max() <= x2 + 12 and y1 - 12 <= ys.min() and ys.max() <= y2 + 12, \
        "the outline is drawn around the mark the run found, nowhere else"
    plain = worker.run({"id": "np", "input": {"video_url": f"{url}/clip.mp4", "return_base64": True}})
    assert "preview_base64" not in plain and "preview_url" not in plain


def test_a_model_that_cannot_load_fails_every_job_instead_of_crash_looping(served) -> None:
    url, _ = served
    with runpod_api({"YOLO_MODEL": "/nonexistent/yolo.pt", "ALLOW_PRIVATE_URLS": "1"}) as (api, _):
        for _ in range(2):
            answer = requests.post(f"{api}/runsync", json={"input": {"video_url": f"{url}/clip.mp4",
                                                                       "return_base64": True}}, timeout=120).json()
            assert answer["status"] == "FAILED"
            assert answer["error"] == "worker misconfigured: YOLO weights not found at /nonexistent/yolo.pt"
