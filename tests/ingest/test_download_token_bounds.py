"""A download token ``meeting_secrets`` cannot hold, and a write-behind batch the store refuses.

Before: a signed webhook whose ``download_token`` was longer than the 8,192 characters a ``meeting_secrets``
document holds was published (200) for a tenant with OAuth credentials and its token queued behind the
answer; writing it raised a validation error that ended the write-behind's writer with the token still at
the head of the queue, so no later webhook's token was ever stored (every meeting fell back to OAuth after
the mixer's wait, spending the account's quota), the queue filled up (then every webhook waited for room),
and shutting down raised instead of flushing.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from annotated_types import MaxLen
from pydantic import SecretStr
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import SECRETS, MeetingSecret
from zoomsymbl_common.service import TENANTS
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_ingest.app import create_app
from zoomsymbl_ingest.dedupe import WriteBehind
from zoomsymbl_ingest.handlers import INTAKE
from zoomsymbl_ingest.intake import Intake
from zoomsymbl_ingest.metrics import IngestMetrics
from zoomsymbl_ingest.settings import Settings
from zoomsymbl_ingest.stores import MongoReceipts, MongoTokens

from tests.ingest.support import (
    SECRET,
    RecordingPublisher,
    meeting_object,
    recording_body,
    signed_headers,
    tenants,
)
from tests.ingest.test_handlers import INFRA, serve

# What a meeting_secrets document holds; Zoom's download tokens are JWTs of about a thousand characters.
STORABLE = 8192
# One character too long to store.
HUGE_TOKEN = "eyJ-forged-" + "x" * (STORABLE - 10)
GOOD_TOKEN = "dl-token-eyJhbGciOiJIUzUxMiJ9.a-good-one"


def oauth_tenants() -> Tenants:
    acme = TenantConfig(
        id="acme",
        zoom_webhook_secret=SecretStr(SECRET),
        zoom_account_id="acct-1",
        zoom_client_id="client-1",
        zoom_client_secret=SecretStr("client-secret-0123456789"),
    )
    return Tenants([acme], default="acme")


def test_the_bound_is_what_meeting_secrets_holds() -> None:
    assert MaxLen(STORABLE) in MeetingSecret.model_fields["download_token"].metadata
    assert len(HUGE_TOKEN) == STORABLE + 1


@pytest.mark.integration
async def test_a_token_too_long_to_store_does_not_stop_the_tokens_after_it(mongo: Mongo) -> None:
    metrics = IngestMetrics.create()
    app = create_app(Settings(infra=INFRA, max_body_bytes=65_536), metrics)
    publisher = RecordingPublisher()
    intake = Intake(publisher, MongoReceipts(mongo), MongoTokens(mongo), metrics, store_timeout=2.0)
    app[TENANTS], app[INTAKE] = oauth_tenants(), intake
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        statuses: list[int] = []
        answers: list[Any] = []
        for uuid, token in (("forged==", HUGE_TOKEN), ("good-one==", GOOD_TOKEN)):
            body = recording_body(meeting_object(uuid), token=token)
            response = await client.post("/webhooks/zoom", data=body, headers=signed_headers(body))
            statuses.append(response.status)
            answers.append(await response.json())
        # Shutting down writes what is queued (before: the writer had died and close() raised).
        await intake.close(timeout=10.0)
        stored = await mongo.db[SECRETS].find_one({"tenant": "acme", "meeting_uuid": "good-one=="})
        assert stored is not None, "the good webhook's token was never written"
        assert stored["download_token"] == GOOD_TOKEN
        assert statuses == [400, 200]
        assert answers[0]["error"] == "invalid_fields"
        assert HUGE_TOKEN[:64] not in str(answers[0])
        assert [e.meeting_uuid for e in publisher.events] == ["good-one=="]
        assert await mongo.db[SECRETS].count_documents({}) == 1
    finally:
        await client.close()


async def test_a_token_too_long_to_store_is_a_400_for_a_tenant_without_oauth() -> None:
    publisher = RecordingPublisher()
    running = await serve(publisher, tenants(allowed_users=()), max_body_bytes=65_536)
    try:
        response = await running.post(recording_body(meeting_object("forged=="), token=HUGE_TOKEN))
        answer = await response.json()
        assert response.status == 400
        assert answer["error"] == "invalid_fields"
        assert "download_token" in answer["detail"]
        assert HUGE_TOKEN[:64] not in answer["detail"]
        assert publisher.events == []
        assert running.tokens.tokens == {}
        # One character less is a token like any other.
        fits = HUGE_TOKEN[:-1]
        response = await running.post(recording_body(meeting_object("fits=="), token=fits))
        assert response.status == 200
        assert running.tokens.tokens[("acme", "fits==")].value.get_secret_value() == fits
    finally:
        await running.client.close()


async def test_a_batch_the_store_refuses_loses_only_the_item_it_refuses() -> None:
    written: list[str] = []
    given_up: list[tuple[int, str]] = []

    async def write(batch: list[str]) -> None:
        if "poison" in batch:
            raise ValueError("a value the store cannot hold")
        written.extend(batch)

    queue: WriteBehind[str] = WriteBehind(
        write,
        key=str,
        retry_on=(ConnectionError,),
        on_give_up=lambda count, exc: given_up.append((count, type(exc).__name__)),
        linger=0.01,
    )
    for item in ("first", "poison", "second"):
        assert await queue.put(item, timeout=1.0)
    assert await queue.close(timeout=5.0) == 0
    assert written == ["first", "second"]
    assert given_up == [(1, "ValueError")]
    assert "poison" not in queue and len(queue) == 0
    # The writer still works after the refusal.
    assert await queue.put("third", timeout=1.0)
    await asyncio.wait_for(queue.close(timeout=5.0), 10.0)
    assert written == ["first", "second", "third"]
