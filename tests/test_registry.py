"""Backends come from the registries alone: a toy detector and filler added there (and nowhere else)
run from the CLI and the worker; the CLI takes URLs and cleans images too."""

from __future__ import annotations

import shutil
from pathlib import Path

import boto3
import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from app import cli, registry
from app.config import ProcessOptions, Settings
from app.media.probe import probe
from app.media.reader import read_frames
from app.worker import Worker
from scripts.servers import file_server, moto_server
from tests.toy_backends import MAGENTA, TOY_BOX

TOYS = {"detector": "corner", "inpainter": "paint", "unblend": False}


@pytest.fixture
def toys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.DETECTORS, "corner", registry.Entry("tests.toy_backends:build_detector", "toy"))
    monkeypatch.setitem(registry.FILLERS, "paint", registry.Entry("tests.toy_backends:build_filler", "toy"))


def _painted_where_the_toy_said(video: Path, source: Path) -> None:
    x1, y1, x2, y2 = TOY_BOX
    frames = list(read_frames(probe(video)))
    originals = list(read_frames(probe(source)))
    assert len(frames) == len(originals) > 10
    for frame, original in zip(frames, originals, strict=True):
        inside = frame[y1 + 4 : y2 - 4, x1 + 4 : x2 - 4].reshape(-1, 3).mean(axis=0)
        assert np.abs(inside - MAGENTA).max() < 40, "the toy filler painted the toy detector's box"
        outside = np.abs(frame[y2 + 40 :].astype(int) - original[y2 + 40 :]).mean()
        assert outside < 3, "nothing else was touched"


def test_a_registered_toy_detector_and_filler_run_from_the_cli(toys, pan_clean: Path, tmp_path: Path) -> None:
    out, report = tmp_path / "cli.mp4", tmp_path / "report.json"
    code = cli.main([str(pan_clean), "-o", str(out), "--report", str(report), "--detector", "corner",
                     "--inpainter", "paint", "--no-unblend", "-q"])
    assert code == 0
    assert '"detector": "corner"' in report.read_text() and '"inpainter": "paint"' in report.read_text()
    _painted_where_the_toy_said(out, pan_clean)


def test_a_registered_toy_detector_and_filler_run_from_the_worker(toys, pan_clean: Path, tmp_path: Path) -> None:
    worker = Worker(Settings(allow_local_files=True, local_output_dir=tmp_path / "out"))
    answer = worker.run({"id": "toy", "input": {"video_url": str(pan_clean), "watermark_config": TOYS}})
    assert "error" not in answer, answer
    assert answer["detector"] == "corner" and answer["inpainter"] == "paint"
    _painted_where_the_toy_said(Path(answer["output_path"]), pan_clean)


def test_unregistered_names_are_refused_with_the_registered_ones(toys) -> None:
    with pytest.raises(ValidationError, match="unknown detector 'dino': one of auto, static, yolo, both, corner"):
        ProcessOptions(detector="dino")
    assert ProcessOptions.model_json_schema()["properties"]["inpainter"]["enum"] == ["auto", "lama", "opencv", "paint"]
    answer = Worker(Settings(allow_local_files=True)).run({"input": {"video_url": "/x.mp4",
                                                                     "watermark_config": {"inpainter": "magic"}}})
    assert answer == {"error": "invalid input: watermark_config.inpainter: unknown inpainter 'magic': one of "
                               "auto, lama, opencv, paint"}


def test_the_cli_cleans_a_video_from_an_http_url(pan_logo, tmp_path: Path) -> None:
    www = tmp_path / "www"
    www.mkdir()
    shutil.copy(pan_logo[0], www / "clip.mp4")
    out = tmp_path / "from-url.mp4"
    with file_server(www) as url:
        assert cli.main([f"{url}/clip.mp4", "-o", str(out), "--region", "10,10,40,30", "-q"]) == 0
    assert probe(out).frames == probe(pan_logo[0]).frames
    with file_server(www) as url:
        assert cli.main([f"{url}/missing.mp4", "-o", str(tmp_path / "x.mp4"), "-q"]) == 1


def test_the_cli_cleans_a_video_from_s3_with_the_bucket_env(pan_logo, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    with moto_server() as endpoint:
        for key, value in {"BUCKET_ENDPOINT_URL": endpoint, "BUCKET_ACCESS_KEY_ID": "AKIDCLI",
                           "BUCKET_SECRET_ACCESS_KEY": "cli-secret", "BUCKET_NAME": "inputs"}.items():
            monkeypatch.setenv(key, value)
        client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="AKIDCLI",
                              aws_secret_access_key="cli-secret", region_name="us-east-1")
        client.create_bucket(Bucket="inputs")
        client.upload_file(str(pan_logo[0]), "inputs", "clips/logo.mp4")
        out = tmp_path / "from-s3.mp4"
        assert cli.main(["s3://inputs/clips/logo.mp4", "-o", str(out), "--region", "10,10,40,30", "-q"]) == 0
        assert cli.main(["s3://inputs/clips/missing.mp4", "-o", str(tmp_path / "x.mp4"), "-q"]) == 1
    assert probe(out).frames == probe(pan_logo[0]).frames


def test_the_cli_cleans_a_still_image_in_its_own_format(toys, pan_clean: Path, tmp_path: Path) -> None:
    picture = next(iter(read_frames(probe(pan_clean))))
    source, out = tmp_path / "still.png", tmp_path / "still-clean.png"
    cv2.imwrite(str(source), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    assert cli.main([str(source), "-o", str(out), "--detector", "corner", "--inpainter", "paint", "-q"]) == 0
    cleaned = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    x1, y1, x2, y2 = TOY_BOX
    assert (cleaned[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2] == MAGENTA).all()
    assert (cleaned[y2 + 30 :] == picture[y2 + 30 :]).all(), "a PNG comes back losslessly outside the mark"


def test_the_readme_backend_table_is_the_registry() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert registry.markdown_table() in readme, "README is stale: paste `python -m app.registry` into it"
