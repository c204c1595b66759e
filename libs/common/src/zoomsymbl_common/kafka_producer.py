"""Acknowledged publishing, and a new producer when the idempotent one lost its sequence with the broker.

aiokafka (0.14) never resets an idempotent producer's id or sequence numbers. After a broker restart
the broker may answer a send with ``OutOfOrderSequenceNumber`` (or ``UnknownProducerId``), which
aiokafka does not retry, and every later send to that partition fails the same way until the process
is restarted (aio-libs/aiokafka#1017, "producing messages stops until we restart pods"). Seen here:
in the reliability suite ingest answered every webhook 503 for ten minutes after a Kafka restart, and
a loop of eight publishers got 0 of ~3,250 sends acknowledged in the 30 s after a 10 s broker outage.
The Java producer bumps its epoch in that case (KIP-360); we do the coarse equivalent: the producer is
replaced by a new one (a new producer id, sequences from zero). The publish that met the error still
fails (``KafkaUnavailable``: the consumer's retry policy, or Zoom's retry of a 503, sends it again), so
at most that event is written twice: the consumers deduplicate by ``event_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    ProducerFenced,
    UnknownProducerId,
)
from faststream.exceptions import IncorrectState
from faststream.kafka import KafkaBroker
from faststream.kafka.publisher.producer import AioKafkaFastProducerImpl
from faststream.kafka.publisher.state import RealProducer

from zoomsymbl_common.errors import KafkaUnavailable

log = logging.getLogger("zoomsymbl.kafka")

#: The answers after which an idempotent producer never gets another send through.
LOST_SEQUENCE = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch, ProducerFenced)
RENEW_TIMEOUT_SECONDS = 10.0
OLD_PRODUCER_STOP_SECONDS = 5.0

_RENEWING: weakref.WeakKeyDictionary[KafkaBroker, asyncio.Lock] = weakref.WeakKeyDictionary()


def producer_lost(exc: BaseException, client: AIOKafkaProducer | None) -> bool:
    """True when ``client`` cannot deliver again: ``exc`` is a lost-sequence answer, or its sender task ended.

    aiokafka's sender task ends (failing what it holds) on a fatal error; a producer without it queues
    every later send until the send's deadline.
    """
    if isinstance(exc, LOST_SEQUENCE):
        return True
    task = getattr(getattr(client, "_sender", None), "sender_task", None)
    return isinstance(task, asyncio.Task) and task.done()


async def stop_quietly(client: AIOKafkaProducer, *, timeout: float = OLD_PRODUCER_STOP_SECONDS) -> None:
    """Stop a producer that is being replaced; what it still holds fails (its callers already answered)."""
    try:
        async with asyncio.timeout(timeout):
            await client.stop()
    except (TimeoutError, KafkaError, OSError) as exc:
        log.warning("replaced kafka producer did not stop cleanly", extra={"error": type(exc).__name__})
        await _end_what_is_left(client)


async def _end_what_is_left(client: AIOKafkaProducer) -> None:
    """aiokafka marks a producer closed as its stop begins: one cut short keeps its sender task, metadata task and
    connections for good (a second stop() returns at once). They are ended here; the sends it held fail now."""
    client._message_accumulator.fail_all(ProducerClosed())
    sender = client._sender.sender_task
    if sender is not None:
        sender.cancel()
    with contextlib.suppress(TimeoutError, KafkaError, OSError):
        async with asyncio.timeout(OLD_PRODUCER_STOP_SECONDS):  # its requests in flight (their own timeout)
            if sender is not None:
                await asyncio.wait([sender])
            await client.client.close()


def broker_producer(broker: KafkaBroker) -> AIOKafkaProducer | None:
    """The aiokafka producer a started FastStream ``broker`` publishes with (None before it started).

    FastStream 0.6 keeps it in ``broker.config.producer._producer.producer``; tests/common pins that shape.
    """
    state = getattr(broker.config.producer, "_producer", None)
    if not state:
        return None
    producer = getattr(state, "producer", None)
    return producer if isinstance(producer, AIOKafkaProducer) else None


async def renew_broker_producer(broker: KafkaBroker, failed: AIOKafkaProducer) -> bool:
    """Give ``broker`` a new producer in place of ``failed``; False when it got none (Kafka refused a new one, or the
    broker stopped meanwhile).

    Concurrent publishes that met the same error renew once: whoever comes second finds ``failed``
    already replaced, or, when that renewal failed, does not try again at once (each try can take
    :data:`RENEW_TIMEOUT_SECONDS`: the n-th in line would wait n of them). A new producer that cannot
    start leaves ``failed`` in place, so the next publish that fails tries again.
    """
    lock = _RENEWING.setdefault(broker, asyncio.Lock())
    if lock.locked():  # a renewal is under way: its outcome is this publish's too
        async with lock:
            return broker_producer(broker) is not failed
    async with lock:
        if broker_producer(broker) is not failed:
            return True
        fast = broker.config.producer
        if not isinstance(fast, AioKafkaFastProducerImpl):
            return False  # a FastStream whose producer we do not know: the liveness of the pod is left to decide
        # The options the broker started its producer with, security (broker_security) included.
        client = AIOKafkaProducer(**broker._connection_kwargs)
        if not await _started(client):
            return False
        if not _holds_live(broker, failed):
            # The broker stopped, or is stopping (its stop stops ``failed``, then forgets the producer it holds):
            # put in now, the new one would be left running with nobody to stop it.
            await stop_quietly(client)
            return False
        fast._producer = RealProducer(client)  # what FastStream's connect() does once the producer started
    log.warning("kafka producer renewed after it lost its sequence with the broker")
    await stop_quietly(failed)
    return True


def _holds_live(broker: KafkaBroker, client: AIOKafkaProducer) -> bool:
    """``broker`` still publishes with ``client``, and nobody is stopping it (aiokafka marks it closed first)."""
    return not client._closed and broker_producer(broker) is client


async def start_client(client: AIOKafkaConsumer | AIOKafkaProducer, *, timeout: float | None = None) -> None:
    """Start an aiokafka ``client``; Kafka not answering (within ``timeout``) becomes :class:`KafkaUnavailable`.

    A client that did not start (or whose caller was cancelled meanwhile: a handler cut at shutdown) is stopped
    again: one that started even partly holds connections."""
    try:
        async with asyncio.timeout(timeout):
            await client.start()
    except BaseException as exc:
        with contextlib.suppress(TimeoutError, KafkaError, OSError):
            await client.stop()
        if not isinstance(exc, (TimeoutError, KafkaError, OSError)):
            raise
        raise KafkaUnavailable(f"cannot connect: {type(exc).__name__}") from exc


async def _started(client: AIOKafkaProducer) -> bool:
    """Start ``client`` within :data:`RENEW_TIMEOUT_SECONDS` (:func:`start_client`); False, logged, when it did not."""
    try:
        await start_client(client, timeout=RENEW_TIMEOUT_SECONDS)
    except KafkaUnavailable as exc:
        log.warning("kafka producer not renewed", extra={"error": str(exc)})
        return False
    return True


async def publish_acknowledged(
    broker: KafkaBroker,
    body: bytes,
    *,
    topic: str,
    key: bytes | None,
    headers: dict[str, str],
    timeout: float,
    what: str = "publish",
) -> None:
    """``broker.publish`` that returns once Kafka acknowledged, or raises :class:`KafkaUnavailable`.

    A producer that lost its sequence is renewed before the error is raised, so the caller's retry
    goes through the new one.
    """
    client = broker_producer(broker)
    try:
        async with asyncio.timeout(timeout):
            await broker.publish(body, topic=topic, key=key, headers=headers)
    except (TimeoutError, KafkaError) as exc:
        if client is not None and producer_lost(exc, client):
            await renew_broker_producer(broker, client)
        raise KafkaUnavailable(f"{what} to {topic!r} not acknowledged: {type(exc).__name__}") from exc
    except IncorrectState as exc:
        # The broker not started yet, or stopped: work the service's stop has not cancelled yet (a message given
        # back at its poll deadline) publishing after the producer closed. Kafka out of reach for it, not a bug of
        # the message's (an "unexpected failure" spent one of its attempts).
        raise KafkaUnavailable(f"{what} to {topic!r}: the service's Kafka client is not connected") from exc
