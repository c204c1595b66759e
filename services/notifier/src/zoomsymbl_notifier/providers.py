"""One insights engine per tenant, created on first use (provider clients: ``zoomsymbl_common.providers.pool``)."""

from __future__ import annotations

import aiohttp
from zoomsymbl_common.insights_engine import InsightsEngine
from zoomsymbl_common.providers.factory import engine_config
from zoomsymbl_common.tenants import TenantConfig


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
