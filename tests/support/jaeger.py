"""A real Jaeger for a test, started and stopped by the project's own script (scripts/jaeger.sh).

Each Jaeger gets free loopback ports and a run folder of its own (``JAEGER_RUN_DIR``), so a test neither
meets nor stops the Jaeger that ``make demo JAEGER=1`` runs. Without the build (``make jaeger-build``)
:func:`running_jaeger` skips the test and says how to build it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BINARY = ROOT / ".cache" / "jaeger" / "bin" / "jaeger"
SCRIPT = ROOT / "scripts" / "jaeger.sh"
PORT_NAMES = ("OTLP_HTTP", "OTLP_GRPC", "QUERY", "QUERY_GRPC", "HEALTH")


@dataclass(frozen=True)
class Jaeger:
    """Where one running Jaeger listens."""

    ports: dict[str, int]

    @property
    def otlp_http(self) -> str:
        """The OTLP/HTTP base URL (what ``OTEL_EXPORTER_OTLP_ENDPOINT`` names)."""
        return f"http://127.0.0.1:{self.ports['OTLP_HTTP']}"

    @property
    def query(self) -> str:
        """The query API base URL, the one Grafana's Jaeger data source reads."""
        return f"http://127.0.0.1:{self.ports['QUERY']}"

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        """``GET /api/traces/<id>``: the trace as the query API returns it, None while Jaeger has none of it."""
        try:
            (found,) = get_json(f"{self.query}/api/traces/{trace_id}")["data"]
        except urllib.error.HTTPError as exc:
            if exc.code == 404:  # nothing ingested yet: Jaeger's batch processor flushes asynchronously
                return None
            raise
        trace: dict[str, Any] = found
        return trace


def get_json(url: str, body: dict[str, Any] | None = None) -> Any:
    """GET (or POST ``body`` as JSON to) a loopback URL; the decoded answer."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (a loopback http URL built here)
        return json.loads(response.read() or b"null")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def running_jaeger(run_dir: Path) -> Iterator[Jaeger]:
    """``scripts/jaeger.sh up`` on free ports with ``run_dir`` for its PID and log; ``down`` on the way out."""
    if not BINARY.is_file():
        pytest.skip(f"{BINARY.relative_to(ROOT)} is missing: run `make jaeger-build` (scripts/jaeger.sh build)")
    ports = {name: _free_port() for name in PORT_NAMES}
    env = {**os.environ, "JAEGER_RUN_DIR": str(run_dir)}
    env |= {f"JAEGER_{name}_PORT": str(port) for name, port in ports.items()}

    def script(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(SCRIPT), command], capture_output=True, text=True, timeout=90, env=env, cwd=ROOT
        )

    try:
        up = script("up")
        if up.returncode != 0:
            pytest.fail(f"scripts/jaeger.sh up failed:\n{up.stderr}")
        yield Jaeger(ports)
    finally:
        script("down")
