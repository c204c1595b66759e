"""Hostile input, generated: thousands of requests per webhook endpoint, answered without a crash.

Hypothesis drives the real ingest and notifier apps (aiohttp test servers, in-memory Kafka). Every
answer must be one openapi.yaml documents for the operation and never a 5xx; an answer other than
200 publishes nothing; a request without a valid signature (ingest) or token (notifier) is refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from zoomsymbl_common.events import RecordingCompleted

from tests.reliability import fuzz_apps
from tests.reliability.fuzz_apps import IngestUnderTest, NotifierUnderTest
from tests.reliability.fuzz_inputs import (
    DOWNLOAD_TOKEN,
    CallbackRequest,
    ZoomRequest,
    callback_requests,
    zoom_requests,
)
from tests.reliability.results import record
from tests.reliability.sizes import SIZES

pytestmark = pytest.mark.timeout(3600)
SPEC = yaml.safe_load((Path(__file__).parent / "openapi.yaml").read_text())
INGEST_MAX = 64 * 1024
FUZZ = settings(
    max_examples=SIZES.fuzz_examples,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def documented(path: str) -> set[int]:
    """The statuses openapi.yaml lists for POST ``path``."""
    return {int(code) for code in SPEC["paths"][path]["post"]["responses"]}


@pytest.fixture
async def ingest() -> AsyncIterator[IngestUnderTest]:
    """The ingest app in memory; after the generated requests, its figures are recorded and it must still live."""
    async with fuzz_apps.running_ingest(INGEST_MAX) as running:
        yield running
        alive = (await running.client.get("/healthz")).status
    received = running.kafka
    events = [RecordingCompleted.model_validate_json(body) for body in received]
    tally = running.tally
    record(
        "fuzz ingest webhook",
        injected="generated POST /webhooks/zoom[/{tenant}]: random bytes and JSON, Zoom-shaped bodies with hostile "
        "values, deep nesting, oversized bodies, good/bad/stale/missing signatures, hostile tenant ids",
        how_often=f"{tally.total} requests",
        expected="0 responses 5xx, only documented statuses, nothing published unless 200 'published'",
        measured={
            "requests": tally.total,
            "statuses": dict(sorted(tally.statuses.items())),
            "5xx": tally.server_errors,
            "events published (each a valid RecordingCompleted)": len(events),
            "healthz after": alive,
        },
    )
    assert alive == 200


@pytest.fixture
async def notifier() -> AsyncIterator[NotifierUnderTest]:
    """The notifier's callback routes in memory; figures recorded after the generated requests."""
    async with fuzz_apps.running_notifier() as running:
        yield running
    published = running.published
    tally = running.tally
    record(
        "fuzz notifier callbacks",
        injected="generated POST /webhooks/symbl/{token} and /webhooks/assemblyai: valid, forged, tampered, foreign "
        "and empty tokens; random, callback-shaped, deeply nested and oversized bodies; chunked uploads",
        how_often=f"{tally.total} requests",
        expected="0 responses 5xx, only documented statuses, an event published for each 200 and for nothing else",
        measured={
            "requests": tally.total,
            "statuses": dict(sorted(tally.statuses.items())),
            "5xx": tally.server_errors,
            "events published": len(published),
        },
    )


def ingest_expectation(sent: ZoomRequest) -> set[int]:
    """What ingest may answer: decided by tenant, size and signature before the body is looked at."""
    if sent.tenant is not None and sent.tenant not in ("acme", "globex"):
        return {404}
    if len(sent.body) > INGEST_MAX:
        return {413}
    if sent.tenant == "globex":
        return {200, 400} if sent.signing == "other_secret" else {401}
    return {200, 400} if sent.signing in ("valid", "valid_ms") else {401}


ZOOM_PATHS = documented("/webhooks/zoom") | documented("/webhooks/zoom/{tenant}")


@FUZZ
@given(sent=zoom_requests(INGEST_MAX, ("acme", "globex")))
async def test_ingest_answers_every_generated_webhook_without_a_crash(
    ingest: IngestUnderTest, sent: ZoomRequest
) -> None:
    status, answer, published = await ingest.send(sent)
    assert status < 500, (status, answer, sent)
    assert status in ZOOM_PATHS, (status, sent)
    assert status in ingest_expectation(sent), (status, answer, sent)
    assert published == (1 if status == 200 and answer.get("status") == "published" else 0), (status, answer)
    if published:
        assert DOWNLOAD_TOKEN.encode() not in ingest.kafka[-1]


def notifier_expectation(sent: CallbackRequest) -> set[int]:
    """What the notifier may answer, decided by the token before the body is looked at."""
    if sent.token_kind == "valid":
        return {200, 400, 404, 413}
    if sent.token_kind in ("unknown_job", "other_provider"):
        return {400, 404, 413}
    # A Symbl token that is empty or holds '/' does not even match the route.
    return {401, 404} if sent.provider == "symbl" else {401}


CALLBACK_PATHS = {"symbl": "/webhooks/symbl/{token}", "assemblyai": "/webhooks/assemblyai"}
JOB_IDS = {provider: job_id for provider, (_, job_id) in fuzz_apps.JOBS.items()}


@FUZZ
@given(sent=callback_requests(16 * 1024, JOB_IDS))
async def test_notifier_answers_every_generated_callback_without_a_crash(
    notifier: NotifierUnderTest, sent: CallbackRequest
) -> None:
    status, published = await notifier.send(sent)
    assert status < 500, (status, sent)
    assert status in documented(CALLBACK_PATHS[sent.provider]), (status, sent)
    assert status in notifier_expectation(sent), (status, sent)
    assert published == (1 if status == 200 else 0), (status, sent)
