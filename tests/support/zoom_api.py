"""A tenant whose Zoom API and OAuth token endpoint are a local test server (``/v2/…`` and ``/oauth/token``)."""

from __future__ import annotations

from aiohttp.test_utils import BaseTestServer
from pydantic import SecretStr
from zoomsymbl_common.tenants import TenantConfig


def tenant_of(server: BaseTestServer) -> TenantConfig:
    """Tenant ``acme`` with Server-to-Server OAuth credentials, its Zoom API on ``server``."""
    return TenantConfig(
        id="acme",
        zoom_webhook_secret=SecretStr("secret"),
        zoom_account_id="account",
        zoom_client_id="client",
        zoom_client_secret=SecretStr("client-secret"),
        zoom_api_base=str(server.make_url("/v2")),
        zoom_oauth_url=str(server.make_url("/oauth/token")),
    )
