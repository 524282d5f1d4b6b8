# The two commands the README gives: `make demo` and `make test`.
PY := .venv/bin/python

.PHONY: setup demo test bench train image image-test

setup:
	bash scripts/setup.sh

demo: setup
	$(PY) -m app samples/sample.mp4 -o out/sample_clean.mp4 --report out/sample_report.json

# The suite with Debian's ffmpeg, then the ffmpeg-facing tests again with the image's ffmpeg
# (the Dockerfile's ffmpeg stage, built here without Docker by scripts/ffmpeg_stage.sh).
IMAGE_FFMPEG_TESTS := tests/test_media.py tests/test_pipeline.py tests/test_reliability.py tests/test_handler.py

test: setup
	$(PY) -m pytest -q tests
	bin=$$(bash scripts/ffmpeg_stage.sh) && "$$bin/ffmpeg" -hide_banner -version | head -1 \
		&& PATH="$$bin:$$PATH" $(PY) -m pytest -q $(IMAGE_FFMPEG_TESTS)

bench: setup
	$(PY) -m bench.run

# Rebuild the synthetic dataset and train the shipped watermark detector (models/), about an hour on 2 cores.
train: setup
	$(PY) -m training

# The worker image from the Dockerfile: docker buildx bake where a Docker engine runs, else podman
# (installed when missing) on a debootstrap base of the same Debian release. Then checked from inside.
image:
	bash scripts/image.sh

image-test: setup image
	bash scripts/image_test.sh
