"""Meetings that neither finish nor fail: ``zoomsymbl_notifier_meetings_stalled{stage}``, for an alert.

Every failure has a defined outcome, but a meeting can still stop where no service will move it again: an
``audio.mixed.v1`` event Kafka lost after acknowledging it, a consumer group's offsets moved past the meeting, a bug.
Nothing then fails it, and its host hears nothing. Each round the sweeper counts the meetings at every stage before
``notified`` whose last update (``updated_at``, set with every stage move) is older than ``stalled_after_seconds`` (a
day by default; 0: nothing counted), by stage, through the index ``stage_updated``; the chart's
``ZoomsymblMeetingsStalled`` alert fires while any is counted, and ``zoomsymbl status --stage <stage>`` lists them.
A meeting without a stage (a forced replay restarted it, or its first mix is under way) is not counted: its
``updated_at`` is an earlier run's. Every notifier replica counts the same meetings; the alert takes the largest.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Gauge
from zoomsymbl_common.mongo import Mongo, guarded
from zoomsymbl_common.records import MEETINGS, STAGE_ORDER, Stage

STALLABLE: tuple[Stage, ...] = STAGE_ORDER[: STAGE_ORDER.index("notified")]
"""The stages a meeting is still on its way at: every one before ``notified`` (``failed`` and ``notified`` end it)."""


class StalledMeetings:
    """Counts stalled meetings into ``zoomsymbl_notifier_meetings_stalled{stage}`` on ``registry``."""

    def __init__(self, mongo: Mongo, registry: CollectorRegistry, after_seconds: float) -> None:
        self._col = mongo.db[MEETINGS]
        self._after = timedelta(seconds=after_seconds)
        self.gauge = Gauge(
            "zoomsymbl_notifier_meetings_stalled",
            "Meetings at a stage before notified without an update for stalled_after_seconds, by stage.",
            ["stage"],
            registry=registry,
        )
        for stage in STALLABLE:
            self.gauge.labels(stage).set(0)  # every series exists from the start, for the alert

    async def count(self, now: datetime) -> dict[Stage, int]:
        """Count the meetings stalled at ``now`` and set the gauge; nothing when counting is off (raises
        ``MongoUnavailable``: the gauge then keeps the last counts)."""
        if self._after <= timedelta(0):
            return {}
        cutoff = now - self._after
        counts: dict[Stage, int] = {}
        for stage in STALLABLE:
            counts[stage] = await guarded(self._col.count_documents({"stage": stage, "updated_at": {"$lt": cutoff}}))
        for stage, found in counts.items():
            self.gauge.labels(stage).set(found)
        return counts
