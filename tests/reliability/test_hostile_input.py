"""Hostile input, hand-picked: the bodies and names that broke or could break a service, each pinned down.

In memory: deeply nested JSON, lone surrogates, 5000-digit numbers, invalid UTF-8 and oversized
bodies (each signed or with a valid token, so it reaches the parser) are refused with 400/413, never
500, and publish nothing; hostile tenant ids in the path are 404.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from zoomsymbl_common.callback_tokens import make_callback_token

from tests.reliability import fuzz_apps
from tests.reliability.fuzz_apps import IngestUnderTest, NotifierUnderTest
from tests.reliability.fuzz_inputs import CallbackRequest, ZoomRequest, nested

MAX_BYTES = 64 * 1024
VALID_OBJECT = {
    "uuid": "hostile==",
    "participant_audio_files": [{"id": "f1", "download_url": "https://zoom.us/rec/download/f1"}],
}

HOSTILE_BODIES = {
    "deeply nested arrays": nested(20_000, "array"),
    "deeply nested objects": nested(5_000, "object"),
    "lone surrogate in the uuid": json.dumps(
        {"event": "recording.completed", "payload": {"object": {**VALID_OBJECT, "uuid": "\ud800=="}}}
    ).encode(),
    "lone surrogate as a key": b'{"event": "recording.completed", "\\udfff": 1}',
    "5000-digit number": b'{"event": "recording.completed", "event_ts": ' + b"9" * 5000 + b"}",
    "invalid utf-8": b'{"event": "recording.completed", "payload": "\xff\xfe"}',
    "NaN and Infinity": b'{"event": "recording.completed", "event_ts": NaN, "x": -Infinity}',
}


@pytest.fixture
async def ingest() -> AsyncIterator[IngestUnderTest]:
    async with fuzz_apps.running_ingest(MAX_BYTES) as running:
        yield running


@pytest.fixture
async def notifier() -> AsyncIterator[NotifierUnderTest]:
    async with fuzz_apps.running_notifier() as running:
        yield running


@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
async def test_a_signed_hostile_body_is_a_400_and_publishes_nothing(ingest: IngestUnderTest, name: str) -> None:
    status, answer, published = await ingest.send(
        ZoomRequest("acme", HOSTILE_BODIES[name], "valid", "application/json")
    )
    assert (status, published) in ((400, 0), (200, 0)), (status, answer)
    assert answer.get("status") != "published"
    assert (await ingest.client.get("/healthz")).status == 200


async def test_an_oversized_signed_body_is_a_413(ingest: IngestUnderTest) -> None:
    body = json.dumps({"event": "recording.completed", "pad": "x" * MAX_BYTES}).encode()
    status, _, published = await ingest.send(ZoomRequest("acme", body, "valid", "application/json"))
    assert (status, published) == (413, 0)


@pytest.mark.parametrize(
    "tenant",
    ["../../etc/passwd", "acme\x00", "ACME", "acme\r\nX-Injected: 1", "a" * 300, "..", "%2e%2e", "acme/../globex"],
)
async def test_a_hostile_tenant_id_is_a_404_and_publishes_nothing(ingest: IngestUnderTest, tenant: str) -> None:
    body = json.dumps({"event": "recording.completed", "payload": {"object": VALID_OBJECT}}).encode()
    status, _, published = await ingest.send(ZoomRequest(tenant, body, "valid", "application/json"))
    assert (status, published) == (404, 0)


@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
@pytest.mark.parametrize("provider", ["symbl", "assemblyai"])
async def test_a_hostile_callback_with_a_valid_token_is_a_400(
    notifier: NotifierUnderTest, provider: str, name: str
) -> None:
    body = HOSTILE_BODIES[name][: 16 * 1024 - 1]
    if name.startswith("deeply"):  # the same attack within the notifier's 16 KiB limit
        body = nested(8_000, "array") if "arrays" in name else nested(2_600, "object")
    status, published = await notifier.send(CallbackRequest(provider, "valid", "", body, False))  # type: ignore[arg-type]
    assert (status, published) == (400, 0), name


@pytest.mark.parametrize("provider", ["symbl", "assemblyai"])
async def test_a_callback_status_with_a_lone_surrogate_is_a_400(notifier: NotifierUnderTest, provider: str) -> None:
    _, job_id = fuzz_apps.JOBS[provider]
    field = "jobId" if provider == "symbl" else "transcript_id"
    body = json.dumps({field: job_id, "status": "\udc80"}).encode()  # ASCII-escaped: valid JSON text
    status, published = await notifier.send(CallbackRequest(provider, "valid", "", body, False))  # type: ignore[arg-type]
    assert (status, published) == (400, 0)


def test_the_valid_token_of_the_fixtures_is_accepted() -> None:
    """Guards the tests above: their token is the real one, so the 400s come from the body."""
    ref, _ = fuzz_apps.JOBS["symbl"]
    assert fuzz_apps.callback_token(CallbackRequest("symbl", "valid", "", b"", False)) == make_callback_token(
        fuzz_apps.CALLBACK_SECRET, ref
    )
