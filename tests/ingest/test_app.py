"""The whole ingest app against the real Kafka and MongoDB: bursts, Kafka outages, tokens, readiness."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import RECEIPTS, SECRETS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_ingest.app import build_app
from zoomsymbl_ingest.settings import Settings

from tests.ingest.support import (
    DOWNLOAD_TOKEN,
    OTHER_SECRET,
    SECRET,
    free_port,
    meeting_object,
    read_events,
    recording_body,
    signed_headers,
)
from tests.support.eventually import eventually

pytestmark = pytest.mark.integration
T = TypeVar("T")


@pytest.fixture(autouse=True)
def tenants_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = {
        "default_tenant": "acme",
        "tenants": [
            {
                "id": "acme",
                "zoom_webhook_secret": SECRET,
                # OAuth credentials let the mixer download without the webhook's token.
                "zoom_account_id": "acct-1",
                "zoom_client_id": "client",
                "zoom_client_secret": "client-secret-123",
            },
            {"id": "globex", "zoom_webhook_secret": OTHER_SECRET},
        ],
    }
    path = tmp_path / "tenants.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    monkeypatch.setenv("ZOOMSYMBL_TENANTS_FILE", str(path))


@asynccontextmanager
async def running(infra: InfraSettings, *, ready: bool = True) -> AsyncIterator[TestClient[Any, Any]]:
    client = TestClient(TestServer(build_app(Settings(infra=infra))))
    try:
        await client.start_server()
        if ready:
            await wait_ready(client)
        yield client
    finally:
        await client.close()


async def wait_ready(client: TestClient[Any, Any], limit: float = 20.0) -> None:
    async def status() -> int:
        return (await client.get("/readyz")).status

    await eventually(status, lambda code: code == 200, timeout=limit, what="ingest's /readyz to answer 200")


async def post(client: TestClient[Any, Any], body: bytes, path: str = "/webhooks/zoom") -> int:
    response = await client.post(path, data=body, headers=signed_headers(body))
    await response.read()
    return response.status


async def test_a_burst_of_20_identical_deliveries_is_one_event_on_kafka(infra: InfraSettings, mongo: Mongo) -> None:
    body = recording_body(meeting_object("burst//uuid==", names=("Elisa L", "Zoë 🎧 Ng")))
    async with running(infra) as client:
        statuses = await asyncio.gather(*(post(client, body) for _ in range(20)))
        # acme has OAuth credentials, so its token is written behind the answer: wait for it.
        secret = await eventually(
            partial(mongo.db[SECRETS].find_one, {"tenant": "acme", "meeting_uuid": "burst//uuid=="})
        )
    assert statuses == [200] * 20
    [event] = await read_events(infra, expect=1)
    assert event.meeting_uuid == "burst//uuid=="
    assert event.has_download_token
    assert await mongo.db[RECEIPTS].count_documents({"receipt": event.event_id}) == 1  # written by the shutdown
    assert secret["download_token"] == DOWNLOAD_TOKEN
    assert secret["expires_at"] == event.download_token_expires_at


async def test_kafka_down_answers_503_and_the_retry_is_published_once(infra: InfraSettings, mongo: Mongo) -> None:
    body = recording_body(meeting_object("outage=="))
    dead = infra.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    async with running(dead, ready=False) as client:
        started = time.monotonic()
        assert await post(client, body) == 503
        assert time.monotonic() - started < 2.5  # Zoom gives up on us after 3 s
        ready = await client.get("/readyz")
        assert ready.status == 503
        assert (await ready.json())["checks"]["kafka"].startswith("unavailable")
    assert await mongo.db[RECEIPTS].count_documents({}) == 0
    async with running(infra) as client:  # Kafka is back; Zoom retries the same delivery
        assert await post(client, body) == 200
        assert await post(client, body) == 200
    events = await read_events(infra, expect=1)
    assert [e.meeting_uuid for e in events] == ["outage=="]


async def test_mongodb_down_still_publishes_for_a_tenant_with_oauth(infra: InfraSettings) -> None:
    dead_uri = SecretStr(f"mongodb://127.0.0.1:{free_port()}/")
    dead = infra.model_copy(update={"mongo_uri": dead_uri, "mongo_timeout_ms": 200})
    async with running(dead, ready=False) as client:
        deadline = time.monotonic() + 20
        while True:  # Kafka connects in the background
            status = await post(client, recording_body(meeting_object("no-mongo==")))
            if status != 503 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert status == 200
        ready = await client.get("/readyz")
        # Still ready: out of the Service, every pod would leave Zoom's webhooks to the Ingress's 503.
        assert ready.status == 200
        answer = await ready.json()
        assert answer["status"] == "degraded" and answer["checks"]["mongo"].startswith("unavailable")
    assert [e.meeting_uuid for e in await read_events(infra, expect=1)] == ["no-mongo=="]


async def test_tenants_from_the_file_each_get_their_events(infra: InfraSettings, mongo: Mongo) -> None:
    body = recording_body(meeting_object("tenants=="))
    async with running(infra) as client:
        assert await post(client, body) == 200
        response = await client.post("/webhooks/zoom/globex", data=body, headers=signed_headers(body, OTHER_SECRET))
        assert response.status == 200
        assert await post(client, body, "/webhooks/zoom/nobody") == 404
        metrics = await (await client.get("/metrics")).text()
    events = await read_events(infra, expect=2)
    assert sorted(e.tenant for e in events) == ["acme", "globex"]
    assert 'zoomsymbl_ingest_events_published_total{source="webhook"} 2.0' in metrics


async def test_without_any_tenant_the_app_refuses_to_start(
    infra: InfraSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZOOMSYMBL_TENANTS_FILE")
    for name in ("ZOOMSYMBL_TENANT_ZOOM_WEBHOOK_SECRET", "ZOOMSYMBL_TENANT_ID"):
        monkeypatch.delenv(name, raising=False)
    from zoomsymbl_common.errors import ConfigError

    server = TestServer(build_app(Settings(infra=infra)))
    with pytest.raises(ConfigError, match="ZOOMSYMBL_TENANTS_FILE"):
        await server.start_server()
    await server.close()
