"""What a proxy in front of S3 answers without S3's XML, against a real local HTTP server: a 429 is a throttle waited
for its Retry-After, a 403 page a refusal naming what to check (minio raises InvalidResponseError for both)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from faststream.kafka import KafkaBroker, TestKafkaBroker
from zoomsymbl_common.errors import InfrastructureUnavailable, RetryableError, StorageUnavailable
from zoomsymbl_common.events import RecordingCompleted
from zoomsymbl_common.kafka import Consumer, RetryPolicy, topic_name
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.storage_errors import StorageRefused, StorageThrottled

KEY = "mixed/acme/bTE.wav"
PAGE = "<html><body>Access denied by the gateway; session=secret-cookie</body></html>"


class Proxy:
    """Answers every request with one status, an HTML page and the given headers; counts the requests."""

    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.status, self.headers, self.requests = status, headers or {}, 0

    async def answer(self, request: web.Request) -> web.Response:
        self.requests += 1
        await request.read()
        return web.Response(status=self.status, text=PAGE, content_type="text/html", headers=self.headers)


@contextlib.asynccontextmanager
async def store_behind(proxy: Proxy) -> AsyncIterator[ObjectStore]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy.answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    infra = InfraSettings(s3_endpoint=f"127.0.0.1:{server.port}", s3_secure=False, s3_bucket="zoomsymbl")
    try:
        yield ObjectStore(infra, timeout=5.0)
    finally:
        await server.close()


async def get(store: ObjectStore) -> None:
    async for _ in store.get_stream(KEY):
        pass


@pytest.mark.parametrize("call", ["stat", "get"])
async def test_a_429_with_retry_after_is_a_throttle_raised_at_once_with_its_wait(call: str) -> None:
    """Before, urllib3 slept the Retry-After (up to 6 h, twice) in the worker thread, which no deadline stops, and a
    page (not S3's XML) then raised minio's InvalidResponseError: an "unexpected failure" that spent attempts."""
    proxy = Proxy(429, {"Retry-After": "120"})
    async with store_behind(proxy) as store:
        with pytest.raises(StorageThrottled) as caught:
            await (store.stat(KEY) if call == "stat" else get(store))
        assert isinstance(caught.value, StorageUnavailable) and caught.value.retry_after == 120.0
        assert proxy.requests == 1


async def test_a_429_without_retry_after_is_a_throttle_without_a_wait() -> None:
    async with store_behind(Proxy(429)) as store:
        with pytest.raises(StorageThrottled) as caught:
            await get(store)
        assert caught.value.retry_after is None


@pytest.mark.parametrize("status", [401, 403])
async def test_a_proxys_refusal_page_names_what_to_check(status: int) -> None:
    """Before: minio's InvalidResponseError with the whole page in its message, an unexpected failure (a traceback)."""
    async with store_behind(Proxy(status)) as store:
        with pytest.raises(StorageRefused) as caught:
            await get(store)
    refused = caught.value
    assert isinstance(refused, RetryableError) and not isinstance(refused, InfrastructureUnavailable)
    assert f"HTTP {status}" in str(refused) and "ZOOMSYMBL_S3_ENDPOINT" in str(refused)
    assert "secret-cookie" not in str(refused) and refused.__cause__ is None


async def test_the_consumer_waits_a_throttles_retry_after_within_its_cap() -> None:
    infra = InfraSettings(kafka_topic_prefix="unit-throttle-")
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    calls: list[str] = []

    async def handler(event: RecordingCompleted) -> None:
        calls.append(event.event_id)
        if len(calls) < 3:
            raise StorageThrottled(120.0 if len(calls) == 1 else 9999.0)

    policy = RetryPolicy(base_delay=0.001, max_delay=0.002, max_rate_limit_wait=300.0)
    broker = KafkaBroker()
    async with TestKafkaBroker(broker):
        consumer = Consumer(broker, infra, "svc", policy, sleep=sleep)
        body = RecordingCompleted(event_id="evt-1", tenant="acme", meeting_uuid="m1==").model_dump_json().encode()
        await consumer.consume(topic_name(infra, RecordingCompleted.topic), body, RecordingCompleted, handler)
    assert len(calls) == 3 and waits[:2] == [120.0, 300.0]
