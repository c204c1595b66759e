"""MongoDB refusing an operation (``OperationFailure``: a role without ``find`` on a collection a release added, such as
``tombstones``; a query the server refuses) during a backfill or a reconciliation.

``guarded`` turns only "server unreachable" into ``MongoUnavailable``; a refusal stays a pymongo error, which neither
the backfill nor the scheduled reconciliation caught. Before, it left ``Backfill.run`` as a traceback (no report) and
ended the periodic round's task for good: no later round for any tenant, and nothing logged until shutdown. Now the
backfill reports it as the run's error, and the round logs it and tries again at the next round, the other tenants
going on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection
from datetime import UTC, datetime, time, timedelta

import pytest
from pymongo.errors import OperationFailure
from zoomsymbl_common.events import ReconciliationCompleted
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.tenants import Tenants
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_ingest.backfill import Backfill
from zoomsymbl_ingest.backfill_command import summary
from zoomsymbl_ingest.reconcile import Reconciliation
from zoomsymbl_ingest.rounds import run_periodic_reconciliation
from zoomsymbl_ingest.settings import Settings
from zoomsymbl_sandbox.zoom import running_zoom_sandbox
from zoomsymbl_sandbox.zoom_specs import PastMeetingSpec

from tests.ingest.support import Schedule, quick_meeting, sandbox_config, sandbox_tenant
from tests.ingest.test_backfill import FAST, TODAY, Run, no_sleep

NOT_AUTHORIZED = OperationFailure('not authorized on zoomsymbl to execute command { find: "tombstones" }', code=13)


class RefusingTombstones:
    """A tombstones reader whose server refuses the read (no ``find`` privilege on the collection)."""

    async def forgotten(self, tenant: str, meeting_uuids: Collection[str]) -> set[str]:
        raise NOT_AUTHORIZED


async def test_a_backfill_whose_mongodb_refuses_a_read_reports_it_as_its_error() -> None:
    started = datetime.combine(TODAY - timedelta(days=2), time(9), tzinfo=UTC)
    async with running_zoom_sandbox(sandbox_config(quick_meeting("kept==", start_time=started))) as zoom:
        run = Run(zoom)
        async with ZoomClient(run.tenant) as client:
            tombstones = RefusingTombstones()
            backfill = Backfill(run.intake, run.tenant, client, policy=FAST, sleep=no_sleep, tombstones=tombstones)
            report = await backfill.run(TODAY - timedelta(days=45), TODAY)
    assert report.error is not None and "not authorized" in report.error and not report.ok
    assert run.publisher.events == []
    assert "listing stopped: " in summary(report)


async def reconciled_after_one_failed_round(
    mongo: Mongo, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> Schedule:
    """Two rounds of the scheduled reconciliation whose first raises ``error`` reading the archive; the schedule."""
    schedule = Schedule(rounds=2)
    refusals = 1
    known = Reconciliation._known

    async def refused_once(self: Reconciliation, uuids: Collection[str]) -> tuple[set[str], set[str]]:
        nonlocal refusals
        if refusals:
            refusals -= 1
            raise error
        return await known(self, uuids)

    monkeypatch.setattr(Reconciliation, "_known", refused_once)
    yesterday = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=1)
    specs = (PastMeetingSpec(uuid="lost==", host_email="ann@example.com", start_time=yesterday, has_recording=True),)
    async with running_zoom_sandbox(sandbox_config(past_meetings=specs)) as zoom:
        settings = Settings(reconcile_interval_seconds=86_400, reconcile_lookback_days=1)
        with contextlib.suppress(asyncio.CancelledError):
            tenants = Tenants([sandbox_tenant(zoom)])
            await run_periodic_reconciliation(mongo, tenants, settings, schedule.publish, sleep=schedule.sleep)
    assert schedule.waits == 3, "the schedule went on after the failed round"
    assert len(schedule.published) == 1 and isinstance(event := schedule.published[0], ReconciliationCompleted)
    assert (event.flagged, event.missing) == (1, ("lost==",))
    return schedule


@pytest.mark.integration
async def test_a_scheduled_round_mongodb_refused_is_tried_again_at_the_next_round(
    mongo: Mongo, monkeypatch: pytest.MonkeyPatch
) -> None:
    await reconciled_after_one_failed_round(mongo, monkeypatch, NOT_AUTHORIZED)
