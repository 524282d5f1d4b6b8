"""One egress policy for every outbound connection (download and its redirects, the result's PUT, a
job's own S3 endpoint), connections pinned to the checked address; and an upstream worker's client
(FFMPEGWorker) sends its own job unchanged. Loopback servers only."""

from __future__ import annotations

import base64
import socket
from pathlib import Path

import boto3
import botocore.config
import botocore.exceptions
import pytest
import requests

from app.config import Settings
from app.errors import InputError
from app.media.probe import probe
from app.storage.egress import EgressPolicy, pinned
from app.worker import Worker
from scripts.servers import SEEN_REQUESTS, counting_listener, file_server, moto_server

KEY_ID, SECRET = "AKIDUPSTREAM", "upstream-secret-value-42"


@pytest.fixture(scope="module")
def www(tmp_path_factory: pytest.TempPathFactory, pan_logo) -> Path:
    root = tmp_path_factory.mktemp("egress")
    (root / "clip.mp4").write_bytes(pan_logo[0].read_bytes())
    return root


def _run(job: dict, **settings: object) -> dict:
    return Worker(Settings(**settings)).run({"id": "egress", "input": job})


def test_output_url_to_loopback_is_refused_before_any_connection(pan_logo) -> None:
    source = base64.b64encode(pan_logo[0].read_bytes()).decode()
    with counting_listener() as (url, seen):
        answer = _run({"video_base64": source, "output_url": f"{url}/put?X-Amz-Signature=topsecret"})
    assert answer == {"error": "output_url: host 127.0.0.1 resolves to a non-public address (127.0.0.1); refused "
                               "(set ALLOW_PRIVATE_URLS=1 or EGRESS_ALLOW_NETS for trusted private hosts)"}
    assert seen[0] == 0, "refused before connecting"


def test_a_name_that_resolves_to_loopback_is_refused(pan_logo) -> None:
    with counting_listener() as (url, seen):
        port = url.rsplit(":", 1)[1]
        answer = _run({"video_url": f"http://localhost:{port}/clip.mp4", "return_base64": True})
    assert answer["error"].startswith("video_url: host localhost resolves to a non-public address")
    assert seen[0] == 0


def test_a_redirect_to_loopback_is_checked_again_and_refused(www: Path) -> None:
    """The first host is a trusted private one (EGRESS_ALLOW_NETS); its redirect points at 127.0.0.1."""
    with counting_listener() as (target, seen), file_server(www, host="127.0.0.2") as first:
        answer = _run({"video_url": f"{first}/redirect?to={target}/clip.mp4", "return_base64": True},
                      egress_allow_nets=["127.0.0.2/32"])
        allowed = _run({"video_url": f"{first}/clip.mp4", "return_base64": True}, egress_allow_nets=["127.0.0.2/32"])
    assert answer["error"].startswith("video_url (redirect 1): host 127.0.0.1 resolves to a non-public address")
    assert seen[0] == 0, "the redirect's target saw nothing"
    assert "error" not in allowed and allowed["frames"] > 0, "the allowed private network itself works"


def test_the_jobs_headers_go_only_to_the_host_it_named(www: Path) -> None:
    SEEN_REQUESTS.clear()
    with file_server(www) as first, file_server(www, host="127.0.0.2") as second:
        answer = _run({"video_url": f"{first}/redirect?to={second}/clip.mp4", "return_base64": True,
                       "source_headers": {"Authorization": "Bearer job-token"}}, allow_private_urls=True)
    assert "error" not in answer, answer
    seen = {host.split(":")[0]: headers for host, headers in SEEN_REQUESTS}
    assert seen["127.0.0.1"].get("Authorization") == "Bearer job-token"
    assert "Authorization" not in seen["127.0.0.2"], "the redirect's other host never sees the job's token"


def test_a_job_s3_endpoint_on_metadata_or_loopback_addresses_is_refused(pan_logo) -> None:
    source = base64.b64encode(pan_logo[0].read_bytes()).decode()
    s3 = {"accessId": KEY_ID, "accessSecret": SECRET, "bucketName": "b"}
    meta = _run({"video_base64": source, "s3Config": {**s3, "endpointUrl": "http://169.254.169.254"}})
    assert meta["error"].startswith("s3Config.endpointUrl: host 169.254.169.254 resolves to a non-public address")
    with counting_listener() as (url, seen):
        local = _run({"video_base64": source, "s3Config": {**s3, "endpointUrl": url}})
    assert local["error"].startswith("s3Config.endpointUrl: host 127.0.0.1 resolves to a non-public address")
    assert seen[0] == 0
    assert SECRET not in meta["error"] + local["error"]


def test_a_put_that_redirects_is_refused_and_the_body_goes_nowhere_else(pan_logo, www: Path) -> None:
    with counting_listener() as (elsewhere, seen), file_server(www) as url:
        answer = _run({"video_url": f"{url}/clip.mp4", "output_url": f"{url}/redirect?to={elsewhere}/steal"},
                      allow_private_urls=True, upload_attempts=1)
    assert "was answered with a redirect (HTTP 307); refused" in answer["error"]
    assert seen[0] == 0


