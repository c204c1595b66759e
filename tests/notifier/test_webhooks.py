"""Provider callbacks: only authentic ones for known jobs get in, and only once Kafka has them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from zoomsymbl_common.callback_tokens import make_callback_token
from zoomsymbl_common.errors import KafkaUnavailable
from zoomsymbl_common.events import Event, JobStatusReported, utcnow
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import JOBS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_notifier.jobs import Jobs
from zoomsymbl_notifier.webhooks import CALLBACK_DEPS, CallbackDeps, CallbackMetrics, add_webhook_routes

from tests.notifier.harness import SECRET, make_settings
from tests.support.http_servers import raw_request

pytestmark = pytest.mark.integration
HEADER = "x-zoomsymbl-callback"


class Kafka:
    """Stands in for publish_event: records, fails, or hangs."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.mode = "up"

    async def publish(self, event: Event, timeout: float) -> None:
        if self.mode == "down":
            raise KafkaUnavailable("not acknowledged")
        if self.mode == "slow":
            await asyncio.sleep(30)
        self.events.append(event)


@pytest.fixture
async def kafka() -> Kafka:
    return Kafka()


@pytest.fixture
async def client(mongo: Mongo, kafka: Kafka) -> AsyncIterator[TestClient[Any, Any]]:
    settings = make_settings(InfraSettings(), 25, max_body_bytes=1024, callback_deadline_seconds=0.5)
    app = web.Application()
    add_webhook_routes(app)
    app[CALLBACK_DEPS] = CallbackDeps(settings, Jobs(mongo), kafka.publish, CallbackMetrics(CollectorRegistry()))
    for provider, job_id in (("symbl", "sj-1"), ("assemblyai", "at-1")):
        await mongo.db[JOBS].insert_one(
            {
                "_id": f"ref-{job_id}",
                "idempotency_key": f"ref-{job_id}",
                "job_ref": f"ref-{job_id}",
                "tenant": "acme",
                "meeting_uuid": "m/1==",
                "generation": 3,
                "provider": provider,
                "job_id": job_id,
                "conversation_id": "c",
                "status": "scheduled",
                "updated_at": utcnow(),
            }
        )
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


def _token(job_ref: str, secret: str = SECRET) -> str:
    return make_callback_token(secret, job_ref)


@pytest.mark.parametrize("id_field", ["jobId", "id"])
async def test_symbl_callback_is_published_as_a_job_status_report(
    client: TestClient[Any, Any], kafka: Kafka, id_field: str
) -> None:
    resp = await client.post(f"/webhooks/symbl/{_token('ref-sj-1')}", json={id_field: "sj-1", "status": "completed"})
    assert resp.status == 200
    [event] = kafka.events
    assert isinstance(event, JobStatusReported)
    assert (event.tenant, event.meeting_uuid, event.generation, event.provider, event.job_id) == (
        "acme", "m/1==", 3, "symbl", "sj-1",
    )  # fmt: skip
    assert (event.reported_status, event.via) == ("completed", "callback")


async def test_assemblyai_callback_is_authenticated_by_the_configured_header(
    client: TestClient[Any, Any], kafka: Kafka
) -> None:
    body = {"transcript_id": "at-1", "status": "completed"}
    assert (await client.post("/webhooks/assemblyai", json=body)).status == 401
    assert (await client.post("/webhooks/assemblyai", json=body, headers={HEADER: "forged.token"})).status == 401
    resp = await client.post("/webhooks/assemblyai", json=body, headers={HEADER: _token("ref-at-1")})
    assert resp.status == 200
    assert [e.job_id for e in kafka.events if isinstance(e, JobStatusReported)] == ["at-1"]


@pytest.mark.parametrize(
    "token",
    ["garbage", "cmVmLXNqLTE.AAAA", _token("ref-sj-1", "another-secret-of-16-bytes-or-more"), _token("ref-sj-1")[:-2]],
    ids=["garbage", "short-mac", "other-secret", "truncated"],
)
async def test_forged_tokens_are_refused_and_change_nothing(
    client: TestClient[Any, Any], kafka: Kafka, mongo: Mongo, token: str
) -> None:
    resp = await client.post(f"/webhooks/symbl/{token}", json={"jobId": "sj-1", "status": "completed"})
    assert resp.status == 401
    assert kafka.events == []
    doc = await mongo.db[JOBS].find_one({"job_id": "sj-1"})
    assert doc is not None and doc["status"] == "scheduled"


async def test_valid_token_for_an_unknown_or_different_job_is_not_found(
    client: TestClient[Any, Any], kafka: Kafka
) -> None:
    unknown = await client.post(f"/webhooks/symbl/{_token('ref-nope')}", json={"jobId": "sj-1", "status": "completed"})
    other = await client.post(f"/webhooks/symbl/{_token('ref-sj-1')}", json={"jobId": "sj-2", "status": "completed"})
    wrong_route = await client.post(
        "/webhooks/assemblyai",
        json={"transcript_id": "sj-1", "status": "completed"},
        headers={HEADER: _token("ref-sj-1")},
    )
    assert (unknown.status, other.status, wrong_route.status) == (404, 404, 404)
    assert kafka.events == []


async def test_oversized_and_malformed_bodies_are_refused(client: TestClient[Any, Any], kafka: Kafka) -> None:
    url = f"/webhooks/symbl/{_token('ref-sj-1')}"
    big = await client.post(url, json={"jobId": "sj-1", "status": "completed", "pad": "x" * 2000})
    bad = await client.post(url, data=b"{not json", headers={"Content-Type": "application/json"})
    assert (big.status, bad.status) == (413, 400)
    assert "not JSON" in (await bad.json())["error"]
    assert kafka.events == []


@pytest.mark.parametrize("mode", ["down", "slow"])
async def test_kafka_unavailable_is_answered_503_within_the_deadline(
    client: TestClient[Any, Any], kafka: Kafka, mode: str
) -> None:
    kafka.mode = mode
    resp = await client.post(f"/webhooks/symbl/{_token('ref-sj-1')}", json={"jobId": "sj-1", "status": "completed"})
    assert resp.status == 503
    assert kafka.events == []


async def test_error_answers_never_echo_the_token(client: TestClient[Any, Any]) -> None:
    token = _token("ref-nope")
    resp = await client.post(f"/webhooks/symbl/{token}", json={"jobId": "x", "status": "completed"})
    assert token not in await resp.text()


def test_settings_refuse_a_short_callback_secret() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        make_settings(InfraSettings(), 25, callback_secret=SecretStr("short"))


# Shaped like a callback token and made by no one in this process: the submitter makes them, in another.
UNREGISTERED = "cmVmLXNqLTE.1797064005.SHt5f7QcQVVZZgFF3rG-FuhhvU-gNRoryIPzEjMgxjs"


@pytest.mark.parametrize("tail", ["\x01", "?x=" + "y" * 9000], ids=["control-character", "over-8190-bytes"])
async def test_a_callback_aiohttp_cannot_parse_is_refused_without_its_token_in_the_log(
    client: TestClient[Any, Any], tail: str
) -> None:
    """aiohttp refuses such a request before any route and logs its parser's error, which quotes the path: the
    callback token is not registered with the redactor until a callback carrying it has been checked."""
    token = UNREGISTERED
    server = client.server
    status, logged = await raw_request(server.host, server.port or 0, f"POST /webhooks/symbl/{token}{tail} HTTP/1.1")
    assert status.endswith(" 400 Bad Request")
    assert any("/webhooks/symbl/[redacted]" in line for line in logged), logged
    assert not any(token[:16] in line or token[-16:] in line for line in logged), logged
