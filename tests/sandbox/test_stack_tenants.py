"""The sandbox stack's tenants reach its LLM sandbox with the key it expects, whatever their provider.

The reliability stack runs a Symbl tenant; its tenants file named no engine key, so every insights request got 401
from the LLM sandbox and every meeting's e-mail said the sections were unavailable (seen 2026-12-06).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from zoomsymbl_common.providers.factory import engine_config
from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_sandbox.stack_config import StackConfig, llm_sandbox_config, tenant_document


@pytest.mark.parametrize("provider", [None, "assemblyai", "symbl"])
def test_the_engine_of_every_stack_tenant_is_authorised_by_the_llm_sandbox(
    tmp_path: Path, provider: str | None
) -> None:
    config = StackConfig(run_dir=tmp_path, provider=provider, assemblyai={"api_key": "stack-aai-key"})  # type: ignore[arg-type]
    tenant = TenantConfig.model_validate(tenant_document(config)["tenants"][0])
    engine = engine_config(tenant)
    sandbox = llm_sandbox_config(config)
    assert engine is not None
    assert (engine.auth_scheme, engine.api_key.get_secret_value()) == (sandbox["auth"], sandbox["api_key"])
    if provider != "symbl":
        assert "llm_api_key" not in tenant_document(config)["tenants"][0]  # the AssemblyAI key by itself
