"""The whole pipeline as separate processes: SANDBOX servers + the services (demo and e2e tests).

Every process is started with ``sys.executable -m …``, logs to ``<run_dir>/<name>.log`` and has its
PID in ``<run_dir>/<name>.pid``. The services are configured exactly as in production — environment
variables and a tenants file — except that the tenant's Zoom and provider base URLs point at the
sandboxes. Nothing here is imported by a service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp

SERVICES = ("ingest", "mixer", "submitter", "notifier", "transcriber", "web")
SANDBOXES = ("zoom", "symbl", "assemblyai", "llm", "otlp")
HOST = "127.0.0.1"
CALLBACK_SECRET = "stack-callback-secret-0123456789"  # noqa: S105 - sandbox-only value
PAGE_KEY = "stack-page-key-0123456789abcdef"  # sandbox-only: signs (notifier) and opens (web) the meeting pages


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class StackConfig:
    """Where and how the stack runs."""

    run_dir: Path
    topic_prefix: str = ""
    database: str = "zoomsymbl"
    bucket: str = "zoomsymbl"
    tenant: str = "demo"
    provider: Literal["symbl", "assemblyai"] | None = None  # None: the tenant names none (the default applies)
    smtp_port: int = int(os.environ.get("ZS_SMTP_PORT", "2525"))
    page_key: str = "stack-page-key-0123456789abcdef"  # signs and verifies meeting-page links (notifier, web)
    zoom: dict[str, Any] = field(default_factory=dict)
    symbl: dict[str, Any] = field(default_factory=dict)
    assemblyai: dict[str, Any] = field(default_factory=dict)
    # The LLM sandbox: by default AssemblyAI's LLM Gateway (raw AssemblyAI key); {"auth": "bearer", ...}
    # plus tenant_overrides {"llm_api_key", "llm_auth_scheme": "bearer"} imitates a self-hosted server.
    llm: dict[str, Any] = field(default_factory=dict)
    tenant_overrides: dict[str, Any] = field(default_factory=dict)
    # More tenants on the same sandboxes: each is the base tenant with these overrides (must include "id").
    extra_tenants: list[dict[str, Any]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    # How a service is started: None runs ``python -m zoomsymbl_<service>`` here; a function of (service, the
    # environment service_env gives it) returning an argument list runs it otherwise (tests/deploy/test_images.py
    # runs each one as a container). The process must forward SIGTERM and exit with the service.
    service_command: Callable[[str, dict[str, str]], list[str]] | None = None

    def port(self, name: str) -> int:
        """The port of process ``name`` (allocated on first use)."""
        if name not in self.ports:
            self.ports[name] = free_port()
        return self.ports[name]

    def url(self, name: str) -> str:
        """Base URL of process ``name``."""
        return f"http://{HOST}:{self.port(name)}"


def tenant_document(config: StackConfig) -> dict[str, Any]:
    """The tenants file: one tenant whose external hosts are the sandboxes."""
    zoom = config.url("zoom")
    tenant: dict[str, Any] = {
        "id": config.tenant,
        "zoom_webhook_secret": config.zoom.get("webhook_secret", "sandbox-webhook-secret"),
        "zoom_account_id": config.zoom.get("account_id", "sandbox-account-id"),
        "zoom_client_id": config.zoom.get("client_id", "sandbox-client-id"),
        "zoom_client_secret": config.zoom.get("client_secret", "sandbox-client-secret"),
        "zoom_api_base": f"{zoom}/v2",
        "zoom_oauth_url": f"{zoom}/oauth/token",
        "download_allowed_hosts": [HOST],
        "allow_private_download_hosts": True,
        "symbl_app_id": config.symbl.get("app_id", "sandbox-app-id"),
        "symbl_app_secret": config.symbl.get("app_secret", "sandbox-app-secret"),
        "symbl_api_base": config.url("symbl"),
        "assemblyai_api_key": config.assemblyai.get("api_key", "sandbox-assemblyai-key"),
        "assemblyai_api_base": config.url("assemblyai"),
        "llm_base_url": config.url("llm") + "/v1",
        "llm_auth_scheme": "raw",
    }
    if config.provider is not None:
        tenant["provider"] = config.provider
    base = {**tenant, **config.tenant_overrides}
    return {"default_tenant": config.tenant, "tenants": [base, *({**base, **extra} for extra in config.extra_tenants)]}


def service_env(config: StackConfig, service: str) -> dict[str, str]:
    """The environment of one service process."""
    env = {
        "ZOOMSYMBL_KAFKA_TOPIC_PREFIX": config.topic_prefix,
        "ZOOMSYMBL_MONGO_DATABASE": config.database,
        "ZOOMSYMBL_S3_BUCKET": config.bucket,
        "ZOOMSYMBL_TENANTS_FILE": str(config.run_dir / "tenants.json"),
        "OTEL_SERVICE_NAME": f"zoomsymbl-{service}",
        "OTEL_EXPORTER_OTLP_ENDPOINT": config.url("otlp"),
        "OTEL_BSP_SCHEDULE_DELAY": "500",
        f"ZOOMSYMBL_{service.upper()}_HTTP_HOST": HOST,
        f"ZOOMSYMBL_{service.upper()}_HTTP_PORT": str(config.port(service)),
    }
    if service == "mixer":
        env["ZOOMSYMBL_MIXER_SCRATCH_DIR"] = str(config.run_dir / "mixer-scratch")
    if service == "submitter":
        env["ZOOMSYMBL_SUBMITTER_NOTIFIER_PUBLIC_URL"] = config.url("notifier")
        env["ZOOMSYMBL_SUBMITTER_CALLBACK_SECRET"] = CALLBACK_SECRET
    if service == "transcriber":
        env["ZOOMSYMBL_TRANSCRIBER_SCRATCH_DIR"] = str(config.run_dir / "transcriber-scratch")
        env["ZOOMSYMBL_TRANSCRIBER_MODEL_DIR"] = "packaged"
    if service == "notifier":
        env["ZOOMSYMBL_NOTIFIER_CALLBACK_SECRET"] = CALLBACK_SECRET
        env["ZOOMSYMBL_NOTIFIER_SMTP_HOST"] = HOST
        env["ZOOMSYMBL_NOTIFIER_SMTP_PORT"] = str(config.smtp_port)
        env["ZOOMSYMBL_NOTIFIER_MAIL_FROM"] = "zoomsymbl@localhost"
        env["ZOOMSYMBL_NOTIFIER_PAGE_KEY"] = PAGE_KEY
        env["ZOOMSYMBL_NOTIFIER_PAGE_BASE_URL"] = config.url("web")
    if service == "web":
        env["ZOOMSYMBL_WEB_PAGE_KEY"] = PAGE_KEY
        env["ZOOMSYMBL_NOTIFIER_PAGE_KEY"] = config.page_key
        env["ZOOMSYMBL_NOTIFIER_PAGE_BASE_URL"] = config.url("web")
    return {**env, **config.env}


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
        llm = {"auth": "raw", "api_key": self.config.assemblyai.get("api_key", "sandbox-assemblyai-key")}
        (run / "llm.json").write_text(json.dumps({**llm, **self.config.llm}))

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
