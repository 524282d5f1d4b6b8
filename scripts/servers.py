"""Real servers on loopback for tests and the soak benchmark: a file/HTTP server, moto S3, the RunPod local API."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not come up in {timeout}s")


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files from a directory, plus /status/<code>, /redirect-loop, /redirect?to=<url> (GET and PUT),
    /stall, /huge and /huge-chunked."""

    hits: list[str] = []
    requests_seen: list[tuple[str, dict[str, str]]] = []  # (host header, request headers) of every GET

    def log_message(self, *args) -> None:
        type(self).hits.append(self.path)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        type(self).requests_seen.append((self.headers.get("Host", ""), dict(self.headers)))
        if self.path.startswith("/status/"):
            self.send_error(int(self.path.rsplit("/", 1)[1]))
        elif self.path.startswith("/redirect?to="):
            self._redirect(302)
        elif self.path == "/redirect-loop":
            self.send_response(302)
            self.send_header("Location", "/redirect-loop")
            self.end_headers()
        elif self.path == "/stall":
            self.send_response(200)
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            self.wfile.write(b"\0" * 10)
            self.wfile.flush()
            time.sleep(8)
        elif self.path in ("/huge", "/huge-chunked"):
            self.send_response(200)
            if self.path == "/huge":
                self.send_header("Content-Length", str(50 * 1024**2))
            self.end_headers()
            try:
                for _ in range(50):
                    self.wfile.write(b"\0" * 1024**2)
            except (BrokenPipeError, ConnectionResetError):
                pass
        else:
            super().do_GET()

    def do_PUT(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path.startswith("/redirect?to="):
            self._redirect(307)
            return
        self.send_error(503 if self.path == "/put-fails" else 200)

    def _redirect(self, code: int) -> None:
        self.send_response(code)
        self.send_header("Location", urllib.parse.unquote(self.path.split("?to=", 1)[1]))
        self.send_header("Content-Length", "0")
        self.end_headers()


SEEN_REQUESTS = _Handler.requests_seen  # what every file server was sent: (Host header, headers) per GET


@contextmanager
def file_server(directory: Path, host: str = "127.0.0.1") -> Iterator[str]:
    handler = lambda *a, **k: _Handler(*a, directory=str(directory), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer((host, 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()


@contextmanager
def counting_listener(host: str = "127.0.0.1", port: int = 0) -> Iterator[tuple[str, list[int]]]:
    """A TCP port that only counts the connections it accepts (and closes them): a test asserts that
    nothing connected. Yields (http base URL, [count])."""
    sock = socket.create_server((host, port))
    sock.settimeout(0.2)
    count, done = [0], threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                conn, _ = sock.accept()
            except (TimeoutError, OSError):
                continue
            count[0] += 1
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{sock.getsockname()[1]}", count
    finally:
        done.set()
        thread.join(timeout=2)
        sock.close()


@contextmanager
def moto_server(authenticate: bool = False) -> Iterator[str]:
    """A real S3-compatible endpoint on loopback. With `authenticate`, moto checks every request's
    keys as IAM would (INITIAL_NO_AUTH_ACTION_COUNT=0): keys it was never given are refused."""
    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"} if authenticate else None
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def runpod_api(env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """`python handler.py --rp_serve_api` on a free port; yields (base URL, server pid)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "handler.py", "--rp_serve_api", "--rp_api_port", str(port)],
                            cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/docs", timeout=120)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=20)


class RunpodQueue:
    """RunPod's queue API for one endpoint (`POST /<id>/run`, `GET /<id>/status/<job>`,
    `POST /<id>/cancel/<job>`), serving each job on one worker: RunPod's local API of a second
    `handler.py` (`/runsync`), one job at a time, in submission order. The local API has no queue of
    its own (its /status runs the job inside the request), so this stands where RunPod's queue does.

    `faults` maps a part index (a split child's `part.index`) to how many of its attempts fail at
    once, as a lost worker would; a job cancelled while running ends CANCELLED when its worker is done.
    """

    def __init__(self, worker_url: str, endpoint_id: str, api_key: str, faults: dict[int, int] | None = None) -> None:
        self.worker_url, self.endpoint_id, self.api_key = worker_url, endpoint_id, api_key
        self.faults = dict(faults or {})
        self.jobs: dict[str, dict] = {}
        self.order: list[str] = []
        self.lock = threading.Lock()
        self.ready = threading.Condition(self.lock)

    def submit(self, body: dict) -> dict:
        with self.lock:
            job_id = f"job-{len(self.order) + 1}"
            part = (body.get("input") or {}).get("part") or {}
            record = {"id": job_id, "status": "IN_QUEUE", "input": body.get("input"), "policy": body.get("policy"),
                      "part": part.get("index")}
            if self.faults.get(part.get("index"), 0) > 0:
                self.faults[part["index"]] -= 1
                record.update(status="FAILED", error="injected fault: the worker running this job was lost")
            self.jobs[job_id] = record
            self.order.append(job_id)
            self.ready.notify_all()
            return {"id": job_id, "status": record["status"]}

    def status(self, job_id: str) -> dict | None:
        with self.lock:
            record = self.jobs.get(job_id)
            return None if record is None else {k: v for k, v in record.items() if k in ("id", "status", "output", "error")}

    def cancel(self, job_id: str) -> dict | None:
        with self.lock:
            record = self.jobs.get(job_id)
            if record is None:
                return None
            if record["status"] == "IN_QUEUE":
                record["status"] = "CANCELLED"
            elif record["status"] == "IN_PROGRESS":
                record["cancel"] = True
            return {"id": job_id, "status": record["status"]}

    def work(self, stop: threading.Event) -> None:
        while not stop.is_set():
            with self.lock:
                queued = [j for j in self.order if self.jobs[j]["status"] == "IN_QUEUE"]
                if not queued:
                    self.ready.wait(timeout=0.2)
                    continue
                record = self.jobs[queued[0]]
                record["status"] = "IN_PROGRESS"
            try:
                answer = requests.post(f"{self.worker_url}/runsync", json={"input": record["input"]}, timeout=900).json()
            except requests.RequestException as exc:
                answer = {"status": "FAILED", "error": f"worker unreachable: {type(exc).__name__}"}
            with self.lock:
                if record.pop("cancel", False):
                    record["status"] = "CANCELLED"
                else:
                    record.update({k: v for k, v in answer.items() if k in ("status", "output", "error")})


@contextmanager
def runpod_queue(worker_url: str, endpoint_id: str, api_key: str,
                 faults: dict[int, int] | None = None) -> Iterator[tuple[str, RunpodQueue]]:
    """A `RunpodQueue` on a free port; yields (base URL for `RUNPOD_ENDPOINT_BASE_URL`, the queue)."""
    queue = RunpodQueue(worker_url, endpoint_id, api_key, faults)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _answer(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self, method: str) -> None:
            if self.headers.get("Authorization") != f"Bearer {queue.api_key}":
                return self._answer(401, {"error": "unauthorized"})
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}") if length else {}
            parts = self.path.strip("/").split("/")
            if len(parts) < 2 or parts[0] != queue.endpoint_id:
                return self._answer(404, {"error": "no such endpoint"})
            if method == "POST" and parts[1:] == ["run"]:
                return self._answer(200, queue.submit(body))
            if len(parts) == 3 and (method, parts[1]) in (("GET", "status"), ("POST", "cancel")):
                found = queue.status(parts[2]) if parts[1] == "status" else queue.cancel(parts[2])
                return self._answer(200, found) if found else self._answer(404, {"error": "no such job"})
            return self._answer(404, {"error": "no such route"})

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._route("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._route("POST")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stop = threading.Event()
    threads = [threading.Thread(target=server.serve_forever, daemon=True),
               threading.Thread(target=queue.work, args=(stop,), daemon=True)]
    for thread in threads:
        thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", queue
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
