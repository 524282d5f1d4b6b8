"""RunPod serverless entry point.

`python handler.py` runs `test_input.json` locally; `python handler.py --rp_serve_api
--rp_api_port 8000` serves RunPod's local HTTP API (/run, /runsync, /status).
"""

from __future__ import annotations

import os
from typing import Any

import runpod

from app import logs
from app.worker import Worker

logs.configure()


def _progress(job: dict, progress: dict) -> None:
    """Progress reaches RunPod only on RunPod (its webhook is set); locally it is just logged."""
    if os.environ.get("RUNPOD_WEBHOOK_POST_OUTPUT"):
        runpod.serverless.progress_update(job, progress)


WORKER = Worker(progress=_progress)
WORKER.warm_up()


def handler(job: dict[str, Any]) -> dict[str, Any]:
    return WORKER.run(job)


if __name__ == "__main__":
    runpod.serverless.start({"handler": handler})
