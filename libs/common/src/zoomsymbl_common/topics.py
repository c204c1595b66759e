"""Create every Kafka topic of zoomsymbl, dead-letter topics included, idempotently.

The operator command is ``zoomsymbl topics create`` / ``zoomsymbl topics list``
(:mod:`zoomsymbl_common.ops.topics_command`); the Helm chart runs ``create`` in a
pre-install/pre-upgrade Job. A topic that already exists is left as it is: adding partitions would
move meetings to other partitions and break their order, and retention is the platform team's to
change. What differs from the plan (fewer partitions, another replication factor, ``retention.ms``,
``min.insync.replicas``, ``cleanup.policy``) is reported: logged, and the topic's outcome is ``differs``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from zoomsymbl_common.errors import KafkaUnavailable, ZoomsymblError
from zoomsymbl_common.events import EVENT_TYPES, DeadLetter
from zoomsymbl_common.kafka_security import KafkaClientOptions

log = logging.getLogger("zoomsymbl.topics")
TOPIC_ALREADY_EXISTS = 36  # Kafka protocol error code
Outcome = Literal["created", "exists", "differs"]


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
        # Explicit, not the broker's default: under log.cleanup.policy=compact a meeting's events, all under
        # one key, would be compacted down to its last one.
        configs = {"cleanup.policy": "delete", "retention.ms": str(plan.dlq_retention_ms if dlq else plan.retention_ms)}
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


def classify(topic_errors: Sequence[dict[str, Any]], asked: Sequence[str]) -> dict[str, Outcome]:
    """Outcome per topic ``asked`` for, from a CreateTopics response; raises :class:`TopicCreationFailed` on any
    other error, and for a topic the response does not name (its creation is unknown: not a success)."""
    outcomes: dict[str, Outcome] = {}
    failures: dict[str, str] = {}
    unanswered = set(asked)
    for entry in topic_errors:
        name, code = str(entry["topic"]), int(entry["error_code"])
        if name not in unanswered:
            continue  # a topic nobody asked for, or named twice: the first answer counts
        unanswered.discard(name)
        if code == 0:
            outcomes[name] = "created"
        elif code == TOPIC_ALREADY_EXISTS:
            outcomes[name] = "exists"
        else:
            failures[name] = f"error {code}: {entry.get('error_message') or 'no message'}"
    failures.update({name: "not named in Kafka's answer" for name in asked if name in unanswered})
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
        outcomes = classify(response.to_object()["topic_errors"], [s.name for s in specs])
        existing = [s for s in specs if outcomes.get(s.name) == "exists"]
        if existing:
            for name in await _report_differences(admin, existing):
                outcomes[name] = "differs"
        return outcomes
    finally:
        await admin.close()


async def _describe(
    admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec], attempts: int = 10
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, str]]]:
    """Partitions and configs of each topic of ``specs`` that Kafka describes without an error.

    A topic created a moment ago (by another Job) may not be in the broker's metadata yet: retried a few times.
    """
    resources = [ConfigResource(ConfigResourceType.TOPIC, s.name, configs=dict(s.configs)) for s in specs]
    topics: dict[str, dict[str, Any]] = {}
    configs: dict[str, dict[str, str]] = {}
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(0.5)
        described = {str(t.get("topic")): t for t in await admin.describe_topics([s.name for s in specs])}
        configs = _config_values(await admin.describe_configs(resources))
        topics = {n: t for n, t in described.items() if t.get("error_code") == 0 and n in configs}
        if len(topics) == len(specs):
            break
    return topics, configs


async def _report_differences(admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec]) -> set[str]:
    """Log how each existing topic differs from its spec (left unchanged); the names of those that differ.

    A check refused (a Kafka user without DescribeConfigs, say) is logged, never fails the creation.
    """
    try:
        topics, configs = await _describe(admin, specs)
    except KafkaError as exc:
        log.warning("existing topics' settings not checked", extra={"error": type(exc).__name__})
        return set()
    differing: set[str] = set()
    for spec in specs:
        if spec.name not in topics:
            log.warning(
                "existing topic could not be described; its settings were not checked", extra={"topic": spec.name}
            )
            continue
        differences = differences_from(spec, topics[spec.name], configs[spec.name])
        for setting, (have, requested) in differences.items():
            # Not changed on purpose: more partitions re-map keys and break per-meeting order; retention,
            # replicas and the rest are the platform team's (and a changed value may be theirs).
            log.warning(
                "existing topic differs from the plan; left unchanged",
                extra={"topic": spec.name, "setting": setting, "value": have, "requested": requested},
            )
        if differences:
            differing.add(spec.name)
    return differing


def differences_from(spec: TopicSpec, described: dict[str, Any], configs: dict[str, str]) -> dict[str, tuple[str, str]]:
    """``setting -> (value, requested)`` where the existing topic falls short of or differs from ``spec``.

    More partitions than requested is not a difference: partitions are only ever added (by whoever owns the cluster).
    """
    partitions = described.get("partitions") or []
    found: dict[str, tuple[str, str]] = {}
    if len(partitions) < spec.partitions:
        found["partitions"] = (str(len(partitions)), str(spec.partitions))
    replicas = {len(p.get("replicas") or []) for p in partitions}
    if replicas and replicas != {spec.replication}:
        found["replication"] = (",".join(str(r) for r in sorted(replicas)), str(spec.replication))
    for setting, requested in sorted(spec.configs.items()):
        have = configs.get(setting)
        if have != requested:
            found[setting] = (str(have), requested)
    return found


def _config_values(responses: Sequence[Any]) -> dict[str, dict[str, str]]:
    """``topic -> {config: value}`` of the topics DescribeConfigs described (entries start with name and value)."""
    values: dict[str, dict[str, str]] = {}
    for response in responses:
        for error_code, _, _, name, entries, *_ in response.resources:
            if error_code == 0:
                values[str(name)] = {str(e[0]): str(e[1]) for e in entries}
    return values
