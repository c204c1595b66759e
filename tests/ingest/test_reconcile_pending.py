"""Reconciliation of meetings and calls that ended just before the run (their recording still on its way).

Zoom processes a cloud recording after the meeting ends (up to about twice its length) and only then sends
``recording.completed``; a run reaching up to the last minutes (``zoomsymbl reconcile`` ends today by default; the
schedule's window ends yesterday, so a run just after midnight reaches the meetings of the late evening) flagged
those as "never reached the archive (webhook lost; run zoomsymbl backfill)", and the window's digest said so.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import CONVERSATIONS
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_ingest.reconcile import Reconciliation
from zoomsymbl_ingest.reconcile_command import summary
from zoomsymbl_ingest.reconcile_pages import RECORDING_SETTLE
from zoomsymbl_sandbox.zoom import running_zoom_sandbox
from zoomsymbl_sandbox.zoom_specs import PastCallSpec, PastMeetingSpec

from tests.ingest.support import sandbox_config, sandbox_tenant


def ended(ago: timedelta, length: timedelta = timedelta(minutes=30)) -> datetime:
    """The start of a meeting or call of ``length`` that ended ``ago`` before now (whole seconds, UTC)."""
    return (datetime.now(UTC) - ago - length).replace(microsecond=0)


@pytest.mark.integration
async def test_a_recording_that_ended_minutes_ago_is_pending_not_flagged_never_received(mongo: Mongo) -> None:
    recent, old = timedelta(minutes=10), RECORDING_SETTLE + timedelta(hours=1)
    config = sandbox_config(
        past_meetings=(
            PastMeetingSpec(uuid="just-ended==", host_email="ann@example.com", start_time=ended(recent),
                            duration_s=1800, has_recording=True),
            PastMeetingSpec(uuid="lost==", host_email="ann@example.com", start_time=ended(old),
                            duration_s=1800, has_recording=True),
        ),
        past_calls=(
            PastCallSpec(call_id="call-just-ended", owner_email="ann@example.com",
                         start_time=ended(recent, timedelta(minutes=2)), duration_s=120, recorded=True),
            PastCallSpec(call_id="call-lost", owner_email="ann@example.com",
                         start_time=ended(old, timedelta(minutes=2)), duration_s=120, recorded=True),
        ),
    )  # fmt: skip
    today = utcnow().date()
    async with running_zoom_sandbox(config) as sandbox:
        tenant = sandbox_tenant(sandbox)
        async with ZoomClient(tenant) as client:
            report = await Reconciliation(mongo, tenant, client).run(today - timedelta(days=1), today)
    flagged = {d["meeting_uuid"] async for d in mongo.db[CONVERSATIONS].find({"tenant": "acme"})}
    assert flagged == {"lost==", "phone-call:call-lost"}
    assert (report.flagged, report.phone_flagged, report.pending) == (1, 1, 2)
    assert (report.expected, report.phone_expected) == (2, 2)  # expected = archived + flagged + … + pending
    assert report.completion_event().missing == ("lost==", "phone-call:call-lost")  # the digest names only those
    assert report.complete
    assert "2 recorded meeting(s) or call(s) ended too recently to judge" in summary(report)


@pytest.mark.integration
async def test_a_pending_recording_still_missing_later_is_flagged(mongo: Mongo) -> None:
    """Pending is a delay, never a pass: once the settle time is over, a recording still missing is flagged."""
    start = ended(RECORDING_SETTLE + timedelta(minutes=5))
    config = sandbox_config(
        past_meetings=(
            PastMeetingSpec(uuid="late==", host_email="ann@example.com", start_time=start, duration_s=1800,
                            has_recording=True),
        ),
    )  # fmt: skip
    async with running_zoom_sandbox(config) as sandbox:
        tenant = sandbox_tenant(sandbox)
        async with ZoomClient(tenant) as client:
            day = start.date()
            report = await Reconciliation(mongo, tenant, client, phone=False).run(day, day)
    assert (report.flagged, report.pending) == (1, 0)
