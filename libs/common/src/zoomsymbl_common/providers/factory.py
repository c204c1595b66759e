"""The provider of a tenant, chosen by configuration (``TenantConfig.provider``), and its account key.

The account key names the provider account whose limits a job counts against (limiter document id,
``jobs.limiter_key``): the Symbl app id, or a hash of the AssemblyAI API key — never a secret.
Tenants sharing one provider account share its key, and therefore its limiter.
"""

from __future__ import annotations

import hashlib

import aiohttp

from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.logs import register_secret
from zoomsymbl_common.providers.assemblyai import AssemblyAIProvider
from zoomsymbl_common.providers.base import SpeechProvider
from zoomsymbl_common.providers.symbl import SymblProvider
from zoomsymbl_common.tenants import TenantConfig


def provider_account_key(tenant: TenantConfig) -> str:
    """``symbl:<app id>`` or ``assemblyai:<sha256(api key)[:16]>`` for ``tenant``'s provider account."""
    if tenant.provider == "symbl":
        return f"symbl:{tenant.symbl_app_id}"
    digest = hashlib.sha256(tenant.assemblyai_api_key.get_secret_value().encode("utf-8")).hexdigest()
    return f"assemblyai:{digest[:16]}"


def make_provider(
    tenant: TenantConfig, session: aiohttp.ClientSession, *, submit_timeout: float = 900.0
) -> SpeechProvider:
    """The client of ``tenant``'s provider; raises :class:`ConfigError` when its credentials are missing."""
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
    return AssemblyAIProvider(session, api_key=key, api_base=tenant.assemblyai_api_base, submit_timeout=submit_timeout)
