"""A provider callback for a job whose MongoDB document does not validate (an older release's, one edited by hand).

Before: ``JobRecord.from_doc`` raised out of the route and aiohttp answered 500, which AssemblyAI retries (up to ten
times, none of which could succeed before someone repairs the document), each with a stack trace in the log. Now it is
answered 200 and logged as the sweeper logs such a job (``job_key``), nothing is published or written, and the sweeper,
which sets the document aside, asks the provider about the job once it reads again.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from zoomsymbl_common.callback_tokens import make_callback_token
from zoomsymbl_common.events import Event, utcnow
from zoomsymbl_common.mongo import Document, Mongo
from zoomsymbl_common.records import JOBS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_notifier.jobs import Jobs
from zoomsymbl_notifier.webhooks import CALLBACK_DEPS, CallbackDeps, CallbackMetrics, add_webhook_routes

from tests.notifier.harness import SECRET, make_settings

pytestmark = pytest.mark.integration
HEADER = "x-zoomsymbl-callback"


def _unreadable(provider: str, job_id: str) -> Document:
    """A job whose ``status`` is a provider's own word (``queued``): no stored job status, MalformedRecord."""
    return {
        "_id": f"ref-{job_id}",
        "idempotency_key": f"ref-{job_id}",
        "job_ref": f"ref-{job_id}",
        "tenant": "acme",
        "meeting_uuid": "m/bad==",
        "provider": provider,
        "job_id": job_id,
        "conversation_id": "c",
        "status": "queued",
        "updated_at": utcnow() - timedelta(hours=1),
    }


@pytest.fixture
async def published() -> list[Event]:
    return []


@pytest.fixture
async def client(mongo: Mongo, published: list[Event]) -> AsyncIterator[TestClient[Any, Any]]:
    async def publish(event: Event, timeout: float) -> None:
        published.append(event)

    settings = make_settings(InfraSettings(), 25, callback_deadline_seconds=5.0)
    app = web.Application()
    add_webhook_routes(app)
    app[CALLBACK_DEPS] = CallbackDeps(settings, Jobs(mongo), publish, CallbackMetrics(CollectorRegistry()))
    await mongo.db[JOBS].insert_many([_unreadable("symbl", "sj-bad"), _unreadable("assemblyai", "at-bad")])
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def test_a_callback_for_an_unreadable_job_is_answered_200_and_left_to_the_sweeper(
    client: TestClient[Any, Any], published: list[Event], mongo: Mongo, caplog: pytest.LogCaptureFixture
) -> None:
    symbl_token, aai_token = make_callback_token(SECRET, "ref-sj-bad"), make_callback_token(SECRET, "ref-at-bad")
    caplog.set_level(logging.DEBUG)

    symbl = await client.post(f"/webhooks/symbl/{symbl_token}", json={"jobId": "sj-bad", "status": "completed"})
    aai = await client.post(
        "/webhooks/assemblyai", json={"transcript_id": "at-bad", "status": "completed"}, headers={HEADER: aai_token}
    )

    assert (symbl.status, aai.status) == (200, 200), "no retry of the provider's could help"
    assert published == []
    logged = [r for r in caplog.records if r.getMessage() == "job document unreadable, callback left to the sweeper"]
    assert [(r.__dict__["provider"], r.__dict__["job_key"]) for r in logged] == [
        ("symbl", "ref-sj-bad"),
        ("assemblyai", "ref-at-bad"),
    ]
    for record in caplog.records:  # the service's own lines (its access log names the route: test_access_log.py)
        if not record.name.startswith("zoomsymbl"):
            continue
        text = record.getMessage() + str(record.__dict__) + str(record.exc_text or "")
        assert symbl_token not in text and aai_token not in text
    doc = await mongo.db[JOBS].find_one({"_id": "ref-sj-bad"})
    assert doc is not None and doc["status"] == "queued", "nothing of it is changed"

    # Repaired, the job is the sweeper's like any other without news: nothing of the callback was needed.
    await mongo.db[JOBS].update_one({"_id": "ref-sj-bad"}, {"$set": {"status": "scheduled"}})
    stale = await Jobs(mongo).stale(timedelta(minutes=1), 10)
    assert "ref-sj-bad" in [job.key for job in stale]
