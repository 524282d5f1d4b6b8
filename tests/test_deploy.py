"""Deployment files: linted, consistent with each other, and the release script behaves."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from app.config import Settings

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()
BAKE = (ROOT / "docker-bake.hcl").read_text()


def test_dockerfile_passes_hadolint() -> None:
    done = subprocess.run([str(BIN / "hadolint"), "Dockerfile"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_shell_scripts_pass_shellcheck() -> None:
    scripts = ["scripts/setup.sh", "scripts/ffmpeg_stage.sh", "scripts/image.sh", "scripts/image_test.sh",
               "docker/ffmpeg.sh", "rebuild_and_push.sh", ".ci/run"]
    done = subprocess.run([str(BIN / "shellcheck"), *scripts], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_bake_targets_and_args_exist_in_the_dockerfile() -> None:
    stages = set(re.findall(r"^FROM \S+ AS (\S+)$", DOCKERFILE, re.M))
    targets = re.findall(r'^\s*target\s*=\s*"([^"]+)"', BAKE, re.M)
    assert targets and set(targets) <= stages
    declared = set(re.findall(r"^ARG (\w+)", DOCKERFILE, re.M))
    args_block = re.search(r"args\s*=\s*\{(.*?)\}", BAKE, re.S)
    assert args_block is not None
    passed = set(re.findall(r"^\s*(\w+)\s*=", args_block.group(1), re.M))
    assert passed and passed <= declared
    assert re.search(r'platforms\s*=\s*\["linux/amd64"\]', BAKE)
    assert '"${REGISTRY}/${IMAGE}:${RELEASE_VERSION}"' in BAKE and '"${REGISTRY}/${IMAGE}:latest"' in BAKE
    for name in ("REGISTRY", "IMAGE", "RELEASE_VERSION"):
        assert f'variable "{name}"' in BAKE


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_image_and_hub_ask_for_the_cuda_that_torch_is_built_for() -> None:
    """torch built for CUDA 13 on a host whose driver knows only CUDA 12 quietly runs on the CPU: the
    image asks the NVIDIA runtime for a driver of torch's CUDA, and for the video capability (NVENC)."""
    import torch

    wanted = version_tuple(torch.version.cuda)
    required = re.search(r"NVIDIA_REQUIRE_CUDA=cuda>=(\S+)", DOCKERFILE)
    assert required is not None and version_tuple(required.group(1))[:2] == wanted[:2]
    capabilities = re.search(r"NVIDIA_DRIVER_CAPABILITIES=(\S+)", DOCKERFILE)
    assert capabilities is not None and {"compute", "utility", "video"} <= set(capabilities.group(1).split(","))
    hub = json.loads((ROOT / ".runpod" / "hub.json").read_text())["config"]
    tests = json.loads((ROOT / ".runpod" / "tests.json").read_text())["config"]
    assert hub["allowedCudaVersions"] == tests["allowedCudaVersions"]
    assert hub["allowedCudaVersions"] and all(version_tuple(v) >= wanted for v in hub["allowedCudaVersions"])


def test_every_stage_starts_from_the_one_base_the_bake_file_leaves_at_its_default() -> None:
    """`make image` here swaps only BASE_IMAGE (for a debootstrap rootfs of the same release); the
    release build (bake) must build the very same stages from the default base."""
    froms = re.findall(r"^FROM (\S+) AS \S+$", DOCKERFILE, re.M)
    assert froms and set(froms) == {"${BASE_IMAGE}"}
    default = re.search(r"^ARG BASE_IMAGE=debian:([a-z]+)-slim$", DOCKERFILE, re.M)
    assert default is not None
    assert "BASE_IMAGE" not in BAKE
    assert 'dockerfile = "Dockerfile"' in BAKE


def test_dockerfile_installs_exactly_requirements_txt() -> None:
    installs = re.findall(r"pip install[^\n]*", DOCKERFILE)
    assert installs == ["pip install --no-cache-dir -r requirements.txt"]
    assert "COPY requirements.txt ." in DOCKERFILE
    assert 'CMD ["python", "-u", "handler.py"]' in DOCKERFILE
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"tests", "samples", ".venv", ".cache"} <= set(ignored)


def shipped_imports() -> set[str]:
    """Top-level modules imported by what the image ships (app/ and handler.py), stdlib and app left out."""
    found: set[str] = set()
    for path in [ROOT / "handler.py", *(ROOT / "app").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"app", "__future__"}


