"""`zoomsymbl topics create` on the real broker: what keeps events durable is set, and what differs is reported.

A topic that exists is never changed (docs: "existing topics are left unchanged"), but a cluster whose
topics were made with a retention of an hour or a min.insync.replicas of 1 must not look like the plan.
"""

from __future__ import annotations

import logging

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from zoomsymbl_common.events import AudioMixed
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.topics import TopicPlan, create_topics, topic_specs

pytestmark = pytest.mark.integration


async def _topic_configs(infra: InfraSettings, name: str) -> dict[str, tuple[str, bool]]:
    """``config -> (value, set on the topic itself)`` of topic ``name``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        response = (await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)]))[0]
    finally:
        await admin.close()
    entries = response.to_object()["resources"][0]["config_entries"]
    topic_level = 1  # DescribeConfigs v1+ config_source: DYNAMIC_TOPIC_CONFIG
    return {e["config_names"]: (e["config_value"], e.get("config_source") == topic_level) for e in entries}


async def test_event_topics_are_created_with_delete_cleanup_set_on_the_topic(infra: InfraSettings) -> None:
    """Not the broker's default: under log.cleanup.policy=compact one meeting's events (one key) shrink to one."""
    plan = TopicPlan(partitions=2, replication=1, prefix=infra.kafka_topic_prefix)
    await create_topics(infra.kafka_bootstrap, topic_specs(plan), timeout_s=30)

    configs = await _topic_configs(infra, f"{infra.kafka_topic_prefix}{AudioMixed.topic}")

    assert configs["cleanup.policy"] == ("delete", True)


async def test_an_existing_topic_with_other_settings_is_reported_and_left_unchanged(
    infra: InfraSettings, caplog: pytest.LogCaptureFixture
) -> None:
    name = f"{infra.kafka_topic_prefix}{AudioMixed.topic}"
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 2, 1, topic_configs={"retention.ms": "3600000"})])
    finally:
        await admin.close()
    plan = TopicPlan(partitions=2, replication=1, retention_ms=604_800_000, prefix=infra.kafka_topic_prefix)

    with caplog.at_level(logging.WARNING, logger="zoomsymbl.topics"):
        outcomes = await create_topics(infra.kafka_bootstrap, topic_specs(plan), timeout_s=30)

    assert outcomes[name] == "differs"
    reported = {(r.__dict__.get("topic"), r.__dict__.get("setting")): r for r in caplog.records}
    retention = reported[(name, "retention.ms")].__dict__
    assert (retention["value"], retention["requested"]) == ("3600000", "604800000")
    assert (await _topic_configs(infra, name))["retention.ms"][0] == "3600000", "left unchanged"
    assert outcomes[f"{name}.dlq"] == "created"
