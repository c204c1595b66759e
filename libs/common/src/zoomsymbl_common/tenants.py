"""Tenants: one Zoom account each, with its credentials, provider choice and mail settings.

Loaded from one JSON file (``ZOOMSYMBL_TENANTS_FILE``, mounted from a Secret in Kubernetes) or,
for a single tenant, from environment variables (``ZOOMSYMBL_TENANT_*``). Every secret value is
registered with the log redactor as soon as it is loaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.events import Provider
from zoomsymbl_common.logs import register_secret
from zoomsymbl_common.page_tokens import DEFAULT_LINK_DAYS, DEFAULT_RENEWAL_DAYS

TENANT_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
LANGUAGE_PATTERN = r"^(auto|[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*)$"
"""A BCP 47 tag (``en-US``, ``zh-Hant-TW``; ``pt_BR`` too), or ``auto``: what every provider can be told."""
ZOOM_DOWNLOAD_HOSTS = ("zoom.us", "*.zoom.us", "zoom.com", "*.zoom.com", "zoomgov.com", "*.zoomgov.com")

AssemblyAISpeechModel = Literal["assemblyai-stt-3-7", "universal-3-5-pro", "universal-3-pro", "universal-2"]
"""Pre-recorded model ids AssemblyAI serves (https://assemblyai.com/docs/getting-started/model-versions-and-deprecations,
2026-12: universal-3-5-pro and universal-3-pro deprecated, still served). A closed set on purpose: an id
AssemblyAI does not know fails every submission of the tenant, so it is refused when the configuration
loads; a new model is one more id here (and in the chart's schema and the sandbox)."""
ASSEMBLYAI_SPEECH_MODELS: tuple[AssemblyAISpeechModel, ...] = get_args(AssemblyAISpeechModel)
DEFAULT_ASSEMBLYAI_SPEECH_MODELS: tuple[AssemblyAISpeechModel, ...] = ("assemblyai-stt-3-7", "universal-2")
"""The assemblyai-stt-3-7 migration guide's list: stt-3-7 first, universal-2 for the languages stt-3-7 lacks
(stt-3-7 no longer falls back to another model by itself)."""


class TenantConfig(BaseModel):
    """Everything zoomsymbl knows about one tenant (one Zoom account)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=TENANT_ID_PATTERN, description="Tenant id used in URLs, events and storage keys.")
    zoom_webhook_secret: SecretStr = Field(description="Zoom app's webhook secret token.")
    zoom_account_id: str = Field("", description="Server-to-Server OAuth account id.")
    zoom_client_id: str = Field("", description="Server-to-Server OAuth client id.")
    zoom_client_secret: SecretStr = Field(SecretStr(""), description="Server-to-Server OAuth client secret.")
    zoom_api_base: str = Field("https://api.zoom.us/v2", description="Zoom REST API base URL.")
    zoom_oauth_url: str = Field("https://zoom.us/oauth/token", description="Zoom OAuth token URL.")
    zoom_proxy: str | None = Field(None, description="HTTP(S) proxy for calls to Zoom.")
    allowed_users: tuple[str, ...] = Field((), description="Only these host e-mails/ids are archived; empty = all.")
    download_allowed_hosts: tuple[str, ...] = Field(ZOOM_DOWNLOAD_HOSTS, description="Hosts downloads may reach.")
    allow_private_download_hosts: bool = Field(False, description="Allow loopback/private download hosts (sandbox).")
    provider: Provider = Field(
        "assemblyai",
        description="Speech-intelligence provider for this tenant (symbl only by explicit choice; zoom: Zoom's own "
        "transcript, no provider).",
    )
    language: str = Field(
        "en-US",
        max_length=32,
        pattern=LANGUAGE_PATTERN,
        description="Spoken language passed to the provider, a BCP 47 tag (en-US, de, pt-BR); auto = the "
        "provider's own detection (whisper and assemblyai tenants only).",
    )
    symbl_app_id: str = Field("", description="Symbl app id.")
    symbl_app_secret: SecretStr = Field(SecretStr(""), description="Symbl app secret.")
    symbl_api_base: str = Field("https://api.symbl.ai", description="Symbl API base URL.")
    assemblyai_api_key: SecretStr = Field(SecretStr(""), description="AssemblyAI API key.")
    assemblyai_api_base: str = Field("https://api.assemblyai.com", description="AssemblyAI API base URL.")
    assemblyai_speech_models: tuple[AssemblyAISpeechModel, ...] = Field(
        DEFAULT_ASSEMBLYAI_SPEECH_MODELS,
        min_length=1,
        max_length=4,
        description="AssemblyAI speech_models, in priority order (the next one for a language the first lacks); "
        "always sent, so AssemblyAI's account default (assemblyai-stt-3-7 from 2026-12-08) never changes the model.",
    )
    llm_enabled: bool = Field(True, description="Derive questions, action items, follow-ups and decisions with an LLM.")
    llm_base_url: str = Field(
        "", description="OpenAI-compatible API base (…/v1); empty = AssemblyAI's LLM Gateway for assemblyai tenants."
    )
    llm_model: str = Field("claude-sonnet-4-6", description="Model name at the insights engine.")
    llm_api_key: SecretStr = Field(
        SecretStr(""),
        description="Insights engine key; empty = the AssemblyAI key (assemblyai tenants), no key sent (others).",
    )
    llm_auth_scheme: Literal["raw", "bearer", "auto"] = Field(
        "auto", description="Authorization header form; auto = raw key for AssemblyAI's gateway, Bearer otherwise."
    )
    llm_context_tokens: int = Field(100_000, ge=2_000, le=2_000_000, description="The model's context window.")
    max_channels: int = Field(32, ge=1, le=64, description="Most channels in a mixed file; the rest share one.")
    extra_recipients: tuple[str, ...] = Field((), description="Also e-mail these addresses.")
    recipient_domains: tuple[str, ...] = Field(
        (), description="Hosts are e-mailed only at these domains (e.g. the company's); empty = any domain."
    )
    failure_notice: bool = Field(True, description="E-mail the host a short notice when processing fails.")
    page_link_days: int = Field(
        DEFAULT_LINK_DAYS, ge=1, le=365, description="Days the meeting-page link in the report e-mail stays valid."
    )
    page_link_renewal_days: int = Field(
        DEFAULT_RENEWAL_DAYS,
        ge=0,
        le=3650,
        description="Days after a page link expired during which its page offers to e-mail a new link to the "
        "meeting's host (at most one a day a meeting); 0 = never.",
    )
    reconcile_expect: Literal["allowlist", "cloud_recording", "any"] = Field(
        "cloud_recording",
        description="Which past meetings reconciliation expects in the archive: hosts in allowed_users, those "
        "Zoom's dashboard says were cloud-recorded, or any.",
    )
    admin_emails: tuple[str, ...] = Field((), description="The tenant's administrators (reconciliation's digest).")
    retention_days: int | None = Field(
        None,
        ge=1,
        le=36_500,
        description="Meetings older than this many days are erased by zoomsymbl retention; none = kept for ever.",
    )

    @model_validator(mode="after")
    def _detection_only_where_offered(self) -> TenantConfig:
        # Whisper detects, and AssemblyAI's language_detection; Symbl's API takes a languageCode only, and a zoom
        # tenant's transcript comes in whatever language Zoom made it.
        if self.language == "auto" and self.provider not in ("whisper", "assemblyai"):
            raise ValueError(
                f"language 'auto' (detection) is Whisper's and AssemblyAI's;"
                f" a {self.provider} tenant needs a language tag"
            )
        return self

    @field_validator("assemblyai_speech_models")
    @classmethod
    def _distinct_models(cls, models: tuple[AssemblyAISpeechModel, ...]) -> tuple[AssemblyAISpeechModel, ...]:
        if len(set(models)) != len(models):
            raise ValueError("a model is listed twice")
        return models

    def register_secrets(self) -> None:
        """Hand every secret of this tenant to the log redactor."""
        for secret in (self.zoom_webhook_secret, self.zoom_client_secret, self.symbl_app_secret, self.llm_api_key):
            register_secret(secret.get_secret_value())
        register_secret(self.assemblyai_api_key.get_secret_value())


def ran_as(tenant: TenantConfig, provider: Provider) -> TenantConfig:
    """``tenant`` as its job ran, on ``provider``: not the tenant's own after a fallback to Zoom's transcript
    (``zoom``) or after the tenant moved to another provider while its jobs still run at the old one."""
    return tenant if tenant.provider == provider else tenant.model_copy(update={"provider": provider})


def has_oauth(tenant: TenantConfig) -> bool:
    """True when the tenant configured Server-to-Server OAuth (backfill, and downloads without the webhook's token)."""
    return bool(tenant.zoom_account_id and tenant.zoom_client_id and tenant.zoom_client_secret.get_secret_value())


class _SingleTenantEnv(BaseModel):
    # Every ZOOMSYMBL_TENANT_* variable must name a field: a misspelt one was ignored, its setting silently lost.
    model_config = ConfigDict(extra="forbid")

    id: str = "default"
    zoom_webhook_secret: str | None = None
    zoom_account_id: str = ""
    zoom_client_id: str = ""
    zoom_client_secret: str = ""
    zoom_api_base: str = "https://api.zoom.us/v2"
    zoom_oauth_url: str = "https://zoom.us/oauth/token"
    zoom_proxy: str | None = None
    allowed_users: str = ""
    download_allowed_hosts: str = ""
    allow_private_download_hosts: bool = False
    provider: Provider = "assemblyai"
    language: str = "en-US"
    symbl_app_id: str = ""
    symbl_app_secret: str = ""
    symbl_api_base: str = "https://api.symbl.ai"
    assemblyai_api_key: str = ""
    assemblyai_api_base: str = "https://api.assemblyai.com"
    assemblyai_speech_models: str = ""
    llm_enabled: bool = True
    llm_base_url: str = ""
    llm_model: str = "claude-sonnet-4-6"
    llm_api_key: str = ""
    llm_auth_scheme: Literal["raw", "bearer", "auto"] = "auto"
    llm_context_tokens: int = 100_000
    max_channels: int = 32
    extra_recipients: str = ""
    recipient_domains: str = ""
    failure_notice: bool = True
    page_link_days: int = DEFAULT_LINK_DAYS
    page_link_renewal_days: int = DEFAULT_RENEWAL_DAYS
    reconcile_expect: Literal["allowlist", "cloud_recording", "any"] = "cloud_recording"
    admin_emails: str = ""
    retention_days: int | None = None


class Tenants:
    """The tenant registry: look-up by id, and the default tenant for ``/webhooks/zoom``."""

    def __init__(self, tenants: list[TenantConfig], default: str | None = None) -> None:
        self._by_id = {t.id: t for t in tenants}
        if len(self._by_id) != len(tenants):
            raise ConfigError("duplicate tenant id in tenants configuration")
        self.default_id = default or (tenants[0].id if tenants else None)
        for tenant in tenants:
            tenant.register_secrets()

    def get(self, tenant_id: str) -> TenantConfig | None:
        """The tenant ``tenant_id``, or None."""
        return self._by_id.get(tenant_id)

    def default(self) -> TenantConfig | None:
        """The tenant served at the URL without a tenant id."""
        return self._by_id.get(self.default_id) if self.default_id else None

    def all(self) -> list[TenantConfig]:
        """Every tenant."""
        return list(self._by_id.values())


def load_tenants(environ: dict[str, str] | None = None) -> Tenants:
    """Tenants from ``ZOOMSYMBL_TENANTS_FILE`` when set, else one tenant from ``ZOOMSYMBL_TENANT_*``."""
    env = dict(os.environ if environ is None else environ)
    path = env.get("ZOOMSYMBL_TENANTS_FILE")
    if path:
        return _from_file(Path(path))
    return _from_env(env)


def _from_file(path: Path) -> Tenants:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"ZOOMSYMBL_TENANTS_FILE {str(path)!r} unreadable: {exc}", variables=("ZOOMSYMBL_TENANTS_FILE",)
        ) from None
    items = data.get("tenants", []) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ConfigError(
            f"ZOOMSYMBL_TENANTS_FILE {str(path)!r} invalid: expected an object with a list of tenants",
            variables=("ZOOMSYMBL_TENANTS_FILE",),
        )
    tenants = []
    for number, item in enumerate(items):
        try:
            tenants.append(TenantConfig.model_validate(item))
        except ValidationError as exc:
            raise ConfigError(
                f"ZOOMSYMBL_TENANTS_FILE {str(path)!r} invalid: {_problems(exc, f'tenants[{number}]')}",
                variables=("ZOOMSYMBL_TENANTS_FILE",),
            ) from None
    if not tenants:
        raise ConfigError(
            f"ZOOMSYMBL_TENANTS_FILE {str(path)!r} lists no tenants", variables=("ZOOMSYMBL_TENANTS_FILE",)
        )
    return Tenants(tenants, data.get("default_tenant"))


def _problems(exc: ValidationError, where: str = "") -> str:
    """Where and what is wrong, never the values: a misspelled key's value is usually a secret."""
    found = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        location = ".".join(str(part) for part in (where, *err["loc"]) if part != "") or "tenant"
        found.append(f"{location}: {err['msg']} ({err['type']})")
    return "; ".join(found[:10]) + (f"; and {len(found) - 10} more" if len(found) > 10 else "")


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _from_env(env: dict[str, str]) -> Tenants:
    values = {
        k.removeprefix("ZOOMSYMBL_TENANT_").lower(): v for k, v in env.items() if k.startswith("ZOOMSYMBL_TENANT_")
    }
    try:
        raw = _SingleTenantEnv(**values)
    except ValidationError as exc:
        raise ConfigError(
            f"invalid ZOOMSYMBL_TENANT_* settings: {_problems(exc)}", variables=("ZOOMSYMBL_TENANT_ID",)
        ) from None
    if not raw.zoom_webhook_secret:
        return Tenants([])
    fields = raw.model_dump()
    lists = (
        "allowed_users",
        "extra_recipients",
        "download_allowed_hosts",
        "recipient_domains",
        "assemblyai_speech_models",
        "admin_emails",
    )
    for name in lists:
        fields[name] = _split(fields[name])
    if not fields["download_allowed_hosts"]:
        fields["download_allowed_hosts"] = ZOOM_DOWNLOAD_HOSTS
    if not fields["assemblyai_speech_models"]:
        fields["assemblyai_speech_models"] = DEFAULT_ASSEMBLYAI_SPEECH_MODELS
    try:
        return Tenants([TenantConfig.model_validate(fields)])
    except ValidationError as exc:
        raise ConfigError(
            f"invalid ZOOMSYMBL_TENANT_* settings: {_problems(exc)}", variables=("ZOOMSYMBL_TENANT_ID",)
        ) from None