def installed_by(names: set[str]) -> set[str]:
    """The distributions `names` install, with their dependencies (extras left out), normalised."""
    seen: set[str] = set()
    todo = [canonicalize_name(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for spec in importlib.metadata.requires(name) or []:
            requirement = Requirement(spec)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(requirement.name))
    return seen


def test_the_image_installs_everything_the_shipped_code_imports() -> None:
    """The image installs requirements.txt only (dev tools are not there): every import must come from it."""
    listed = {Requirement(line).name for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    available = installed_by(listed)
    providers = importlib.metadata.packages_distributions()
    missing = {module: providers.get(module) for module in shipped_imports()
               if not {canonicalize_name(d) for d in providers.get(module, [])} & available}
    assert not missing, f"imported by app/ but not installed by requirements.txt: {missing}"
    assert {"torch", "ultralytics", "simple_lama_inpainting", "runpod", "boto3", "cv2"} <= shipped_imports()


@pytest.fixture
def fake_docker(tmp_path: Path) -> Path:
    """A `docker` on PATH that records its arguments and answers `imagetools inspect` with a digest."""
    log = tmp_path / "docker.log"
    stub = tmp_path / "bin" / "docker"
    stub.parent.mkdir()
    stub.write_text(f'#!/bin/sh\necho "$@" >> {log}\ncase "$*" in *"imagetools inspect"*) echo \'"sha256:abc123"\';; esac\n')
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    return log


def run_release(fake_docker: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{fake_docker.parent / 'bin'}:{os.environ['PATH']}", "REGISTRY": "registry.test/me"}
    return subprocess.run(["bash", "rebuild_and_push.sh", *args], cwd=ROOT, env=env, capture_output=True, text=True)


def test_release_script_builds_pushes_and_prints_the_digest(fake_docker: Path) -> None:
    version = re.search(r'variable "RELEASE_VERSION" \{\s*default = "([^"]+)"', BAKE).group(1)
    done = run_release(fake_docker)
    assert done.returncode == 0, done.stderr
    calls = fake_docker.read_text().splitlines()
    assert calls[0] == "buildx bake --push worker"
    assert f"registry.test/me/watermark-remover-worker:{version}" in done.stdout
    assert "RunPod template image: registry.test/me/watermark-remover-worker@sha256:abc123" in done.stdout
    assert not any(word in call for call in calls for word in ("prune", " rm", "stop", "kill"))


def test_release_script_prunes_only_when_asked(fake_docker: Path) -> None:
    assert run_release(fake_docker, "--prune").returncode == 0
    assert any("buildx prune" in call for call in fake_docker.read_text().splitlines())
    assert run_release(fake_docker, "--bogus").returncode == 2


def test_hub_metadata_lists_the_worker_settings() -> None:
    hub = json.loads((ROOT / ".runpod" / "hub.json").read_text())
    assert hub["type"] == "serverless" and hub["config"]["runsOn"] == "GPU"
    keys = {e["key"] for e in hub["config"]["env"]}
    assert {"BUCKET_ENDPOINT_URL", "BUCKET_ACCESS_KEY_ID", "BUCKET_SECRET_ACCESS_KEY", "BUCKET_NAME"} <= keys
    assert all(e["input"]["description"] for e in hub["config"]["env"])
    assert keys <= set(Settings.model_fields) | {name.upper() for name in Settings.model_fields}


def runtime_stage() -> str:
    """The Dockerfile's runtime stage with continuation lines joined."""
    stage = DOCKERFILE.split(" AS runtime\n", 1)[1]
    return re.sub(r"\\\n\s*", " ", stage)


def test_the_images_files_and_env_run_each_hub_test_job(tmp_path: Path) -> None:
    """What the runtime stage copies from the repo, with its ENV, the Hub's env defaults ("" for the
    optional ones) and CMD, runs the Hub's test jobs (as an image built with SKIP_WEIGHTS: /models is
    empty here): nothing the worker needs is left out, and the Hub's defaults do not stop it."""
    stage = runtime_stage()
    workdir = tmp_path / "worker"
    workdir.mkdir()
    for source, target in re.findall(r"^COPY (?!--)(\S+) (\S+)$", stage, re.M):
        origin, destination = ROOT / source, workdir / target
        if origin.is_dir():
            shutil.copytree(origin, destination, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(origin, destination)
    image_env = dict(pair.split("=", 1) for line in re.findall(r"^ENV (.+)$", stage, re.M) for pair in shlex.split(line))
    image_env = {k: v for k, v in image_env.items() if "$" not in v and not v.startswith("/opt/")}  # not the image's paths
    hub = json.loads((ROOT / ".runpod" / "hub.json").read_text())["config"]["env"]
    env = {**os.environ, **image_env, **{e["key"]: e["input"]["default"] for e in hub}}
    assert env["MODELS_DIR"] == "/models" and env["YOLO_OFFLINE"] == "1"
    command = json.loads(re.search(r"^CMD (\[.*\])$", stage, re.M).group(1))
    assert command[0] == "python"
    tests = json.loads((ROOT / ".runpod" / "tests.json").read_text())
    for case in tests["tests"]:
        job = json.dumps({"id": case["name"], "input": case["input"]})
        done = subprocess.run([sys.executable, *command[1:], "--test_input", job], cwd=workdir, env=env,
                              capture_output=True, text=True, timeout=case["timeout"] / 1000)
        said = done.stdout + done.stderr
        assert done.returncode == 0, said[-3000:]
        assert f"Job {case['name']} completed successfully" in said
        assert int(re.search(r"'frames': (\d+)", said).group(1)) > 0 and "'video_base64': '" in said
