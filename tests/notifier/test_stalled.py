"""Meetings no service moves any more are counted for the alert: real MongoDB, the notifier's sweeper."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import MEETINGS, ZOOM_TRANSCRIPT_WAIT
from zoomsymbl_notifier.stalled import STALLABLE, StalledMeetings
from zoomsymbl_notifier.sweeper import Sweeper

from tests.notifier.conftest import Notifier

pytestmark = pytest.mark.integration
DAY = 86_400.0


def gauge(registry: CollectorRegistry, stage: str) -> float | None:
    return registry.get_sample_value("zoomsymbl_notifier_meetings_stalled", {"stage": stage})


async def meeting(mongo: Mongo, uuid: str, stage: str | None, hours_ago: float) -> None:
    doc = {"tenant": "acme", "meeting_uuid": uuid, "updated_at": utcnow() - timedelta(hours=hours_ago)}
    await mongo.db[MEETINGS].insert_one(doc | ({"stage": stage} if stage else {}))


async def test_meetings_left_at_a_stage_for_longer_than_the_setting_are_counted_by_stage(mongo: Mongo) -> None:
    await meeting(mongo, "lost-mix==", "mixed", 30)  # its audio.mixed.v1 event never reached the submitter
    await meeting(mongo, "refused==", "completed", 50)  # the host's server refused the report: the outbox's to count
    await meeting(mongo, "queued==", "mixed", 2)  # waiting for a provider slot: not yet
    await meeting(mongo, "done==", "notified", 90)
    await meeting(mongo, "failed==", "failed", 90)
    await meeting(mongo, "restarted==", None, 90)  # a forced replay's restart: its updated_at is the earlier run's
    await meeting(mongo, "no-news==", "processing", 26)  # the provider's job: no news for a day
    await meeting(mongo, "zoom-wait==", "mixed", 30)  # waiting for Zoom's transcript: the submitter's deadline
    await mongo.db[MEETINGS].update_one({"meeting_uuid": "zoom-wait=="}, {"$set": {ZOOM_TRANSCRIPT_WAIT: {}}})
    await meeting(mongo, "zoom-done==", "processing", 30)  # its transcript came; the note waits for the next pass
    await mongo.db[MEETINGS].update_one({"meeting_uuid": "zoom-done=="}, {"$set": {ZOOM_TRANSCRIPT_WAIT: {}}})
    registry = CollectorRegistry()
    stalled = StalledMeetings(mongo, registry, DAY)
    assert {stage: gauge(registry, stage) for stage in STALLABLE} == dict.fromkeys(STALLABLE, 0.0)

    counts = await stalled.count(utcnow())

    assert counts == {"received": 0, "mixed": 1, "submitted": 0, "processing": 2}
    assert (gauge(registry, "mixed"), gauge(registry, "processing"), gauge(registry, "completed")) == (1.0, 2.0, None)
    await mongo.db[MEETINGS].update_one({"meeting_uuid": "lost-mix=="}, {"$set": {"stage": "notified"}})
    await stalled.count(utcnow())
    assert gauge(registry, "mixed") == 0.0


async def test_counting_is_off_with_zero(mongo: Mongo) -> None:
    await meeting(mongo, "lost-mix==", "mixed", 30)
    registry = CollectorRegistry()
    assert await StalledMeetings(mongo, registry, 0).count(utcnow()) == {}
    assert gauge(registry, "mixed") == 0.0


async def test_each_sweep_counts_them(notifier: Notifier) -> None:
    await meeting(notifier.mongo, "lost-mix==", "mixed", 30)
    registry = CollectorRegistry()
    await Sweeper(notifier.pipeline, StalledMeetings(notifier.mongo, registry, DAY)).sweep()
    assert gauge(registry, "mixed") == 1.0
