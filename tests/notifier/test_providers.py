"""One provider client per tenant, reused; missing credentials are a clear configuration error."""

from __future__ import annotations

import aiohttp
import pytest
from pydantic import SecretStr
from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.providers.symbl import SymblProvider
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_notifier.providers import ProviderPool

from tests.notifier.harness import aai_tenant, make_settings, make_tenant


async def test_each_tenant_gets_its_own_client_once() -> None:
    async with aiohttp.ClientSession() as session:
        pool = ProviderPool(session, make_settings(InfraSettings(), 25))
        symbl, aai = make_tenant("http://127.0.0.1:1"), aai_tenant("http://127.0.0.1:2")
        assert pool(symbl) is pool(symbl)
        assert isinstance(pool(symbl), SymblProvider)
        assert pool(aai).name == "assemblyai"


async def test_missing_credentials_are_a_configuration_error() -> None:
    async with aiohttp.ClientSession() as session:
        pool = ProviderPool(session, make_settings(InfraSettings(), 25))
        with pytest.raises(ConfigError, match="symbl_app_id"):
            pool(make_tenant("http://127.0.0.1:1", symbl_app_secret=SecretStr("")))
