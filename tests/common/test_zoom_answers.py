"""ZoomClient against answers too big or too deep to read: each is a defined error, never a crash or a hoard."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from zoomsymbl_common.errors import RetryableError
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_common.zoom_answers import MAX_PAGE_TOKEN_CHARS, MAX_ZOOM_ANSWER_BYTES, InvalidPageError, ZoomApiError

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


DAY = date(2026, 11, 3)
# Each listing, the list its pages carry, and how the client asks for one page.
LISTINGS: dict[str, tuple[str, Callable[[ZoomClient], Awaitable[Any]]]] = {
    "recordings": ("meetings", lambda c: c.list_recordings(DAY, DAY)),
    "users": ("users", lambda c: c.list_users()),
    "phone recordings": ("recordings", lambda c: c.list_phone_recordings(DAY, DAY)),
    "past meetings": ("meetings", lambda c: c.list_past_meetings(DAY, DAY)),
    "call history": ("call_history", lambda c: c.list_call_history(DAY, DAY)),
}
# What a 200 may carry instead of the listing's list: nothing, null, another type, entries that are not objects,
# or (the call history) only the array Zoom deprecates.
NOT_A_LIST: dict[str, Callable[[str], dict[str, Any]]] = {
    "missing": lambda key: {"page_size": 300, "total_records": 0, "next_page_token": ""},
    "null": lambda key: {key: None, "next_page_token": ""},
    "object": lambda key: {key: {"uuid": "abc=="}, "next_page_token": ""},
    "not objects": lambda key: {key: ["abc==", 7], "next_page_token": ""},
    "old key": lambda key: {"call_logs": [{"call_id": "1"}], "next_page_token": ""},
}


@pytest.mark.parametrize("answer", NOT_A_LIST)
@pytest.mark.parametrize("listing", LISTINGS)
async def test_a_page_without_its_list_is_refused_not_read_as_an_empty_last_page(
    zoom: tuple[Answers, ZoomClient], listing: str, answer: str
) -> None:
    """Before, each of these read as a last page of nothing: a reconciliation reported "nothing missing" for a
    window it never saw, a backfill "ok" for recordings it never listed."""
    answers, client = zoom
    key, ask = LISTINGS[listing]
    answers.body = json.dumps(NOT_A_LIST[answer](key)).encode()
    with pytest.raises(InvalidPageError, match=f"zoom list {listing} answered 200") as caught:
        await ask(client)
    assert caught.value.status == 200 and repr(key) in str(caught.value)


@pytest.mark.parametrize("listing", LISTINGS)
async def test_an_empty_list_is_a_page_of_nothing(zoom: tuple[Answers, ZoomClient], listing: str) -> None:
    answers, client = zoom
    key, ask = LISTINGS[listing]
    lasts: list[dict[str, Any]] = [{key: [], "next_page_token": ""}, {key: []}, {key: [], "next_page_token": None}]
    for last in lasts:
        answers.body = json.dumps(last).encode()
        page = await ask(client)
        assert page.next_page_token == ""


@pytest.mark.parametrize(
    ("token", "refused"),
    [
        ("T" * MAX_PAGE_TOKEN_CHARS, None),
        ("T" * (MAX_PAGE_TOKEN_CHARS + 1), f"a next_page_token of {MAX_PAGE_TOKEN_CHARS + 1} characters, longer than"),
        ("s3cret-page-token" * 60_000, "a next_page_token of 1020000 characters, longer than"),
        (12345, "a next_page_token that is a int, not a string"),
        (["T"], "a next_page_token that is a list, not a string"),
    ],
)
async def test_a_page_token_longer_than_zooms_or_not_a_string_is_refused_and_never_quoted(
    zoom: tuple[Answers, ZoomClient], token: object, refused: str | None
) -> None:
    """Before, any string was kept (up to 10,000 of them a listing, each as long as 16 MiB allow) and sent back
    in the next URL; a token of another type read as the last page."""
    answers, client = zoom
    answers.body = json.dumps({"meetings": [], "next_page_token": token}).encode()
    if refused is None:
        assert (await client.list_past_meetings(DAY, DAY)).next_page_token == token
        return
    with pytest.raises(InvalidPageError, match=refused) as caught:
        await client.list_past_meetings(DAY, DAY)
    assert "TT" not in str(caught.value) and "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    ("error", "no_phone"),
    [
        (ZoomApiError(403, "list call history", "Zoom Phone has not been set up."), True),
        (ZoomApiError(400, "list call history", "Invalid access token, does not contain scopes:[x].", 4711), True),
        (ZoomApiError(404, "list call history", "Not found.", 404), False),
        (ZoomApiError(400, "list call history", "Invalid field: 'from'.", 300), False),
        (InvalidPageError(200, "list call history", "the answer has no 'call_history' list (none)"), False),
    ],
)
def test_only_zooms_documented_answers_mean_no_zoom_phone(error: ZoomApiError, no_phone: bool) -> None:
    assert error.phone_not_set_up is no_phone


async def test_a_lone_surrogate_anywhere_in_an_answer_becomes_the_replacement_character(
    zoom: tuple[Answers, ZoomClient],
) -> None:
    """Python's parser accepts an escaped lone surrogate (an emoji cut in half) and hands on a code point no UTF-8
    holds: in a topic, an e-mail or a file id it raised UnicodeEncodeError where it met BSON, an event's JSON or a
    hash, and a backfill or reconciliation stopped at that meeting every round. Every string, names too, is made
    encodable where the answer is parsed."""
    answers, client = zoom
    answers.body = (
        b'{"uuid": "abc==", "topic": "Q3 \\ud83d plan", "host_email": "a\\udc00@example.com", "x\\ud800": 1,'
        b' "recording_files": [{"id": "f\\ud800", "file_type": "M4A"}]}'
    )
    got = await client.get_meeting_recordings("abc==")
    assert got["topic"] == "Q3 \ufffd plan" and got["host_email"] == "a\ufffd@example.com" and got["x\ufffd"] == 1
    assert got["recording_files"] == [{"id": "f\ufffd", "file_type": "M4A"}]
    json.dumps(got, ensure_ascii=False).encode("utf-8")  # no UnicodeEncodeError left anywhere
