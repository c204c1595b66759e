"""One provider client and one insights engine per tenant, created on first use and kept (the provider
client caches its token)."""

from __future__ import annotations

import aiohttp
from zoomsymbl_common.insights_engine import InsightsEngine
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.base import SpeechProvider
from zoomsymbl_common.providers.factory import engine_config, make_provider
from zoomsymbl_common.providers.symbl import SymblProvider
from zoomsymbl_common.tenants import TenantConfig

from zoomsymbl_notifier.settings import Settings


class ProviderPool:
    """``pool(tenant)`` → that tenant's :class:`SpeechProvider` (configured hosts, sandbox or real)."""

    def __init__(self, session: aiohttp.ClientSession, settings: Settings, mongo: Mongo | None = None) -> None:
        self._session = session
        self._settings = settings
        self._mongo = mongo
        self._clients: dict[str, SpeechProvider] = {}

    def __call__(self, tenant: TenantConfig) -> SpeechProvider:
        """The client of ``tenant``'s provider; raises ``ConfigError`` when its credentials are missing."""
        client = self._clients.get(tenant.id)
        if client is None:
            client = self._make(tenant)
            self._clients[tenant.id] = client
        return client

    def _make(self, tenant: TenantConfig) -> SpeechProvider:
        # make_provider checks the credentials and registers the secrets with the log redactor.
        client = make_provider(tenant, self._session, mongo=self._mongo)
        if tenant.provider != "symbl":
            return client
        # The notifier tunes how long Symbl's lazily generated summary is waited for.
        return SymblProvider(
            self._session,
            app_id=tenant.symbl_app_id,
            app_secret=tenant.symbl_app_secret,
            api_base=tenant.symbl_api_base,
            summary_attempts=self._settings.summary_retry_attempts,
            summary_delay=self._settings.summary_retry_delay_seconds,
        )


class EnginePool:
    """``engines(tenant)`` → that tenant's :class:`InsightsEngine`, or None when it has none."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session
        self._engines: dict[str, InsightsEngine | None] = {}

    def __call__(self, tenant: TenantConfig) -> InsightsEngine | None:
        """The engine of ``tenant`` (created on first use)."""
        if tenant.id not in self._engines:
            config = engine_config(tenant)
            self._engines[tenant.id] = InsightsEngine(self._session, config) if config is not None else None
        return self._engines[tenant.id]
