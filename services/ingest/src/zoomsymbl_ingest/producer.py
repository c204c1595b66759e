"""ingest's Kafka producer: connects in the background, so the app starts (and answers 503) without Kafka.

Zoom retries a webhook only if we answer an error quickly, so a request never waits for a
connection: until the broker is connected, :meth:`Producer.publish` fails at once with
:class:`KafkaUnavailable`. Closing stops the broker, which flushes what the producer still holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka.errors import KafkaError
from faststream.exceptions import FastStreamException
from faststream.kafka import KafkaBroker
from zoomsymbl_common.errors import KafkaUnavailable
from zoomsymbl_common.events import Event
from zoomsymbl_common.kafka import publish_event, start_broker
from zoomsymbl_common.settings import InfraSettings

log = logging.getLogger("zoomsymbl.ingest.producer")


class Producer:
    """Publishes events once Kafka acknowledged them, or raises :class:`KafkaUnavailable`."""

    def __init__(
        self,
        broker: KafkaBroker,
        infra: InfraSettings,
        *,
        connected: bool = False,
    ) -> None:
        self.broker = broker
        self.infra = infra
        self._connected = asyncio.Event()
        if connected:
            self._connected.set()
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        """True once the broker started."""
        return self._connected.is_set()

    def start(self) -> None:
        """Begin connecting in the background (retrying until it works or :meth:`close`)."""
        if self._task is None and not self.connected:
            self._task = asyncio.create_task(self._connect_forever(), name="kafka-connect")

    async def wait_connected(self, timeout: float) -> None:
        """Wait until connected; raises :class:`KafkaUnavailable` after ``timeout`` seconds."""
        self.start()
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            raise KafkaUnavailable(f"no connection to {self.infra.kafka_bootstrap!r} within {timeout}s") from None

    async def publish(self, event: Event, *, timeout: float) -> None:
        """Publish ``event``; return only after Kafka acknowledged it (acks=all)."""
        if not self.connected:
            raise KafkaUnavailable("not connected")
        try:
            await publish_event(self.broker, self.infra, event, timeout=timeout)
        except FastStreamException as exc:  # e.g. IncorrectState while the broker is stopping
            raise KafkaUnavailable(f"publish refused: {type(exc).__name__}") from exc

    async def close(self, timeout: float = 15.0) -> None:
        """Stop connecting, or stop the broker (flushing the producer) when connected."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.connected:
            try:
                await asyncio.wait_for(self.broker.stop(), timeout)
            except (TimeoutError, KafkaError) as exc:
                log.warning("kafka producer did not flush cleanly", extra={"error": type(exc).__name__})
            self._connected.clear()

    async def _connect_forever(self) -> None:
        delay = 0.25
        while True:
            try:
                await start_broker(self.broker, timeout=10.0)
            except KafkaUnavailable as exc:
                log.warning("kafka not reachable yet", extra={"error": str(exc)})
            else:
                self._connected.set()
                log.info("kafka connected", extra={"bootstrap": self.infra.kafka_bootstrap})
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