def test_connections_go_to_the_checked_address_even_when_dns_changes(monkeypatch: pytest.MonkeyPatch,
                                                                     www: Path) -> None:
    """DNS rebinding: the name resolves to one address at the check and another at connect time."""
    real = socket.getaddrinfo
    answers = {"now": "127.0.0.1"}

    def rebinding(host, port, *args, **kwargs):
        if host == "media.example":
            return real(answers["now"], port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with file_server(www) as url:
        port = int(url.rsplit(":", 1)[1])
        with counting_listener("127.0.0.3", port) as (_, rebound):
            target = EgressPolicy(allow_private=True).check(f"http://media.example:{port}/clip.mp4", "video_url")
            answers["now"] = "127.0.0.3"
            with pinned(target):
                response = requests.get(f"http://media.example:{port}/clip.mp4", timeout=10)
                with pytest.raises(requests.ConnectionError):
                    requests.get(f"http://127.0.0.3:{port}/", timeout=5)
            pinned_hits = rebound[0]
            with pytest.raises(requests.ConnectionError):
                requests.get(f"http://media.example:{port}/clip.mp4", timeout=5)
    assert target.address == "127.0.0.1" and response.status_code == 200
    assert pinned_hits == 0, "no second resolution, and an unchecked host is refused inside the pin"
    assert rebound[0] == 1, "without the pin the rebound name does reach the other address"


def test_boto3_is_refused_a_host_the_policy_did_not_check() -> None:
    with moto_server() as endpoint:
        port = int(endpoint.rsplit(":", 1)[1])
        client = boto3.client("s3", endpoint_url=f"http://localhost:{port}", aws_access_key_id=KEY_ID,
                              aws_secret_access_key=SECRET, region_name="us-east-1",
                              config=botocore.config.Config(retries={"max_attempts": 1}))
        with pinned(EgressPolicy(allow_private=True).check(endpoint, "s3Config.endpointUrl")):
            with pytest.raises(botocore.exceptions.EndpointConnectionError):
                client.list_buckets()
        assert "Buckets" in client.list_buckets(), "the same call outside the pin goes through"


def test_policy_refuses_odd_urls_with_the_field_named() -> None:
    policy = EgressPolicy()
    for url, message in [("ftp://example.com/x", "unsupported URL scheme 'ftp'"), ("http:///x", "has no host"),
                         ("http://example.com:99999/x", "port is not valid"),
                         ("http://no-such-host.invalid/x", "cannot resolve host no-such-host.invalid"),
                         ("http://[::1]/x", "non-public address (::1)"),
                         ("http://[::ffff:127.0.0.1]/x", "non-public address (127.0.0.1)"),
                         ("http://100.64.0.1/x", "non-public address (100.64.0.1)"),
                         ("http://0.0.0.0/x", "non-public address (0.0.0.0)")]:
        with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
            policy.check(url, "output_url")
        assert str(caught.value).startswith("output_url: ")


def test_an_upstream_job_runs_unchanged_against_path_style_s3(www: Path, tmp_path: Path) -> None:
    """Every key an FFMPEGWorker client sends, with path-style addressing as MinIO and R2 need."""
    with moto_server() as endpoint, file_server(www) as url:
        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                     region_name="eu-west-1").create_bucket(Bucket="upstream",
                                                            CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        job = {
            "source_url": f"{url}/clip.mp4", "source_headers": {"X-Trace": "1"}, "source_verify_ssl": True,
            "filename": "clip.mp4", "output_filename": "cleaned.mov", "s3_prefix": "jobs/42",
            "s3Config": {"accessId": KEY_ID, "accessSecret": SECRET, "bucketName": "upstream", "endpointUrl": endpoint,
                         "region": "eu-west-1", "forcePathStyle": True},
            "watermark_config": {"transparent": False, "max_bbox_percent": 10, "force_format": "mov",
                                 "overwrite": True, "detector": "florence"},
        }
        answer = _run(job, allow_private_urls=True)
        assert answer["status"] == "success", answer
        result = answer["result"]
        assert result["filename"] == "cleaned.mov"
        assert result["result_url"].startswith(f"{endpoint}/upstream/jobs/42/cleaned.mov?"), "path-style URL"
        assert "eu-west-1" in result["result_url"], "signed for the job's region"
        fetched = tmp_path / "result.mov"
        fetched.write_bytes(requests.get(result["result_url"], timeout=30).content)
    info = probe(fetched)
    assert "mov" in info.format_name and info.frames == probe(www / "clip.mp4").frames
    assert any("detector 'florence'" in note and "runs as 'auto'" in note for note in answer["notes"])
    assert SECRET not in str(answer)


def test_upstream_keys_that_cannot_mean_the_same_here_are_refused_clearly(www: Path) -> None:
    with file_server(www) as url:
        insecure = _run({"source_url": f"{url}/clip.mp4", "source_verify_ssl": False, "return_base64": True},
                        allow_private_urls=True)
        transparent = _run({"source_url": f"{url}/clip.mp4", "return_base64": True,
                            "watermark_config": {"transparent": True}}, allow_private_urls=True)
        allowed = _run({"source_url": f"{url}/clip.mp4", "source_verify_ssl": False, "return_base64": True},
                       allow_private_urls=True, allow_insecure_tls=True)
    assert insecure == {"error": "source_verify_ssl: false is refused: this worker checks TLS certificates (an "
                                 "operator may allow it with ALLOW_INSECURE_TLS=1)"}
    assert "transparent output (the mark cut out, not repainted) is not supported" in transparent["error"]
    assert "error" not in allowed, allowed
