"""One provider client per tenant, reused; missing credentials are a clear configuration error."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.providers.pool import ProviderPool, SummaryWait
from zoomsymbl_common.providers.symbl import SymblProvider
from zoomsymbl_common.tenants import TenantConfig


def tenant(tenant_id: str, **fields: Any) -> TenantConfig:
    return TenantConfig(id=tenant_id, zoom_webhook_secret=SecretStr("zoom-secret"), **fields)


SYMBL = tenant("acme", provider="symbl", symbl_app_id="app", symbl_app_secret=SecretStr("app-secret"))
AAI = tenant("beta", provider="assemblyai", assemblyai_api_key=SecretStr("aai-key"))


async def test_each_tenant_gets_its_own_client_once() -> None:
    async with aiohttp.ClientSession() as session:
        pool = ProviderPool(session, summary_wait=SummaryWait(attempts=3, delay=0.1))
        assert pool.get(SYMBL) is pool.get(SYMBL)
        assert isinstance(pool.get(SYMBL), SymblProvider)
        assert pool.get(AAI).name == "assemblyai"
        assert pool.account_key(SYMBL) == "symbl:app"


async def test_missing_credentials_are_a_configuration_error() -> None:
    async with aiohttp.ClientSession() as session:
        pool = ProviderPool(session, submit_timeout=30)
        with pytest.raises(ConfigError, match="symbl_app_id"):
            pool.get(SYMBL.model_copy(update={"symbl_app_secret": SecretStr("")}))
