"""Topic creation for the Helm pre-install Job: the plan (pure), the command line, and the real broker."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from zoomsymbl_common.events import EVENT_TYPES
from zoomsymbl_common.ops.cli import build_parser, main
from zoomsymbl_common.ops.topics_command import plan_from_args
from zoomsymbl_common.topics import (
    TopicCreationFailed,
    TopicPlan,
    base_topics,
    classify,
    create_topics,
    topic_specs,
)

KAFKA = "127.0.0.1:19092"
EXPECTED_BASES = {
    "zoom.recording-completed.v1",
    "audio.mixed.v1",
    "provider.job-submitted.v1",
    "provider.job-status.v1",
    "insights.ready.v1",
    "meeting.failed.v1",
    "zoom.reconciliation-completed.v1",
}


def test_every_event_topic_and_its_dead_letter_topic_is_planned() -> None:
    names = set(base_topics())
    assert names == EXPECTED_BASES | {f"{name}.dlq" for name in EXPECTED_BASES}
    assert {event.topic for event in EVENT_TYPES} <= names


def test_specs_apply_prefix_partitions_and_retention_separately_for_dead_letters() -> None:
    plan = TopicPlan(
        partitions=12, replication=3, retention_ms=1000, dlq_partitions=2, dlq_retention_ms=5000, prefix="p-"
    )
    specs = {spec.name: spec for spec in topic_specs(plan)}
    main_topic, dlq = specs["p-audio.mixed.v1"], specs["p-audio.mixed.v1.dlq"]
    delete = {"cleanup.policy": "delete"}
    assert (main_topic.partitions, main_topic.replication, main_topic.configs) == (
        12,
        3,
        {**delete, "retention.ms": "1000"},
    )
    assert (dlq.partitions, dlq.replication, dlq.configs) == (2, 3, {**delete, "retention.ms": "5000"})
    assert all(name.startswith("p-") for name in specs)


def test_min_insync_replicas_is_set_only_when_asked() -> None:
    with_isr = topic_specs(TopicPlan(min_insync_replicas=2))
    assert all(spec.configs["min.insync.replicas"] == "2" for spec in with_isr)
    assert all("min.insync.replicas" not in spec.configs for spec in topic_specs(TopicPlan()))


def test_existing_topics_count_as_success_and_other_errors_name_the_topic() -> None:
    ok = classify(
        [
            {"topic": "a", "error_code": 0, "error_message": None},
            {"topic": "b", "error_code": 36, "error_message": "Topic 'b' already exists."},
        ],
        ["a", "b"],
    )
    assert ok == {"a": "created", "b": "exists"}
    with pytest.raises(TopicCreationFailed, match=r"'c'.*error 38.*replication factor"):
        classify([{"topic": "c", "error_code": 38, "error_message": "replication factor 5 cannot be reached"}], ["c"])


def test_a_topic_the_answer_does_not_name_is_a_failure_not_unknown() -> None:
    """Before, the command printed `unknown` for it and exited 0 (the chart's Job succeeded without the topic)."""
    answer = [{"topic": "a", "error_code": 0, "error_message": None}, {"topic": "zz", "error_code": 0}]
    with pytest.raises(TopicCreationFailed) as exc:
        classify(answer, ["a", "b"])
    assert exc.value.failures == {"b": "not named in Kafka's answer"}
    twice = [{"topic": "a", "error_code": 0}, {"topic": "a", "error_code": 38, "error_message": "x"}]
    assert classify(twice, ["a"]) == {"a": "created"}


def test_command_line_builds_the_plan_the_chart_asks_for() -> None:
    args = build_parser().parse_args(
        [
            "topics",
            "create",
            "--bootstrap",
            "kafka:9092",
            "--partitions",
            "6",
            "--replication",
            "3",
            "--retention-ms",
            "604800000",
            "--dlq-retention-ms",
            "-1",
            "--min-insync-replicas",
            "2",
            "--prefix",
            "prod-",
        ]
    )
    assert args.bootstrap == "kafka:9092"
    assert plan_from_args(args) == TopicPlan(
        partitions=6, replication=3, retention_ms=604800000, dlq_retention_ms=-1, min_insync_replicas=2, prefix="prod-"
    )


@pytest.mark.parametrize("bad", [["--partitions", "0"], ["--retention-ms", "0"], ["--replication", "x"]])
def test_invalid_numbers_are_rejected_with_usage_error(bad: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["topics", "create", "--bootstrap", "k:9092", *bad])
    assert exc.value.code == 2
    assert "argument" in capsys.readouterr().err


def test_list_prints_every_prefixed_topic(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topics", "list", "--prefix", "x-"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [f"x-{name}" for name in base_topics()]


def test_unreachable_kafka_exits_3_with_a_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["topics", "create", "--bootstrap", "127.0.0.1:1", "--replication", "1", "--timeout-s", "0"])
    assert status == 3
    assert "no broker answered at '127.0.0.1:1'" in capsys.readouterr().err


async def _describe(prefix: str) -> tuple[dict[str, int], dict[str, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        names = [name for name in await admin.list_topics() if name.startswith(prefix)]
        partitions = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(names)}
        resource = ConfigResource(ConfigResourceType.TOPIC, f"{prefix}audio.mixed.v1.dlq")
        response = (await admin.describe_configs([resource]))[0]
        entries = response.resources[0][4]
        configs = {entry[0]: entry[1] for entry in entries}
        await admin.delete_topics(names)
        return partitions, configs
    finally:
        await admin.close()


@pytest.mark.integration
async def test_creates_every_topic_on_the_real_broker_and_a_second_run_is_a_no_op() -> None:
    prefix = f"test-{uuid.uuid4().hex[:12]}-"
    plan = TopicPlan(partitions=3, replication=1, retention_ms=3_600_000, dlq_retention_ms=7_200_000, prefix=prefix)
    first = await create_topics(KAFKA, topic_specs(plan), timeout_s=30)
    second = await create_topics(KAFKA, topic_specs(plan), timeout_s=30)
    assert set(first.values()) == {"created"}
    assert set(second.values()) == {"exists"}
    partitions, dlq_configs = await _describe(prefix)
    assert partitions == {f"{prefix}{name}": (1 if name.endswith(".dlq") else 3) for name in base_topics()}
    assert dlq_configs["retention.ms"] == "7200000"


@pytest.mark.integration
async def test_impossible_replication_fails_naming_the_topics() -> None:
    prefix = f"test-{uuid.uuid4().hex[:12]}-"
    with pytest.raises(TopicCreationFailed, match=r"replicat") as exc:
        await create_topics(KAFKA, topic_specs(TopicPlan(replication=9, prefix=prefix)), timeout_s=30)
    assert f"{prefix}audio.mixed.v1" in exc.value.failures
