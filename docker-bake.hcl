# docker buildx bake: REGISTRY=docker.io/you IMAGE=watermark-worker RELEASE_VERSION=0.1.0 docker buildx bake --push
variable "REGISTRY" {
  default = "docker.io/your-namespace"
}

variable "IMAGE" {
  default = "watermark-remover-worker"
}

variable "RELEASE_VERSION" {
  default = "0.1.0"
}

variable "SKIP_WEIGHTS" {
  default = "0"
}

group "default" {
  targets = ["worker"]
}

target "worker" {
  context    = "."
  dockerfile = "Dockerfile"
  target     = "runtime"
  platforms  = ["linux/amd64"]
  args = {
    SKIP_WEIGHTS   = "${SKIP_WEIGHTS}"
    YOLO_MODEL_URL = "https://github.com/linkedlist771/SoraWatermarkCleaner/releases/download/V0.0.1/best.pt"
    LAMA_MODEL_URL = "https://github.com/enesmsahin/simple-lama-inpainting/releases/download/v0.1.0/big-lama.pt"
  }
  tags = [
    "${REGISTRY}/${IMAGE}:${RELEASE_VERSION}",
    "${REGISTRY}/${IMAGE}:latest",
  ]
}
