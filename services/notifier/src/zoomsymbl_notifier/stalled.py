"""Meetings that neither finish nor fail: ``zoomsymbl_notifier_meetings_stalled{stage}``, for an alert.

Every failure has a defined outcome, but a meeting can still stop where no service will move it again: an
``audio.mixed.v1`` event Kafka lost after acknowledging it, a consumer group's offsets moved past the meeting, a bug.
Nothing then fails it, and its host hears nothing. Each round the sweeper counts the meetings at every stage before
``completed`` (:data:`STALLABLE`) whose last update (``updated_at``, set with every stage move and the transcriber's
progress) is older than ``stalled_after_seconds`` (a day by default; 0: nothing counted), by stage, through the index
``stage_updated``; the chart's ``ZoomsymblMeetingsStalled`` alert fires while any is counted, and ``zoomsymbl status
--stage <stage>`` lists them. A meeting without a stage (a forced replay restarted it, or its first mix is under way)
is not counted: its ``updated_at`` is an earlier run's; nor one at ``mixed`` waiting for Zoom's transcript, which has
a deadline of its own (the submitter's ``zoom_transcript_wait_seconds``). Every notifier replica counts the same
meetings; the alert takes the largest.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Gauge
from zoomsymbl_common.mongo import Document, Mongo, guarded
from zoomsymbl_common.records import MEETINGS, STAGE_ORDER, ZOOM_TRANSCRIPT_WAIT, Stage

STALLABLE: tuple[Stage, ...] = STAGE_ORDER[: STAGE_ORDER.index("completed")]
"""The stages a meeting is on its way to its report at. Not ``completed``: the report exists, and delivering it is the
outbox's (retried for ``mail_give_up_after_seconds``, counted in ``zoomsymbl_emails_failed_total``); a report the
host's server refused for good leaves its meeting there for ever, which no operator can move on."""


class StalledMeetings:
    """Counts stalled meetings into ``zoomsymbl_notifier_meetings_stalled{stage}`` on ``registry``."""

    def __init__(self, mongo: Mongo, registry: CollectorRegistry, after_seconds: float) -> None:
        self._col = mongo.db[MEETINGS]
        self._after = timedelta(seconds=after_seconds)
        self.gauge = Gauge(
            "zoomsymbl_notifier_meetings_stalled",
            "Meetings at a stage before completed without an update for stalled_after_seconds, by stage.",
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
            query: Document = {"stage": stage, "updated_at": {"$lt": cutoff}}
            if stage == "mixed":
                query[ZOOM_TRANSCRIPT_WAIT] = {"$exists": False}
            counts[stage] = await guarded(self._col.count_documents(query))
        for stage, found in counts.items():
            self.gauge.labels(stage).set(found)
        return counts
