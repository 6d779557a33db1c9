"""Fixtures for the weights tests: a real HTTP server on 127.0.0.1 and a temp registry/cache.

The server runs ``http.server`` in a thread; each path has a behaviour the test chooses
(serve bytes, fail with a status, fail N times then serve, truncate the body, stall, stream
slowly) and every GET is counted, so tests can assert how many downloads really happened.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import pytest


@dataclass
class Route:
    """What the server does for one path; ``n`` is the 0-based index of this request."""

    data: bytes = b""
    status: int = 200
    fail_first: int = 0  # answer the first N requests with ``status``; then serve data (200)
    truncate_at: int | None = None  # send only this many bytes, then close
    stall_s: float = 0.0  # wait before answering
    chunk: int = 0  # stream in chunks of this size...
    delay_s: float = 0.0  # ...sleeping this long between chunks


@dataclass
class Server:
    """Handle on the running test server."""

    port: int
    routes: dict[str, Route] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, **kwargs) -> str:
        """Register a behaviour for ``path``; returns its URL."""
        self.routes[path] = Route(**kwargs)
        return self.url(path)

    def count(self, path: str) -> int:
        with self.lock:
            return self.counts[path]


def _make_handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

        def _sleep(self, seconds: float) -> bool:
            """Sleep unless the server is stopping; False when stopping."""
            return not server.stop.wait(seconds)

        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            with server.lock:
                n = server.counts[self.path]
                server.counts[self.path] += 1
            route = server.routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            if route.stall_s and not self._sleep(route.stall_s):
                return
            if route.status != 200 and n >= route.fail_first > 0:
                status = 200
            else:
                status = route.status
            if status != 200:
                self.send_error(status)
                return
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(route.data)))
                self.end_headers()
                body = route.data if route.truncate_at is None else route.data[: route.truncate_at]
                step = route.chunk or len(body) or 1
                for start in range(0, len(body), step):
                    self.wfile.write(body[start : start + step])
                    self.wfile.flush()
                    if route.delay_s and not self._sleep(route.delay_s):
                        return
                self.close_connection = True
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


@pytest.fixture
def http_server():
    """A threaded HTTP server on 127.0.0.1 with per-path behaviours (see :class:`Route`)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    httpd.daemon_threads = True
    httpd.block_on_close = False
    server = Server(port=httpd.server_address[1])
    httpd.RequestHandlerClass = _make_handler(server)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def closed_port() -> int:
    """A localhost port with nothing listening (connection refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def weights_env(tmp_path, monkeypatch) -> dict[str, str]:
    """Temp registry path + temp cache + fast timeouts; returns the variables set."""
    env = {
        "HCA_DISC_LABEL_HOME": str(tmp_path / "cache"),
        "HCA_DISC_LABEL_REGISTRY": str(tmp_path / "registry" / "registry.json"),
        "HCA_DISC_LABEL_CONNECT_TIMEOUT": "1",
        "HCA_DISC_LABEL_READ_TIMEOUT": "0.5",
        "HCA_DISC_LABEL_RETRIES": "2",
        "HCA_DISC_LABEL_BACKOFF": "0.01",
        "HCA_DISC_LABEL_LOCK_TIMEOUT": "60",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    for key in ("HCA_DISC_LABEL_OFFLINE", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "registry").mkdir()
    return env


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def model_info(name: str = "remote", version: str = "1.0.0") -> dict:
    """The card/registry fields every test model shares (tiny, valid)."""
    return {
        "description": f"test model {name}",
        "contrasts": ["t1", "t2"],
        "architecture": {"stacks": 1, "channels": 8},
        "channel_values": [3, 4, 5],
        "input": {"pixel_spacing_mm": 1.0, "slab_thickness_mm": 6.0, "normalisation": "percentile",
                  "low_percentile": 1.0, "high_percentile": 99.0, "size_multiple": 16,
                  "output_stride": 4, "heatmap_sigma_px": 1.5},
        "training_data": "synthetic",
        "validation": {"dtt_mm": 1.0},
        "licence": "MIT",
        "release_notes": "test",
    }


def make_entry(name: str, version: str, files: list[tuple[str, str, bytes, list[str]]], *,
               default_for: list[str] | None = None, embedded: str | None = None) -> dict:
    """A registry entry; ``files`` = [(role, filename, data, urls)]."""
    fmt = {"weights": "torch-state-dict", "onnx": "onnx", "card": "json"}
    entry = {"name": name, "version": version, "default_for": default_for or [], "embedded": embedded,
             "files": [{"role": r, "filename": fn, "format": fmt[r], "sha256": sha(d), "size": len(d), "urls": u}
                       for r, fn, d, u in files]}
    entry.update(model_info(name, version))
    return entry


def write_registry(env: dict[str, str], entries: list[dict]) -> Path:
    path = Path(env["HCA_DISC_LABEL_REGISTRY"])
    path.write_text(json.dumps({"schema": 1, "models": entries}, indent=1))
    return path


@pytest.fixture
def registry_writer(weights_env) -> Callable[[list[dict]], Path]:
    return lambda entries: write_registry(weights_env, entries)


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def cache_root(env: dict[str, str]) -> Path:
    return Path(env["HCA_DISC_LABEL_HOME"])


def files_under(root: Path) -> list[str]:
    """Relative paths of every file under root (for 'nothing installed' checks)."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.name.endswith(".lock"))


@pytest.fixture
def helpers() -> SimpleNamespace:
    """The helper functions above, for test modules (conftest is not imported directly)."""
    return SimpleNamespace(sha=sha, model_info=model_info, make_entry=make_entry, wait_for=wait_for,
                           files_under=files_under, cache_root=cache_root)
