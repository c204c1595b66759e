"""Dead letters: the letter that fits one Kafka message, its publishing, and its count.

A message the consumer policy (:mod:`zoomsymbl_common.consumer`) gives up on goes to ``<topic>.dlq`` as a
:class:`~zoomsymbl_common.events.DeadLetter` that fits in one Kafka message (:data:`DEAD_LETTER_MAX_BYTES`: a
longer payload is cut); it is published acknowledged or not at all (:class:`KafkaUnavailable`), and counted by
its source topic and the class of its reason.
"""

from __future__ import annotations

import logging

from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry, Counter

from zoomsymbl_common.events import DeadLetter
from zoomsymbl_common.kafka_producer import publish_acknowledged
from zoomsymbl_common.settings import InfraSettings

log = logging.getLogger("zoomsymbl.kafka")

DEAD_LETTER_MAX_BYTES = 1_000_000
"""The largest dead letter (its JSON, in bytes). With its key and headers it stays within the producer's
request limit (aiokafka's ``max_request_size``, 1 MiB) and Kafka's default ``message.max.bytes``: a letter
past them is refused at every try, so the message it carries could never be acknowledged."""


def fitted(letter: DeadLetter, limit: int = DEAD_LETTER_MAX_BYTES) -> DeadLetter:
    """``letter`` when its JSON fits in ``limit`` bytes; else with the longest start of its payload that fits, the
    cut named in its reason. Escaping grows a payload up to six times (a control character is ``\\u0000``, a
    byte that is not UTF-8 three), so a message well under Kafka's limit can make a letter over it."""
    if _size(letter) <= limit:
        return letter
    total = len(letter.payload)

    def cut(kept: int) -> DeadLetter:
        note = f"; payload cut to its first {kept} of {total} characters to fit a Kafka message"
        return letter.model_copy(update={"payload": letter.payload[:kept], "reason": letter.reason + note})

    low, high = 0, total  # cut(low) fits (or nothing can), cut(high) does not
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if _size(cut(middle)) <= limit else (low, middle)
    return cut(low)


def _size(letter: DeadLetter) -> int:
    return len(letter.model_dump_json().encode())


async def dead_letter(
    broker: KafkaBroker,
    infra: InfraSettings,
    letter: DeadLetter,
    *,
    timeout: float = 10.0,
    key: bytes | None = None,
) -> None:
    """Publish ``letter`` to the dead-letter topic of its source topic (acknowledged, or raises).

    ``key`` is the meeting's :func:`~zoomsymbl_common.consumer.event_key` when the message parsed far enough:
    a meeting's dead letters then share one partition, in order, like its events.
    """
    destination = DeadLetter.topic_for(letter.source_topic)
    await publish_acknowledged(
        broker,
        letter.model_dump_json().encode(),
        topic=destination,
        key=key,
        headers={"reason": letter.reason[:200], "event_id": letter.event_id or ""},
        timeout=timeout,
        what="dead-letter",
    )
    log.warning(
        "message dead-lettered",
        extra={"topic": destination, "reason": letter.reason, "event_id": letter.event_id},
    )


class ConsumerMetrics:
    """The consumer policy's metrics on one app's registry (a private one when none is given)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.dead_letters = Counter(
            "zoomsymbl_consumer_dead_letters",
            "Messages dead-lettered, by source topic and the class of the reason (error_type of the letter).",
            ["topic", "error_type"],
            registry=self.registry,
        )
