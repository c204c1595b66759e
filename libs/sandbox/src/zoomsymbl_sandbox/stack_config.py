"""How a sandbox stack is configured: its ports, the tenants file and each service's environment.

The services are configured exactly as in production (environment variables and a tenants file), except
that the tenant's Zoom and provider base URLs point at the sandboxes (:mod:`zoomsymbl_sandbox.stack` runs
them). Nothing here is imported by a service.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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


def llm_sandbox_config(config: StackConfig) -> dict[str, Any]:
    """The LLM sandbox's config: AssemblyAI's LLM Gateway (the raw AssemblyAI key) unless ``config.llm`` says else."""
    return {"auth": "raw", "api_key": config.assemblyai.get("api_key", "sandbox-assemblyai-key"), **config.llm}


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
    if config.provider not in (None, "assemblyai"):
        # Only an AssemblyAI tenant sends its AssemblyAI key to the engine by itself; the others name the engine's key.
        tenant["llm_api_key"] = llm_sandbox_config(config)["api_key"]
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
        # No ingress joins the two here: an expired link's button posts to the notifier's own port.
        env["ZOOMSYMBL_WEB_LINK_RENEWAL_ORIGIN"] = config.url("notifier")
        env["ZOOMSYMBL_NOTIFIER_PAGE_KEY"] = config.page_key
        env["ZOOMSYMBL_NOTIFIER_PAGE_BASE_URL"] = config.url("web")
    return {**env, **config.env}
