"""Create every Kafka topic of zoomsymbl, dead-letter topics included, idempotently.

The operator command is ``zoomsymbl topics create`` / ``zoomsymbl topics list``
(:mod:`zoomsymbl_common.ops.topics_command`); the Helm chart runs ``create`` in a
pre-install/pre-upgrade Job. A topic that already exists is left as it is: adding partitions would
move meetings to other partitions and break their order, and retention is the platform team's to
change; a partition count below the requested one is reported.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from zoomsymbl_common.errors import KafkaUnavailable, ZoomsymblError
from zoomsymbl_common.events import EVENT_TYPES, DeadLetter
from zoomsymbl_common.kafka_security import KafkaClientOptions

log = logging.getLogger("zoomsymbl.topics")
TOPIC_ALREADY_EXISTS = 36  # Kafka protocol error code
Outcome = Literal["created", "exists"]


class TopicCreationFailed(ZoomsymblError):
    """Kafka refused to create one or more topics."""

    def __init__(self, failures: dict[str, str]) -> None:
        detail = "; ".join(f"{name!r}: {why}" for name, why in sorted(failures.items()))
        super().__init__(f"could not create topics: {detail}")
        self.failures = failures


@dataclass(frozen=True)
class TopicSpec:
    """One topic as it should be created."""

    name: str
    partitions: int
    replication: int
    configs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicPlan:
    """The knobs of :func:`topic_specs` (one set for event topics, partly another for ``.dlq``)."""

    partitions: int = 6
    replication: int = 3
    retention_ms: int = 7 * 24 * 3600 * 1000
    dlq_partitions: int = 1
    dlq_retention_ms: int = 28 * 24 * 3600 * 1000
    min_insync_replicas: int | None = None
    prefix: str = ""


def base_topics() -> list[str]:
    """Every topic the services use, without prefix: the event topics, then their ``.dlq`` topics."""
    events = [event.topic for event in EVENT_TYPES]
    return events + [DeadLetter.topic_for(name) for name in events]


def topic_specs(plan: TopicPlan) -> list[TopicSpec]:
    """The topics to create for ``plan``, prefix applied."""
    specs: list[TopicSpec] = []
    for base in base_topics():
        dlq = base.endswith(".dlq")
        configs = {"retention.ms": str(plan.dlq_retention_ms if dlq else plan.retention_ms)}
        if plan.min_insync_replicas is not None:
            configs["min.insync.replicas"] = str(plan.min_insync_replicas)
        specs.append(
            TopicSpec(
                name=f"{plan.prefix}{base}",
                partitions=plan.dlq_partitions if dlq else plan.partitions,
                replication=plan.replication,
                configs=configs,
            )
        )
    return specs


def classify(topic_errors: Sequence[dict[str, Any]]) -> dict[str, Outcome]:
    """Outcome per topic of a CreateTopics response; raises :class:`TopicCreationFailed` on any other error."""
    outcomes: dict[str, Outcome] = {}
    failures: dict[str, str] = {}
    for entry in topic_errors:
        name, code = str(entry["topic"]), int(entry["error_code"])
        if code == 0:
            outcomes[name] = "created"
        elif code == TOPIC_ALREADY_EXISTS:
            outcomes[name] = "exists"
        else:
            failures[name] = f"error {code}: {entry.get('error_message') or 'no message'}"
    if failures:
        raise TopicCreationFailed(failures)
    return outcomes


async def _start_admin(bootstrap: str, timeout_s: float, security: KafkaClientOptions) -> AIOKafkaAdminClient:
    """An admin client connected to ``bootstrap``, retried until ``timeout_s`` (Kafka may still be starting)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, client_id="zoomsymbl-topics", request_timeout_ms=10000, **security
        )
        try:
            await admin.start()
            return admin
        except KafkaError as exc:
            await admin.close()
            if loop.time() >= deadline:
                raise KafkaUnavailable(f"no broker answered at {bootstrap!r}: {type(exc).__name__}") from exc
            log.warning("kafka not reachable yet, retrying", extra={"bootstrap": bootstrap})
            await asyncio.sleep(2.0)


async def create_topics(
    bootstrap: str, specs: Sequence[TopicSpec], timeout_s: float = 60.0, security: KafkaClientOptions | None = None
) -> dict[str, Outcome]:
    """Create ``specs`` on the cluster at ``bootstrap``; topics that exist already count as success.

    ``security`` is :func:`zoomsymbl_common.kafka_security.client_options` (TLS, SASL); none = plaintext.
    """
    admin = await _start_admin(bootstrap, timeout_s, security or {})
    try:
        new = [NewTopic(s.name, s.partitions, s.replication, topic_configs=dict(s.configs)) for s in specs]
        response = await admin.create_topics(new, timeout_ms=30000)
        outcomes = classify(response.to_object()["topic_errors"])
        existing = [s for s in specs if outcomes.get(s.name) == "exists"]
        if existing:
            described = await admin.describe_topics([s.name for s in existing])
            _warn_on_fewer_partitions(existing, described)
        return outcomes
    finally:
        await admin.close()


def _warn_on_fewer_partitions(specs: Sequence[TopicSpec], described: Sequence[dict[str, Any]]) -> None:
    wanted = {s.name: s.partitions for s in specs}
    for topic in described:
        have = len(topic.get("partitions", []))
        name = str(topic.get("topic"))
        if name in wanted and have < wanted[name]:
            # Not changed on purpose: more partitions re-map keys and break per-meeting order.
            log.warning(
                "existing topic has fewer partitions than requested; left unchanged",
                extra={"topic": name, "partitions": have, "requested": wanted[name]},
            )
