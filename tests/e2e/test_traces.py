"""One trace per meeting: ingest → mixer → submitter → notifier → SMTP, exported over OTLP/HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from zoomsymbl_common.mongo import Mongo, make_mongo
from zoomsymbl_common.records import MEETINGS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_sandbox.stack import Stack

from tests.e2e.conftest import SINGLE, wait_for_mails
from tests.support.eventually import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
SERVICES = {"zoomsymbl-ingest", "zoomsymbl-mixer", "zoomsymbl-submitter", "zoomsymbl-notifier"}


@pytest.fixture
async def db(stack: Stack) -> AsyncIterator[Mongo]:
    mongo = make_mongo(InfraSettings().model_copy(update={"mongo_database": stack.config.database}))
    yield mongo
    await mongo.close()


async def _trace(stack: Stack, trace_id: str) -> list[dict[str, Any]]:
    async def spans() -> list[dict[str, Any]]:
        return [s for s in await stack.spans() if s["trace_id"] == trace_id]

    def complete(found: list[dict[str, Any]]) -> bool:
        return {s["service"] for s in found} >= SERVICES and any(s["name"] == "smtp send" for s in found)

    return await eventually(spans, complete, what=f"spans of every service and the smtp send in trace {trace_id}")


async def test_one_trace_spans_every_service_from_webhook_to_smtp(stack: Stack, db: Mongo) -> None:
    if not [m for m in await stack.spans() if m["name"].startswith("POST /webhooks/zoom")]:
        assert await stack.trigger_recording_completed(SINGLE.uuid) == 200
    await wait_for_mails([SINGLE])
    doc = await db.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": SINGLE.uuid})
    assert doc is not None
    assert doc.get("trace_id"), "the meeting records its trace id (for `zoomsymbl status`)"
    spans = await _trace(stack, doc["trace_id"])
    assert {s["service"] for s in spans} >= SERVICES
    roots = [s for s in spans if not s["parent_span_id"]]
    assert [r["name"] for r in roots] == ["POST /webhooks/zoom/{tenant}"], "one root: the Zoom webhook"
    assert any(s["name"] == "smtp send" and s["service"] == "zoomsymbl-notifier" for s in spans)
    kinds = {s["attributes"].get("messaging.system") for s in spans}
    assert "kafka" in kinds, "Kafka spans follow the messaging semantic conventions"
