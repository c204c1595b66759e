"""How the Zoom client reports the token endpoint's answers: a permanent refusal is one clear, secret-free error,
never retried; a 429 or 5xx is retried, as retrying can help.

Zoom answers a wrong client id or secret with 400 ``{"reason": "Invalid client_id or client_secret", "error":
"invalid_client"}`` (the sandbox's zoom_oauth.py names the pages). Before the 2026-12-05 comparison the client read
only an API-style ``message``, which these bodies do not have: every refusal read "zoom oauth token answered 400"
(or 401 against the sandbox of then), whatever Zoom said was wrong.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr
from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_common.zoom_answers import MAX_OAUTH_REASON_CHARS, ZoomAuthError
from zoomsymbl_common.zoom_retries import call_with_retries
from zoomsymbl_sandbox.zoom import ZoomSandbox, running_zoom_sandbox

from tests.common.test_zoom_daily_limit import Sleeps
from tests.ingest.support import sandbox_config, sandbox_tenant
from tests.support.zoom_api import tenant_of

SECRET = "client-secret"  # tests.support.zoom_api's tenant


async def refused(tenant: TenantConfig) -> tuple[ZoomAuthError, list[float]]:
    sleeps = Sleeps()
    async with ZoomClient(tenant) as client:
        with pytest.raises(ZoomAuthError) as caught:
            await call_with_retries(lambda: client.get_json("/users/me", {}, what="get user"), sleep=sleeps)
    return caught.value, sleeps.waits


@pytest.fixture
async def sandbox() -> AsyncIterator[ZoomSandbox]:
    async with running_zoom_sandbox(sandbox_config()) as running:
        yield running


async def test_a_wrong_secret_names_zooms_reason_and_is_not_retried(sandbox: ZoomSandbox) -> None:
    error, waits = await refused(sandbox_tenant(sandbox, zoom_client_secret=SecretStr("wrong-secret-123")))
    assert str(error) == "zoom oauth token answered 400: 'invalid_client: Invalid client_id or client_secret'"
    assert (error.status, error.error, error.reason) == (400, "invalid_client", "Invalid client_id or client_secret")
    assert waits == []
    assert "wrong-secret-123" not in repr(error)
    assert sandbox.stats.requests["oauth"] == 1


async def test_a_wrong_account_id_and_a_deactivated_app_say_which() -> None:
    async with running_zoom_sandbox(sandbox_config()) as sandbox:
        error, waits = await refused(sandbox_tenant(sandbox, zoom_account_id="another-account"))
    assert str(error).endswith("'invalid_request: Invalid request : Account ID is invalid'")
    assert waits == []
    async with running_zoom_sandbox(sandbox_config(app_active=False)) as sandbox:
        error, waits = await refused(sandbox_tenant(sandbox))
    assert (error.status, error.error, error.reason) == (400, "invalid_client", "The app has been disabled")
    assert waits == []


class TokenEndpoint:
    """A token endpoint answering ``answers`` in turn (then a token), counting the calls."""

    def __init__(self, *answers: web.Response) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def token(self, _: web.Request) -> web.Response:
        self.calls += 1
        if self.answers:
            return self.answers.pop(0)
        return web.json_response({"access_token": "fresh-token", "expires_in": 3600})

    async def api(self, _: web.Request) -> web.Response:
        return web.json_response({"id": "u1", "email": "ann@example.com"})


async def serve(endpoint: TokenEndpoint) -> AsyncIterator[TenantConfig]:
    app = web.Application()
    app.router.add_post("/oauth/token", endpoint.token)
    app.router.add_get("/v2/{tail:.*}", endpoint.api)
    async with TestServer(app) as server:
        yield tenant_of(server)


async def test_an_answer_echoing_the_secret_is_reported_without_it() -> None:
    basic = base64.b64encode(f"client:{SECRET}".encode()).decode()  # the Basic credentials sent
    reason = f"bad credentials {SECRET} from Basic {basic}\r\nX-Injected: 1\x1b[31m" + "x" * 5000
    endpoint = TokenEndpoint(web.json_response({"error": "invalid_client", "reason": reason}, status=401))
    async for tenant in serve(endpoint):
        error, waits = await refused(tenant)
    text = str(error)
    assert SECRET not in text and basic not in text and "[redacted]" in text
    assert "\n" not in error.reason and "\x1b" not in error.reason and "\r" not in error.reason
    assert len(error.reason) == MAX_OAUTH_REASON_CHARS
    assert (error.status, waits, endpoint.calls) == (401, [], 1)


async def test_an_api_style_refusal_is_read_too() -> None:
    endpoint = TokenEndpoint(web.json_response({"code": 4702, "message": "Invalid client."}, status=400))
    async for tenant in serve(endpoint):
        error, _ = await refused(tenant)
    assert (str(error), error.code) == ("zoom oauth token answered 400: 'Invalid client.'", 4702)


@pytest.mark.parametrize(
    "first",
    [
        web.json_response({"code": 429, "message": "slow down"}, status=429, headers={"Retry-After": "3"}),
        web.Response(status=503, text="<html>maintenance</html>", content_type="text/html"),
    ],
    ids=["429", "503"],
)
async def test_a_429_or_5xx_from_the_token_endpoint_is_retried(first: web.Response) -> None:
    endpoint = TokenEndpoint(first)
    sleeps = Sleeps()
    async for tenant in serve(endpoint):
        async with ZoomClient(tenant) as client:
            email = await call_with_retries(lambda: client.user_email("u1"), sleep=sleeps)
    assert (email, endpoint.calls, len(sleeps.waits)) == ("ann@example.com", 2, 1)
