"""The whole pipeline as separate processes: SANDBOX servers + the services (demo and e2e tests).

Every process is started with ``sys.executable -m …``, logs to ``<run_dir>/<name>.log`` and has its
PID in ``<run_dir>/<name>.pid``. The services are configured exactly as in production, pointed at the
sandboxes (:mod:`zoomsymbl_sandbox.stack_config`). Nothing here is imported by a service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

from zoomsymbl_sandbox.stack_config import HOST, StackConfig, llm_sandbox_config, service_env, tenant_document

SERVICES = ("ingest", "mixer", "submitter", "notifier", "transcriber", "web")
SANDBOXES = ("zoom", "symbl", "assemblyai", "llm", "otlp")


@contextlib.contextmanager
def running_stack(config: StackConfig) -> Iterator[Stack]:
    """A started :class:`Stack` (stopped again on the way out, also when the start fails)."""
    stack = Stack(config)
    try:
        asyncio.run(stack.start())
        yield stack
    finally:
        stack.stop()


class Stack:
    """Starts, watches, kills and stops the processes of one pipeline."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def write_configs(self) -> None:
        """Tenants file and sandbox configs into the run dir."""
        run = self.config.run_dir
        run.mkdir(parents=True, exist_ok=True)
        (run / "tenants.json").write_text(json.dumps(tenant_document(self.config), indent=2))
        for name in ("zoom", "symbl", "assemblyai"):
            (run / f"{name}.json").write_text(json.dumps(getattr(self.config, name), default=str))
        (run / "llm.json").write_text(json.dumps(llm_sandbox_config(self.config)))

    def spawn(self, name: str) -> None:
        """Start process ``name`` (a sandbox or a service)."""
        run = self.config.run_dir
        if name in SANDBOXES:
            argv = [sys.executable, "-m", "zoomsymbl_sandbox", name, "--port", str(self.config.port(name))]
            if name != "otlp":
                argv += ["--config", str(run / f"{name}.json")]
            env = {**os.environ, **self.config.env}
        else:
            own = service_env(self.config, name)
            command = self.config.service_command
            argv = command(name, own) if command is not None else [sys.executable, "-m", f"zoomsymbl_{name}"]
            env = {**os.environ, **own}
        log = (run / f"{name}.log").open("ab")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        log.close()
        self.procs[name] = proc
        (run / f"{name}.pid").write_text(str(proc.pid))

    async def wait_ready(self, name: str, timeout: float = 90.0) -> None:
        """Wait until ``name`` answers (``/readyz`` for services, any HTTP answer for sandboxes)."""
        paths = {"zoom": "/_sandbox/stats", "otlp": "/spans"}
        path = "/readyz" if name in SERVICES else paths.get(name, "/healthz")
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                proc = self.procs.get(name)
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.log(name)}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(self.config.url(name) + path, timeout=aiohttp.ClientTimeout(2)) as r:
                        if r.status < 500 or name not in SERVICES:
                            return
                await asyncio.sleep(0.3)
        raise TimeoutError(f"{name} not ready after {timeout:.0f}s; see {self.log(name)}")

    def log(self, name: str) -> Path:
        """The log file of process ``name``."""
        return self.config.run_dir / f"{name}.log"

    async def start(self, *, services: tuple[str, ...] = SERVICES) -> None:
        """Write configs, start the sandboxes, then the services; wait until all answer."""
        self.write_configs()
        self.create_topics()
        for name in SANDBOXES:
            self.spawn(name)
        await asyncio.gather(*(self.wait_ready(name) for name in SANDBOXES))
        for name in services:
            self.spawn(name)
        await asyncio.gather(*(self.wait_ready(name) for name in services))

    def create_topics(self) -> None:
        """Create every topic (and its .dlq) before any consumer subscribes, as the chart's Job does."""
        bootstrap = self.config.env.get("ZOOMSYMBL_KAFKA_BOOTSTRAP") or os.environ.get(
            "ZOOMSYMBL_KAFKA_BOOTSTRAP", f"{HOST}:{os.environ.get('ZS_KAFKA_PORT', '19092')}"
        )
        args = ["-m", "zoomsymbl_common.ops.cli", "topics", "create", "--bootstrap", bootstrap]
        args += ["--prefix", self.config.topic_prefix, "--partitions", "3", "--replication", "1"]
        subprocess.run([sys.executable, *args], check=True, timeout=120, capture_output=True)

    def kill(self, name: str) -> None:
        """``kill -9`` process ``name``."""
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    async def restart(self, name: str) -> None:
        """Start ``name`` again after a kill and wait until it is ready."""
        self.spawn(name)
        await self.wait_ready(name)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM every process, services first; SIGKILL what is still alive after ``timeout``."""
        order = [n for n in (*SERVICES, *SANDBOXES) if n in self.procs]
        for name in order:
            if self.procs[name].poll() is None:
                self.procs[name].send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name in order:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.procs[name].wait(timeout=max(0.1, deadline - time.monotonic()))
            if self.procs[name].poll() is None:
                self.procs[name].kill()
                self.procs[name].wait(timeout=10)
            (self.config.run_dir / f"{name}.pid").unlink(missing_ok=True)

    async def trigger_recording_completed(
        self, meeting_uuid: str, *, tenant_path: bool = True, tenant: str | None = None
    ) -> int:
        """Make the Zoom sandbox deliver a signed ``recording.completed`` to ingest; returns ingest's status."""
        return await self._trigger("recording-completed", meeting_uuid, tenant_path=tenant_path, tenant=tenant)

    async def trigger_transcript_completed(self, meeting_uuid: str, *, tenant: str | None = None) -> int:
        """Make the Zoom sandbox deliver a signed ``recording.transcript_completed`` (a meeting whose spec has
        ``transcript``) to ingest; returns ingest's status."""
        return await self._trigger("transcript-completed", meeting_uuid, tenant_path=True, tenant=tenant)

    async def add_phone_call(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Record a Zoom Phone call (a ``PhoneCallSpec`` as JSON) in the Zoom sandbox; its ``recordings[]`` entry."""
        async with aiohttp.ClientSession() as session:
            async with session.post(
                self.config.url("zoom") + "/_sandbox/phone/calls", json=spec, timeout=aiohttp.ClientTimeout(120)
            ) as response:
                body: dict[str, Any] = await response.json()
                if response.status != 201:
                    raise RuntimeError(f"zoom sandbox refused the call: {response.status} {body}")
                return body

    async def trigger_phone_recording_completed(self, recording_id: str, *, tenant: str | None = None) -> int:
        """Make the Zoom sandbox deliver a signed ``phone.recording_completed`` to ingest; returns ingest's status."""
        target = self.config.url("ingest") + "/webhooks/zoom/" + (tenant or self.config.tenant)
        return await self._order("phone-recording-completed", {"recording_id": recording_id, "target_url": target})

    async def _trigger(self, route: str, meeting_uuid: str, *, tenant_path: bool, tenant: str | None) -> int:
        target = self.config.url("ingest") + (
            "/webhooks/zoom/" + (tenant or self.config.tenant) if tenant_path else "/webhooks/zoom"
        )
        return await self._order(route, {"meeting_uuid": meeting_uuid, "target_url": target})

    async def _order(self, route: str, order: dict[str, str]) -> int:
        """Ask the Zoom sandbox to deliver one webhook now; ingest's HTTP status."""
        async with aiohttp.ClientSession() as session:
            async with session.post(
                self.config.url("zoom") + f"/_sandbox/webhooks/{route}", json=order, timeout=aiohttp.ClientTimeout(30)
            ) as response:
                body = await response.json()
                if response.status != 200:
                    raise RuntimeError(f"zoom sandbox refused: {response.status} {body}")
                return int(body["status"])

    async def spans(self) -> list[dict[str, Any]]:
        """Every span the OTLP receiver got so far."""
        async with aiohttp.ClientSession() as session:
            async with session.get(self.config.url("otlp") + "/spans") as response:
                data: list[dict[str, Any]] = await response.json()
                return data

    async def sandbox_stats(self, name: str) -> dict[str, Any]:
        """``GET /_sandbox/stats`` of a sandbox."""
        async with aiohttp.ClientSession() as session:
            async with session.get(self.config.url(name) + "/_sandbox/stats") as response:
                data: dict[str, Any] = await response.json()
                return data
