"""Child jobs on the endpoint's own queue, through the RunPod SDK's API client: submit, follow,
retry a failed or timed-out child once, cancel the rest when the parent gives up."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from loguru import logger
from runpod.endpoint.runner import RunPodClient

from app.errors import WatermarkRemovalError

ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"}
ATTEMPTS = 2  # a failed or timed-out child is run once more
CANCEL_GRACE_S = 120.0


class SplitError(WatermarkRemovalError):
    """A split job could not finish: names the part and the child's error."""


class EndpointQueue:
    """The endpoint's job API (`/run`, `/status`, `/cancel`), with the SDK's client (its key, base
    URL `RUNPOD_ENDPOINT_BASE_URL` and retries)."""

    def __init__(self, endpoint_id: str, api_key: str) -> None:
        self.endpoint_id = endpoint_id
        self.client = RunPodClient(api_key=api_key)

    def submit(self, job_input: dict[str, Any], timeout_s: float) -> str:
        """Queue a job; RunPod stops it after `timeout_s` (its execution timeout policy)."""
        answer = self.client.post(f"{self.endpoint_id}/run",
                                  {"input": job_input, "policy": {"executionTimeout": int(timeout_s * 1000)}}, timeout=30)
        return str(answer["id"])

    def status(self, job_id: str) -> dict[str, Any]:
        return self.client.get(f"{self.endpoint_id}/status/{job_id}", timeout=30)

    def cancel(self, job_id: str) -> None:
        self.client.post(f"{self.endpoint_id}/cancel/{job_id}", {}, timeout=30)


@dataclass
class Child:
    index: int
    job_input: dict[str, Any]
    job_id: str = ""
    attempts: int = 0
    started: float = 0.0
    output: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)


def _reason(state: dict[str, Any]) -> str:
    """The child's own error message, else its status."""
    output = state.get("output")
    error = state.get("error") or (output.get("error") if isinstance(output, dict) else None)
    return str(error or state.get("status") or "no answer")[:500]


def run_children(queue: EndpointQueue, inputs: list[dict[str, Any]], part_timeout_s: float, deadline: float,
                 poll_s: float, progress: Callable[[int, int], None]) -> list[Child]:
    """Run one child per input and return them completed, in order. Raises `SplitError` when a child
    fails twice or the parent's `deadline` (a `time.monotonic()` value) passes; either way every
    child still queued or running is cancelled first."""
    children = [Child(i, job_input) for i, job_input in enumerate(inputs)]
    count = len(children)

    def start(child: Child) -> None:
        child.attempts += 1
        try:
            child.job_id = queue.submit(child.job_input, part_timeout_s)
        except (requests.RequestException, RuntimeError, KeyError) as exc:
            raise SplitError(f"cannot submit part {child.index + 1} of {count} to endpoint {queue.endpoint_id}: "
                             f"{exc if isinstance(exc, RuntimeError) else type(exc).__name__}") from exc
        child.started = time.monotonic()
        logger.info("Split: part {}/{} submitted as job {} (attempt {})", child.index + 1, count, child.job_id,
                    child.attempts)

    reported = -1
    try:
        for child in children:
            start(child)
        while pending := [c for c in children if c.output is None]:
            if time.monotonic() > deadline:
                raise SplitError(f"split job passed its deadline with {len(pending)} of {count} parts unfinished "
                                 f"(parts {', '.join(str(c.index + 1) for c in pending)})")
            for child in pending:
                _follow(queue, child, count, part_timeout_s, start)
            if (done := sum(c.output is not None for c in children)) != reported:
                progress(done, count)
                reported = done
            if done < count:
                time.sleep(poll_s)
        return children
    except BaseException:
        cancelled = []
        for child in children:
            if child.output is None and child.job_id:
                try:
                    queue.cancel(child.job_id)
                    cancelled.append(child.job_id)
                    logger.warning("Split: cancelled part {}/{} (job {})", child.index + 1, count, child.job_id)
                except (requests.RequestException, RuntimeError) as exc:
                    logger.warning("Split: could not cancel job {}: {}", child.job_id, type(exc).__name__)
        _settle(queue, cancelled, CANCEL_GRACE_S, poll_s)
        raise


def _settle(queue: EndpointQueue, job_ids: list[str], grace_s: float, poll_s: float) -> None:
    """Wait (up to `grace_s`) for cancelled children to end: one that was already running may still
    upload its part, which must land before the parent deletes the intermediate objects."""
    until = time.monotonic() + grace_s
    waiting = list(job_ids)
    while waiting and time.monotonic() < until:
        try:
            waiting = [j for j in waiting if queue.status(j).get("status") not in ENDED]
        except (requests.RequestException, ValueError):
            pass
        if waiting:
            time.sleep(poll_s)


def _follow(queue: EndpointQueue, child: Child, count: int, part_timeout_s: float,
            start: Callable[[Child], None]) -> None:
    """One look at a child: done, still going, or failed (then retried once, else `SplitError`)."""
    try:
        state = queue.status(child.job_id)
    except (requests.RequestException, ValueError) as exc:
        logger.warning("Split: status of job {} unavailable ({}); asking again", child.job_id, type(exc).__name__)
        return
    status = state.get("status")
    if status == "COMPLETED":
        output = state.get("output")
        if isinstance(output, dict) and not output.get("error"):
            child.output = output
            logger.info("Split: part {}/{} done ({} frames)", child.index + 1, count, output.get("frames"))
            return
        reason = f"completed without a result ({_reason(state)})"
    elif status in ENDED:
        reason = _reason(state)
    elif time.monotonic() - child.started > part_timeout_s:
        reason = f"no result within {part_timeout_s:.0f}s"
        try:
            queue.cancel(child.job_id)
        except (requests.RequestException, RuntimeError):
            pass
    else:
        return
    child.errors.append(reason)
    if child.attempts >= ATTEMPTS:
        raise SplitError(f"part {child.index + 1} of {count} failed {child.attempts} times; last error: {reason}")
    logger.warning("Split: part {}/{} (job {}) failed: {}; retrying once", child.index + 1, count, child.job_id, reason)
    start(child)
