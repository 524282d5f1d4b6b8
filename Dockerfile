# syntax=docker/dockerfile:1
# RunPod serverless worker: CUDA base, ffmpeg with NVENC, Python deps, weights baked into /models.
# CUDA_VERSION must match the CUDA that requirements.txt's torch wheel is built for (torch.version.cuda):
# the base image then declares the driver it needs (NVIDIA_REQUIRE_CUDA), and hosts with an older
# driver refuse the container instead of running it silently on the CPU. torch brings its own CUDA
# libraries, so the small `base` flavour is enough; NVENC needs only the driver's libraries.

ARG CUDA_VERSION=13.0.2
ARG UBUNTU_VERSION=22.04

# --- ffmpeg with NVENC (nv-codec-headers; no CUDA toolkit needed) and libx264 --------------------
# Static libav*; nothing autodetected, so the binary links the same libraries wherever it is built.
FROM ubuntu:${UBUNTU_VERSION} AS ffmpeg
ARG DEBIAN_FRONTEND=noninteractive
ARG FFMPEG_VERSION=7.1.5
ARG NV_CODEC_HEADERS=n12.1.14.0
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update && apt-get install -y --no-install-recommends \
        build-essential ca-certificates curl git nasm pkg-config libx264-dev libmp3lame-dev libopus-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
RUN git clone --depth 1 --branch "${NV_CODEC_HEADERS}" https://github.com/FFmpeg/nv-codec-headers.git \
    && make -C nv-codec-headers install \
    && curl -fsSL "https://ffmpeg.org/releases/ffmpeg-${FFMPEG_VERSION}.tar.xz" | tar -xJ
WORKDIR /build/ffmpeg-${FFMPEG_VERSION}
RUN ./configure --prefix=/opt/ffmpeg --disable-autodetect --enable-gpl --enable-ffnvcodec --enable-nvenc --enable-cuda \
        --enable-libx264 --enable-libmp3lame --enable-libopus --enable-zlib --disable-doc --disable-debug --disable-ffplay \
    && make -j"$(nproc)" && make install

# --- model weights (skip with --build-arg SKIP_WEIGHTS=1: the worker then runs weights-free) ------
FROM ubuntu:${UBUNTU_VERSION} AS weights
ARG DEBIAN_FRONTEND=noninteractive
ARG SKIP_WEIGHTS=0
ARG YOLO_MODEL_URL=https://github.com/linkedlist771/SoraWatermarkCleaner/releases/download/V0.0.1/best.pt
ARG LAMA_MODEL_URL=https://github.com/enesmsahin/simple-lama-inpainting/releases/download/v0.1.0/big-lama.pt
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
RUN mkdir -p /models && if [ "${SKIP_WEIGHTS}" != "1" ]; then \
        curl -fsSL -o /models/yolo.pt "${YOLO_MODEL_URL}" && curl -fsSL -o /models/big-lama.pt "${LAMA_MODEL_URL}"; \
    fi

# --- runtime -------------------------------------------------------------------------------------
FROM nvidia/cuda:${CUDA_VERSION}-base-ubuntu${UBUNTU_VERSION} AS runtime
ENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    MODELS_DIR=/models YOLO_OFFLINE=1 NVIDIA_DRIVER_CAPABILITIES=compute,utility,video
RUN apt-get update && apt-get install -y --no-install-recommends \
        python3.11 python3.11-venv ca-certificates libx264-163 libmp3lame0 libopus0 libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:/opt/ffmpeg/bin:$PATH
COPY --from=ffmpeg /opt/ffmpeg/bin /opt/ffmpeg/bin
WORKDIR /worker
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY --from=weights /models /models
COPY app ./app
COPY models ./models
COPY handler.py ./
CMD ["python", "-u", "handler.py"]
