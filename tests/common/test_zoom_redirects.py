"""A Zoom API answer that redirects is not followed: the answering side must not choose where we connect."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_common.zoom_answers import ZoomApiError

from tests.support.http_servers import Servers
from tests.support.zoom_api import tenant_of


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    started = Servers()
    yield started
    await started.close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_from_the_zoom_api_is_an_error_and_nothing_reaches_its_target(
    servers: Servers, status: int
) -> None:
    reached: list[str] = []

    async def elsewhere(request: web.Request) -> web.Response:  # the metadata address, an attacker's host
        reached.append(request.path_qs)
        return web.json_response({"meetings": [{"uuid": "forged"}], "next_page_token": ""})

    target = await servers.start(elsewhere)

    async def zoom(request: web.Request) -> web.Response:
        if request.path == "/oauth/token":
            return web.json_response({"access_token": "zoom-access-token", "expires_in": 3600})
        location = str(target.make_url("/steal?signature=SIGNED-SECRET"))
        return web.Response(status=status, headers={"Location": location})

    api = await servers.start(zoom)
    async with ZoomClient(tenant_of(api)) as client:
        with pytest.raises(ZoomApiError) as caught:
            await client.get_meeting_recordings("abc123==")
    assert caught.value.status == status
    assert "redirect to '127.0.0.1' was not followed" in str(caught.value)
    assert "SIGNED-SECRET" not in str(caught.value)
    assert reached == [], "the redirect's target was never asked"
