"""A producer renewal (zoomsymbl_common.kafka_producer) against what runs beside it: the broker stopping, the caller
cancelled, other publishes that met the same error.

Each test holds the new producer's start at a gate, so the interleaving is fixed rather than hoped for.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from faststream.kafka import KafkaBroker
from faststream.kafka.publisher.producer import AioKafkaFastProducerImpl
from faststream.kafka.publisher.state import RealProducer
from zoomsymbl_common.events import RecordingCompleted, stable_id
from zoomsymbl_common.kafka import make_broker, publish_event, start_broker
from zoomsymbl_common.kafka_producer import broker_producer, renew_broker_producer, stop_quietly
from zoomsymbl_common.settings import InfraSettings


class Gate:
    """Holds every ``AIOKafkaProducer.start`` after this point at ``release`` (after the real start, or instead of
    it with ``refuse``), and notes the producers that reached it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, refuse: bool = False) -> None:
        self.reached: list[AIOKafkaProducer] = []
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        original: Callable[[AIOKafkaProducer], Awaitable[None]] = AIOKafkaProducer.start

        async def start(client: AIOKafkaProducer) -> None:
            if not refuse:
                await original(client)
            self.reached.append(client)
            self.entered.set()
            await self.release.wait()
            if refuse:
                raise KafkaConnectionError("refused by the test")

        monkeypatch.setattr(AIOKafkaProducer, "start", start)


async def renewal_at_the_gate(
    broker: KafkaBroker, failed: AIOKafkaProducer, monkeypatch: pytest.MonkeyPatch
) -> tuple[Gate, asyncio.Task[bool]]:
    """A renewal of ``failed`` held while its new producer starts."""
    gate = Gate(monkeypatch)
    renewal = asyncio.create_task(renew_broker_producer(broker, failed))
    await asyncio.wait_for(gate.entered.wait(), timeout=30)
    return gate, renewal


async def gate_opened(gate: Gate, renewal: asyncio.Task[bool], *, then: asyncio.Event | None = None) -> None:
    """Let the held renewal go on; it must end without a producer: the new one stopped, none put in."""
    gate.release.set()
    renewed = await renewal
    if then is not None:
        then.set()
    assert gate.reached[0]._closed
    assert not renewed


@pytest.fixture
async def started(infra: InfraSettings) -> AsyncIterator[tuple[KafkaBroker, AIOKafkaProducer]]:
    """A started broker that published once, and its producer (to be renewed)."""
    broker = make_broker(infra, "test")
    await start_broker(broker)
    try:
        event = RecordingCompleted(event_id=stable_id("acme", "races"), tenant="acme", meeting_uuid="races")
        await publish_event(broker, infra, event, timeout=10.0)
        failed = broker_producer(broker)
        assert failed is not None
        yield broker, failed
    finally:
        await broker.stop()


@pytest.mark.integration
async def test_a_renewal_that_ends_after_the_broker_stopped_leaves_no_producer_running(
    started: tuple[KafkaBroker, AIOKafkaProducer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, the new producer was put into the stopped broker: running, and never stopped by anyone."""
    broker, failed = started
    gate, renewal = await renewal_at_the_gate(broker, failed, monkeypatch)
    await broker.stop()
    await gate_opened(gate, renewal)
    assert broker_producer(broker) is None


@pytest.mark.integration
async def test_a_renewal_that_ends_while_the_broker_stops_its_producer_leaves_no_producer_running(
    started: tuple[KafkaBroker, AIOKafkaProducer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker's stop stops the producer it holds, then forgets it: before, a new producer swapped in between was
    forgotten with it, running."""
    broker, failed = started
    stopped, resume = asyncio.Event(), asyncio.Event()
    original_stop = failed.stop
    calls = 0

    async def stop_then_hold() -> None:  # the broker's stop, held after it stopped ``failed``
        nonlocal calls
        calls += 1
        await original_stop()
        if calls == 1:
            stopped.set()
            await resume.wait()

    monkeypatch.setattr(failed, "stop", stop_then_hold)
    gate, renewal = await renewal_at_the_gate(broker, failed, monkeypatch)
    stopping = asyncio.create_task(broker.stop())
    await asyncio.wait_for(stopped.wait(), timeout=30)
    await gate_opened(gate, renewal, then=resume)
    await stopping
    assert broker_producer(broker) is None


@pytest.mark.integration
async def test_a_renewal_cancelled_while_its_producer_starts_stops_that_producer(
    started: tuple[KafkaBroker, AIOKafkaProducer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, a publish cancelled during the renewal (a handler cut at shutdown) left the new producer running."""
    broker, failed = started
    gate, renewal = await renewal_at_the_gate(broker, failed, monkeypatch)
    renewal.cancel()
    with pytest.raises(asyncio.CancelledError):
        await renewal
    assert gate.reached[0]._closed
    assert broker_producer(broker) is failed  # the next publish that fails tries again


async def test_publishes_queued_behind_a_failed_renewal_do_not_each_renew_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before, each publish that met the lost producer renewed in turn, under the lock: with Kafka not answering
    (up to RENEW_TIMEOUT_SECONDS each) the n-th waited n renewals on top of its own deadline."""
    broker = make_broker(InfraSettings(kafka_bootstrap="127.0.0.1:1"), "test")
    fast = broker.config.producer
    assert isinstance(fast, AioKafkaFastProducerImpl)
    failed = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1")
    fast._producer = RealProducer(failed)
    gate = Gate(monkeypatch, refuse=True)
    first = asyncio.create_task(renew_broker_producer(broker, failed))
    await asyncio.wait_for(gate.entered.wait(), timeout=30)
    queued = [asyncio.create_task(renew_broker_producer(broker, failed)) for _ in range(3)]
    gate.release.set()
    assert await asyncio.gather(first, *queued) == [False] * 4
    assert len(gate.reached) == 1
    assert broker_producer(broker) is failed  # left in place: the next publish that fails tries again


@pytest.mark.integration
async def test_a_replaced_producer_whose_stop_is_cut_short_is_still_closed(infra: InfraSettings) -> None:
    """aiokafka marks a producer closed as its stop begins: a stop cut at its deadline (batches it could not flush in
    time) left its sender task, metadata task and connections running for good, and a second stop did nothing."""
    client = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, enable_idempotence=True)
    await client.start()
    sender = client._sender.sender_task
    await stop_quietly(client, timeout=0)  # cut at its first wait
    assert client._closed and sender.done()
    assert client.client._sync_task is None
    assert not any(conn.connected() for conn in client.client._conns.values())
