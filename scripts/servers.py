"""Real servers on loopback for tests and the soak benchmark: a file/HTTP server, moto S3, the RunPod local API."""

from __future__ import annotations

import http.server
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
