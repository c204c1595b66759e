"""The provider of a tenant, chosen by configuration (``TenantConfig.provider``), and its account key.

The account key names the provider account whose limits a job counts against (limiter document id,
``jobs.limiter_key``): the Symbl app id, a hash of the AssemblyAI API key, or ``whisper:local`` (the
deployment's own transcriber), ``zoom:transcript`` (Zoom's transcript) — never a secret.
Tenants sharing one provider account share its key, and therefore its limiter.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import aiohttp

from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.insights_engine import EngineConfig
from zoomsymbl_common.logs import register_secret
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.assemblyai import AssemblyAIProvider
from zoomsymbl_common.providers.base import SpeechProvider
from zoomsymbl_common.providers.symbl import SymblProvider
from zoomsymbl_common.providers.whisper import WhisperProvider
from zoomsymbl_common.providers.zoom_transcript import ZoomTranscriptProvider
from zoomsymbl_common.tenants import TenantConfig

WHISPER_ACCOUNT = "whisper:local"
ZOOM_ACCOUNT = "zoom:transcript"


def provider_account_key(tenant: TenantConfig) -> str:
    """``symbl:<app id>`` or ``assemblyai:<sha256(api key)[:16]>`` for ``tenant``'s provider account."""
    if tenant.provider == "symbl":
        return f"symbl:{tenant.symbl_app_id}"
    if tenant.provider == "whisper":
        return WHISPER_ACCOUNT
    if tenant.provider == "zoom":
        return ZOOM_ACCOUNT
    digest = hashlib.sha256(tenant.assemblyai_api_key.get_secret_value().encode("utf-8")).hexdigest()
    return f"assemblyai:{digest[:16]}"


def make_provider(
    tenant: TenantConfig,
    session: aiohttp.ClientSession,
    *,
    submit_timeout: float = 900.0,
    mongo: Mongo | None = None,
) -> SpeechProvider:
    """The client of ``tenant``'s provider; raises :class:`ConfigError` when its credentials are missing.

    The ``whisper`` provider is our own transcriber and ``zoom`` Zoom's own transcript, both reached
    through MongoDB (``mongo``).
    """
    if tenant.provider == "whisper":
        if mongo is None:
            raise ConfigError(f"tenant {tenant.id!r} uses whisper, which this service cannot reach without MongoDB")
        return WhisperProvider(mongo)
    if tenant.provider == "zoom":
        if mongo is None:
            raise ConfigError(f"tenant {tenant.id!r} uses zoom, which this service cannot reach without MongoDB")
        return ZoomTranscriptProvider(mongo)
    if tenant.provider == "symbl":
        secret = tenant.symbl_app_secret
        if not tenant.symbl_app_id or not secret.get_secret_value():
            raise ConfigError(
                f"tenant {tenant.id!r} uses symbl but has no symbl_app_id/symbl_app_secret",
                variables=("ZOOMSYMBL_TENANT_SYMBL_APP_ID", "ZOOMSYMBL_TENANT_SYMBL_APP_SECRET"),
            )
        register_secret(secret.get_secret_value())
        return SymblProvider(
            session,
            app_id=tenant.symbl_app_id,
            app_secret=secret,
            api_base=tenant.symbl_api_base,
            submit_timeout=submit_timeout,
        )
    key = tenant.assemblyai_api_key.get_secret_value()
    if not key:
        raise ConfigError(
            f"tenant {tenant.id!r} uses assemblyai but has no assemblyai_api_key",
            variables=("ZOOMSYMBL_TENANT_ASSEMBLYAI_API_KEY",),
        )
    register_secret(key)
    return AssemblyAIProvider(
        session,
        api_key=key,
        api_base=tenant.assemblyai_api_base,
        submit_timeout=submit_timeout,
        speech_models=tenant.assemblyai_speech_models,
    )


ASSEMBLYAI_LLM_GATEWAY = "https://llm-gateway.assemblyai.com/v1"


def engine_config(tenant: TenantConfig) -> EngineConfig | None:
    """The insights engine of ``tenant``: its own endpoint, or AssemblyAI's LLM Gateway with the same key.

    None when the tenant turned it off, or has no endpoint of its own and is not an AssemblyAI tenant
    (Symbl derives questions, action items and follow-ups itself; a ``whisper`` tenant is meant to use
    no SaaS, so it gets only the engine it names).
    """
    if not tenant.llm_enabled:
        return None
    base = tenant.llm_base_url
    key = tenant.llm_api_key
    if not base:
        if tenant.provider != "assemblyai":
            return None
        base = ASSEMBLYAI_LLM_GATEWAY
    if not key.get_secret_value() and tenant.provider == "assemblyai":
        key = tenant.assemblyai_api_key
    register_secret(key.get_secret_value())
    scheme = tenant.llm_auth_scheme
    if scheme == "auto":
        host = urlsplit(base).hostname or ""
        scheme = "raw" if host == "assemblyai.com" or host.endswith(".assemblyai.com") else "bearer"
    return EngineConfig(
        base_url=base,
        model=tenant.llm_model,
        api_key=key,
        auth_scheme=scheme,
        context_tokens=tenant.llm_context_tokens,
        max_output_tokens=min(4_000, tenant.llm_context_tokens // 4),
    )
