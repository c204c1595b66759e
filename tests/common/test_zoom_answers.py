"""ZoomClient against answers too big or too deep to read: each is a defined error, never a crash or a hoard."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from zoomsymbl_common.errors import RetryableError
from zoomsymbl_common.zoom import MAX_ZOOM_ANSWER_BYTES, ZoomApiError, ZoomClient

from tests.support.zoom_api import tenant_of

NESTED = "[" * 100_000 + "]" * 100_000


class Answers:
    """What the fake Zoom answers to ``GET /v2/meetings/...`` (the token endpoint always works)."""

    def __init__(self) -> None:
        self.status = 200
        self.body = b"{}"
        self.content_type = "application/json"
        self.chunked = False

    async def token(self, _: web.Request) -> web.Response:
        return web.json_response({"access_token": "tok", "expires_in": 3600})

    async def api(self, request: web.Request) -> web.StreamResponse:
        if not self.chunked:
            return web.Response(status=self.status, body=self.body, headers={"Content-Type": self.content_type})
        response = web.StreamResponse(status=self.status, headers={"Content-Type": self.content_type})
        await response.prepare(request)
        for start in range(0, len(self.body), 65_536):
            await response.write(self.body[start : start + 65_536])
        await response.write_eof()
        return response


@pytest.fixture
async def zoom() -> AsyncIterator[tuple[Answers, ZoomClient]]:
    answers = Answers()
    app = web.Application()
    app.router.add_post("/oauth/token", answers.token)
    app.router.add_get("/v2/{tail:.*}", answers.api)
    async with TestServer(app) as server:
        tenant = tenant_of(server)
        async with ZoomClient(tenant) as client:
            yield answers, client


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
async def test_an_answer_past_the_byte_bound_is_retryable(zoom: tuple[Answers, ZoomClient], chunked: bool) -> None:
    answers, client = zoom
    answers.body = b'{"uuid": "' + b"x" * MAX_ZOOM_ANSWER_BYTES + b'"}'
    answers.chunked = chunked
    with pytest.raises(RetryableError, match=f"answered more than {MAX_ZOOM_ANSWER_BYTES} bytes"):
        await client.get_meeting_recordings("abc==")


async def test_a_refusal_past_the_byte_bound_keeps_its_status(zoom: tuple[Answers, ZoomClient]) -> None:
    answers, client = zoom
    answers.status, answers.body, answers.chunked = 404, b" " * (MAX_ZOOM_ANSWER_BYTES + 1), True
    with pytest.raises(ZoomApiError) as caught:
        await client.get_meeting_recordings("abc==")
    assert caught.value.status == 404


@pytest.mark.parametrize("content_type", ["application/json", "text/html"])
async def test_deeply_nested_json_is_an_unusable_answer_not_a_crash(
    zoom: tuple[Answers, ZoomClient], content_type: str
) -> None:
    answers, client = zoom
    answers.body, answers.content_type = NESTED.encode(), content_type
    with pytest.raises(RetryableError, match="without a JSON object"):
        await client.get_meeting_recordings("abc==")


async def test_an_answer_within_the_bound_in_its_declared_charset_is_read(zoom: tuple[Answers, ZoomClient]) -> None:
    answers, client = zoom
    answers.body = '{"uuid": "abc==", "topic": "Réunion"}'.encode("latin-1")
    answers.content_type = "application/json; charset=latin-1"
    found = await client.get_meeting_recordings("abc==")
    assert found["topic"] == "Réunion"
