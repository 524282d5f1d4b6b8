"""Fuzzing the job schema: no input makes the worker raise or hang; every answer is a success or an error."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.config import Settings
from app.worker import Worker

KEYS = ["video_url", "source", "source_url", "video_base64", "source_base64", "s3", "source_s3", "source_s3_key",
        "source_headers", "filename", "watermark_config", "output_url", "output_filename", "s3_prefix",
        "return_base64", "s3Config", "unknown"]
CONFIG_KEYS = ["detector", "inpainter", "regions", "max_bbox_percent", "multiscale", "scales", "detection_stride",
               "encoder", "unblend", "bogus"]
URLS = st.sampled_from(["http://127.0.0.1:9/x.mp4", "ftp://host/x", "", "s3://", "s3://b/k", "file:///etc/hosts",
                        "relative/path.mp4", "http://169.254.169.254/", "https://[::1]/x", "http://", "data:,"])
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=30), URLS)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=10)
configs = st.dictionaries(st.sampled_from(CONFIG_KEYS), values, max_size=4)
inputs = st.dictionaries(st.sampled_from(KEYS), st.one_of(values, configs, URLS), max_size=6)
jobs = st.one_of(st.fixed_dictionaries({"input": inputs}), st.dictionaries(st.sampled_from(["input", "s3Config", "id"]),
                                                                             values, max_size=3))


@pytest.fixture(scope="module")
def worker() -> Worker:
    return Worker(Settings(download_connect_timeout=1, download_read_timeout=1))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(job=jobs)
def test_no_job_input_raises_or_hangs(worker: Worker, job: dict) -> None:
    started = time.monotonic()
    answer = worker.run(job)
    assert isinstance(answer, dict)
    assert "error" in answer, "none of these inputs is a processable video"
    assert isinstance(answer["error"], str) and answer["error"]
    assert not answer["error"].startswith("internal error"), answer
    assert time.monotonic() - started < 10
