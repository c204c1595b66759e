"""How the notifier subscribes: the job-status consumer may take as long as the insights engine's deadline."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker
from zoomsymbl_common.insights_engine import EngineConfig
from zoomsymbl_common.kafka import Consumer, RetryPolicy
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_notifier.handlers import JOB_STATUS_POLL_INTERVAL_MS, register_subscribers


def test_a_job_status_may_take_the_engines_deadline_without_kafka_handing_its_partition_over() -> None:
    """aiokafka's default max_poll_interval (5 min) is shorter than the insights of a long meeting may take:
    Kafka then rebalances mid-work, another consumer handles the same status again and the commit fails."""
    broker = KafkaBroker()
    consumer = Consumer(broker, InfraSettings(), "notifier", RetryPolicy())
    register_subscribers(broker, consumer, pipeline=Any)  # type: ignore[arg-type]  # only subscribed, never run
    # FastStream keeps a subscriber's aiokafka consumer arguments in _connection_args (no public accessor).
    subscribers: list[Any] = list(broker.subscribers)
    intervals = {sub.topic_names[0]: sub._connection_args["max_poll_interval_ms"] for sub in subscribers}
    job_status = next(ms for topic, ms in intervals.items() if topic.endswith("provider.job-status.v1"))
    assert job_status == JOB_STATUS_POLL_INTERVAL_MS
    assert job_status >= (EngineConfig("http://x", "m").deadline_seconds + 600) * 1000
