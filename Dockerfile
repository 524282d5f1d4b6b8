# syntax=docker/dockerfile:1
# RunPod serverless worker: Debian, ffmpeg built with NVENC, the Python requirements, the detector
# trained in this repo, and optional public weights in /models.
# Every stage starts from BASE_IMAGE, so the same file builds on a builder with Docker Hub
# (debian:bookworm-slim) and on one without it (`make image` imports a debootstrap rootfs of the
# same release). No CUDA base image: torch's wheels bring their own CUDA libraries and NVENC needs only
# the driver's, which the NVIDIA container runtime mounts as the variables below ask: `video` for
# NVENC, and NVIDIA_REQUIRE_CUDA the CUDA that requirements.txt's torch is built for, so a host with
# an older driver refuses the container instead of running it silently on the CPU.

ARG BASE_IMAGE=debian:bookworm-slim

# --- ffmpeg with NVENC and libx264, from Debian's source packages (docker/ffmpeg.sh) -------------
FROM ${BASE_IMAGE} AS ffmpeg
ARG FFMPEG_VERSION=7.1.5
ARG NV_CODEC_HEADERS=n12.1.14.0
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY docker/ffmpeg.sh /build/ffmpeg.sh
RUN bash /build/ffmpeg.sh /opt/ffmpeg && rm -rf /var/lib/apt/lists/*

# --- public weights (skip with --build-arg SKIP_WEIGHTS=1: YOLO then runs the repo's detector only,
# and inpainting uses OpenCV) ---------------------------------------------------------------------
FROM ${BASE_IMAGE} AS weights
ARG SKIP_WEIGHTS=0
ARG YOLO_MODEL_URL=https://github.com/linkedlist771/SoraWatermarkCleaner/releases/download/V0.0.1/best.pt
ARG LAMA_MODEL_URL=https://github.com/enesmsahin/simple-lama-inpainting/releases/download/v0.1.0/big-lama.pt
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN mkdir -p /models && if [ "${SKIP_WEIGHTS}" != "1" ]; then \
        apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
        && curl -fsSL -o /models/yolo.pt "${YOLO_MODEL_URL}" && curl -fsSL -o /models/big-lama.pt "${LAMA_MODEL_URL}"; \
    fi

# --- runtime -------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
ARG DEBIAN_FRONTEND=noninteractive
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 MODELS_DIR=/models YOLO_OFFLINE=1 \
    NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility,video NVIDIA_REQUIRE_CUDA=cuda>=13.0
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update && apt-get install -y --no-install-recommends \
        python3 python3-venv ca-certificates libx264-164 libmp3lame0 libopus0 libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:/opt/ffmpeg/bin:$PATH
WORKDIR /worker
COPY requirements.txt .
# A builder behind a TLS-inspecting proxy passes the CA bundle pip must trust as the secret `pip_cert`.
RUN --mount=type=secret,id=pip_cert,required=false \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi \
    && pip install --no-cache-dir -r requirements.txt
COPY --from=ffmpeg /opt/ffmpeg/bin /opt/ffmpeg/bin
COPY --from=weights /models /models
COPY app ./app
COPY models ./models
COPY handler.py ./
COPY test_input.json ./
CMD ["python", "-u", "handler.py"]
