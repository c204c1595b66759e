"""The e-mail counters (each send attempt counted as sent, or failed with its reason) and the failed meetings'."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from zoomsymbl_common.events import MeetingFailed, RecordingCompleted
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_notifier.mail import Envelope
from zoomsymbl_notifier.metrics import FAILURE_STAGES, FailureMetrics, MailMetrics
from zoomsymbl_notifier.outbox import Backoff, MailKey, Outbox
from zoomsymbl_notifier.smtp import SmtpTransport

from tests.notifier.conftest import Notifier
from tests.notifier.harness import TENANT, make_settings
from tests.notifier.harness_smtp import SmtpSink, free_port

RAW = b"From: notifier@zoomsymbl.test\r\nTo: host@example.com\r\nSubject: hi\r\n\r\nhello\r\n"


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


@pytest.mark.integration
async def test_sent_rejected_and_unavailable_are_counted_apart(mongo: Mongo, smtp: SmtpSink) -> None:
    registry = CollectorRegistry()
    metrics = MailMetrics(registry)
    envelope = Envelope("notifier@zoomsymbl.test", ("host@example.com",))

    def outbox(port: int) -> Outbox:
        transport = SmtpTransport(make_settings(InfraSettings(), port))
        return Outbox(mongo, transport, Backoff(0.1, 0.2, lease=60), metrics=metrics)

    def key(name: str) -> MailKey:
        return MailKey(TENANT, f"m/{name}==", 0, "report")

    assert await outbox(smtp.port).send(key("sent"), envelope, "<sent@zoomsymbl.test>", RAW) == "sent"
    smtp.reject_code = 550
    assert await outbox(smtp.port).send(key("rejected"), envelope, "<rejected@zoomsymbl.test>", RAW) == "rejected"
    down = outbox(free_port())
    assert await down.send(key("unavailable"), envelope, "<unavailable@zoomsymbl.test>", RAW) == "retry_later"
    assert len(smtp.messages) == 1
    assert value(registry, "zoomsymbl_emails_sent_total") == 1
    assert value(registry, "zoomsymbl_emails_failed_total", reason="rejected") == 1
    assert value(registry, "zoomsymbl_emails_failed_total", reason="unavailable") == 1


def test_both_failure_series_exist_before_any_failure() -> None:
    registry = CollectorRegistry()
    MailMetrics(registry)
    assert registry.get_sample_value("zoomsymbl_emails_failed_total", {"reason": "rejected"}) == 0
    assert registry.get_sample_value("zoomsymbl_emails_failed_total", {"reason": "unavailable"}) == 0
    assert registry.get_sample_value("zoomsymbl_emails_sent_total") == 0


def _series(registry: CollectorRegistry, name: str) -> dict[tuple[str, ...], float]:
    return {
        tuple(sample.labels.values()): sample.value
        for metric in registry.collect()
        for sample in metric.samples
        if sample.name == name
    }


async def test_failure_events_naming_made_up_stages_add_no_series(
    notifier: Notifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = CollectorRegistry()
    monkeypatch.setattr(notifier.pipeline, "count_failure", FailureMetrics(registry).count)
    await notifier.submitter.meeting("m-made-up-stages", stage="failed")
    failed = RecordingCompleted(event_id="rc-made-up", tenant=TENANT, meeting_uuid="m-made-up-stages")
    made_up = 40
    for n in range(made_up):
        # Whoever can write to meeting.failed.v1 chooses the stage: any text of up to 64 characters.
        event = MeetingFailed.of(failed, "mixer", f"stage-{n:03d}", "track unusable")
        await notifier.publish_to_kafka(event.model_copy(update={"event_id": f"made-up-{n}"}))
    await notifier.publish_to_kafka(MeetingFailed.of(failed, "mixer", "verify", "track unusable"))

    counted = _series(registry, "zoomsymbl_notifier_meetings_failed_total")
    assert counted == {("mixer", "other"): made_up, ("mixer", "verify"): 1}  # one series, not one per stage
    assert len(generate_latest(registry).splitlines()) < made_up


def test_every_stage_a_service_gives_up_in_has_its_own_series() -> None:
    """FAILURE_STAGES is written by hand: a stage named in the code but missing there would be counted as "other"."""
    root = Path(__file__).resolve().parents[2]
    sources = [*root.glob("services/*/src/**/*.py"), *root.glob("libs/common/src/**/*.py")]
    named = {
        stage
        for source in sources
        for stage in re.findall(r"\bstage(?:: str)? ?= ?\"([a-z_]+)\"", source.read_text(encoding="utf-8"))
    }
    assert {"download", "submit", "insights", "retry", "unknown"} <= named  # the scan finds them at all
    assert named - FAILURE_STAGES == set()
