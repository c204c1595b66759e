"""ingest's Kafka producer (aiokafka): connects in the background, so the app starts (and answers 503) without Kafka.

Zoom retries a webhook only if we answer an error quickly, so a request never waits for a
connection: until the producer is connected, :meth:`Producer.publish` fails at once with
:class:`KafkaUnavailable`. A producer that lost its sequence with the broker (after a broker restart:
:mod:`zoomsymbl_common.kafka_producer`) is replaced the same way. Closing stops the producer, which
flushes what it still holds.

Every webhook's path ends here, so it is kept short (issue 21): one ``send_and_wait`` of the
event's JSON with acks=all and the idempotent producer. The W3C context of the webhook's server
span travels in the message's ``traceparent`` header (the consumers' FastStream telemetry
middleware continues the trace from it), beside the ``event_id``/``event_type`` headers every
zoomsymbl publisher sets; a publish outside any span (backfill, reconciliation) gets a PRODUCER
span of its own. FastStream's publish path (middleware, a span per publish) took 13.7 % of
ingest's profile samples before (bench/results/profiles/).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind
from zoomsymbl_common.errors import KafkaUnavailable
from zoomsymbl_common.events import Event
from zoomsymbl_common.kafka import event_key, probe_bootstrap, start_client, topic_name
from zoomsymbl_common.kafka_producer import producer_lost, stop_quietly
from zoomsymbl_common.kafka_security import check_connection, client_options
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.telemetry import tracer

from zoomsymbl_ingest.zoom_payload import PayloadError

log = logging.getLogger("zoomsymbl.ingest.producer")
CONNECT_TIMEOUT_SECONDS = 10.0


class Producer:
    """Publishes events once Kafka acknowledged them, or raises :class:`KafkaUnavailable`."""

    def __init__(self, infra: InfraSettings, *, service: str = "ingest") -> None:
        self.infra = infra
        self.service = service
        self._client: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None
        self._retiring: set[asyncio.Task[None]] = set()

    @property
    def connected(self) -> bool:
        """True once the producer started (and until it is closed)."""
        return self._client is not None

    def start(self) -> None:
        """Begin connecting in the background (retrying until it works or :meth:`close`)."""
        if self._task is None and not self.connected:
            self._task = asyncio.create_task(self._connect_forever(), name="kafka-connect")

    async def wait_connected(self, timeout: float) -> None:
        """Wait until connected; raises :class:`KafkaUnavailable` after ``timeout`` seconds."""
        self.start()
        if self._task is not None and not self.connected:
            try:
                async with asyncio.timeout(timeout):
                    await asyncio.shield(self._task)
            except TimeoutError:
                raise KafkaUnavailable(f"no connection to {self.infra.kafka_bootstrap!r} within {timeout}s") from None

    async def check(self, timeout: float = 2.0) -> None:
        """Readiness: connected, and the cluster answers a metadata request within ``timeout``."""
        client = self._client
        if client is None:
            raise KafkaUnavailable("not connected")
        try:
            async with asyncio.timeout(timeout):
                await client.client.fetch_all_metadata()
        except (TimeoutError, KafkaError, OSError) as exc:
            raise KafkaUnavailable(f"no answer to a metadata request: {type(exc).__name__}") from exc

    async def publish(self, event: Event, *, timeout: float) -> None:
        """Publish ``event`` to its topic; return only after Kafka acknowledged it (acks=all)."""
        client = self._client
        if client is None:
            raise KafkaUnavailable("not connected")
        topic = topic_name(self.infra, event.topic)
        if trace.get_current_span().get_span_context().is_valid:
            await self._send(client, topic, event, timeout)  # a webhook's: its server span is the parent
            return
        # The backfill's and the reconciliation's publishes start the meeting's trace here.
        attributes = {"messaging.system": "kafka", "messaging.destination.name": topic}
        with tracer().start_as_current_span(f"{topic} publish", kind=SpanKind.PRODUCER, attributes=attributes):
            await self._send(client, topic, event, timeout)

    async def _send(self, client: AIOKafkaProducer, topic: str, event: Event, timeout: float) -> None:
        carrier = {"event_id": event.event_id, "event_type": type(event).__name__}
        propagate.inject(carrier)  # traceparent (and tracestate): the consumers continue this trace
        headers = [(name, value.encode()) for name, value in carrier.items()]
        body = event.model_dump_json().encode()
        try:
            async with asyncio.timeout(timeout):
                await client.send_and_wait(topic, body, event_key(event), headers=headers)
        except MessageSizeTooLargeError as exc:
            # Kafka would refuse it every time: the body's fault (400, Zoom stops), not Kafka being away (503).
            raise PayloadError(
                f"the recording's event is {len(body)} bytes, more than one Kafka message holds", invalid=True
            ) from exc
        except (TimeoutError, KafkaError) as exc:
            if producer_lost(exc, client):
                self._renew(client)
            # A timed-out send may still land (at least once: the consumers deduplicate by event_id).
            raise KafkaUnavailable(f"publish to {topic!r} not acknowledged: {type(exc).__name__}") from exc
        except asyncio.CancelledError as exc:
            # The caller's deadline ended the wait before ``timeout`` did (a webhook's, after a slow token write, or
            # with a publish timeout set above it): a producer whose sender task ended is replaced all the same, or
            # every publish is cut the same way and nothing ever replaces it (503 for good).
            if producer_lost(exc, client):
                self._renew(client)
            raise

    def _renew(self, failed: AIOKafkaProducer) -> None:
        """Replace a producer that lost its sequence with the broker (aio-libs/aiokafka#1017): webhooks are
        answered 503 (Zoom retries them) until the new one is connected, in the background as at start."""
        if self._client is not failed:
            return  # another publish that met the same error replaced it already
        log.warning("kafka producer lost its sequence with the broker, connecting a new one")
        self._client, self._task = None, None
        retiring = asyncio.create_task(stop_quietly(failed), name="kafka-producer-retire")
        self._retiring.add(retiring)
        retiring.add_done_callback(self._retiring.discard)
        self.start()

    async def close(self, timeout: float = 15.0) -> None:
        """Stop connecting, or stop the producer (flushing what it holds) when connected."""
        if self._retiring:
            await asyncio.wait(self._retiring)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        client, self._client = self._client, None
        if client is not None:
            try:
                async with asyncio.timeout(timeout):
                    await client.stop()
            except (TimeoutError, KafkaError) as exc:
                log.warning("kafka producer did not flush cleanly", extra={"error": type(exc).__name__})

    async def _connect_forever(self) -> None:
        delay = 0.25
        while True:
            try:
                self._client = await self._connect()
            except KafkaUnavailable as exc:
                log.warning("kafka not reachable yet", extra={"error": str(exc)})
            except Exception as exc:
                # Anything else (the TLS files unreadable when a renewal reads them again: ConfigError) must not end
                # this task: nothing would start another, and every webhook would be answered 503 for good.
                log.error(
                    "kafka producer not connected", extra={"error": f"{type(exc).__name__}: {scrub(str(exc), 300)}"}
                )
            else:
                log.info("kafka connected", extra={"bootstrap": self.infra.kafka_bootstrap})
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _connect(self) -> AIOKafkaProducer:
        # Probe first: aiokafka's start() against nothing waits out its whole request timeout.
        await probe_bootstrap(self.infra.kafka_bootstrap, timeout=3.0)
        # TLS handshake and SASL login too: a refusal is named here (KafkaSecurityRefused), not "cannot connect".
        await check_connection(self.infra, timeout=5.0)
        client = AIOKafkaProducer(
            bootstrap_servers=self.infra.kafka_bootstrap,
            client_id=f"zoomsymbl-{self.service}",
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=max(self.infra.kafka_request_timeout_ms, 1000),
            **client_options(self.infra),
        )
        await start_client(client, timeout=CONNECT_TIMEOUT_SECONDS)
        return client
