"""The provider of a tenant comes from its configuration; its account key never reveals a secret."""

from __future__ import annotations

import aiohttp
import pytest
from pydantic import SecretStr
from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.providers.assemblyai import AssemblyAIProvider
from zoomsymbl_common.providers.factory import make_provider, provider_account_key
from zoomsymbl_common.providers.symbl import SymblProvider
from zoomsymbl_common.tenants import TenantConfig


def tenant(**fields: object) -> TenantConfig:
    base: dict[str, object] = {"id": "acme", "zoom_webhook_secret": SecretStr("zoom-secret-123")}
    return TenantConfig.model_validate(base | fields)


async def test_assemblyai_is_the_default_provider(session: aiohttp.ClientSession) -> None:
    chosen = make_provider(tenant(assemblyai_api_key=SecretStr("aai-key-123")), session)
    assert isinstance(chosen, AssemblyAIProvider)
    assert chosen.limits.caps_concurrency_with_429 is False


async def test_symbl_is_chosen_only_explicitly(session: aiohttp.ClientSession) -> None:
    fields = {"symbl_app_id": "app-1", "symbl_app_secret": SecretStr("s3cr3t-app")}
    chosen = make_provider(tenant(provider="symbl", **fields), session)
    assert isinstance(chosen, SymblProvider)
    assert chosen.limits.max_file_seconds == 4 * 3600
    assert isinstance(make_provider(tenant(assemblyai_api_key=SecretStr("k"), **fields), session), AssemblyAIProvider)


async def test_whisper_needs_mongodb_and_shares_one_local_account(session: aiohttp.ClientSession) -> None:
    with pytest.raises(ConfigError, match="whisper"):
        make_provider(tenant(provider="whisper"), session)
    assert provider_account_key(tenant(provider="whisper")) == "whisper:local"


@pytest.mark.parametrize(
    ("fields", "variable"),
    [
        ({"provider": "symbl", "symbl_app_id": "app-1"}, "ZOOMSYMBL_TENANT_SYMBL_APP_SECRET"),
        ({"provider": "assemblyai"}, "ZOOMSYMBL_TENANT_ASSEMBLYAI_API_KEY"),
    ],
)
async def test_missing_credentials_name_the_variable(
    session: aiohttp.ClientSession, fields: dict[str, object], variable: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        make_provider(tenant(**fields), session)
    assert variable in caught.value.variables


def test_account_keys_name_the_account_not_its_secret() -> None:
    assert provider_account_key(tenant(provider="symbl", symbl_app_id="app-1")) == "symbl:app-1"
    key = provider_account_key(tenant(provider="assemblyai", assemblyai_api_key=SecretStr("aai-key-123")))
    assert key.startswith("assemblyai:")
    assert "aai-key-123" not in key
    other = provider_account_key(tenant(provider="assemblyai", assemblyai_api_key=SecretStr("aai-key-456")))
    assert other != key
