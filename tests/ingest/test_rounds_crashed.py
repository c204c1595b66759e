"""An unexpected error (a bug on one tenant's data) in a periodic backfill or reconciliation round.

Before, only the errors the rounds named (Zoom, MongoDB, Kafka, a timeout) were caught: any other ended the periodic
task for every tenant, with nothing logged until shutdown (a listed id no UTF-8 holds did so, found by the audit of
2026-12-06). Now it is logged at ERROR with its traceback and the next round (and the other tenants) go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection
from datetime import UTC, date, datetime, timedelta

import pytest
from zoomsymbl_common.events import ReconciliationCompleted
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.tenants import Tenants
from zoomsymbl_ingest.backfill import Backfill
from zoomsymbl_ingest.backfill_report import BackfillReport
from zoomsymbl_ingest.reconcile import Reconciliation
from zoomsymbl_ingest.rounds import run_periodic_backfill, run_periodic_reconciliation
from zoomsymbl_ingest.settings import Settings
from zoomsymbl_sandbox.zoom import running_zoom_sandbox
from zoomsymbl_sandbox.zoom_specs import PastMeetingSpec

from tests.ingest.support import Schedule, quick_meeting, sandbox_config, sandbox_tenant
from tests.ingest.test_backfill import Run, started
from tests.support.eventually import eventually


class Bug(RuntimeError):
    """What no round names: a bug on one tenant's data."""


def crashed_lines(caplog: pytest.LogCaptureFixture, what: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == f"{what} crashed, next round retries" and r.exc_info]


async def test_a_backfill_round_that_crashes_is_logged_and_the_next_round_runs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    crashes = 1
    original = Backfill.run

    async def crashing_once(self: Backfill, start: date, end: date) -> BackfillReport:
        nonlocal crashes
        if crashes:
            crashes -= 1
            raise Bug("listed id out of reach")
        return await original(self, start, end)

    monkeypatch.setattr(Backfill, "run", crashing_once)
    config = Settings(backfill_interval_seconds=1, backfill_lookback_days=2)
    async with running_zoom_sandbox(sandbox_config(quick_meeting("kept==", start_time=started(1)))) as sandbox:
        run = Run(sandbox)
        task = asyncio.create_task(run_periodic_backfill(run.intake, Tenants([run.tenant]), config))

        async def published() -> int:
            return len(run.publisher.events)

        try:
            await eventually(published, timeout=10, what="the round after the crashed one to publish")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert crashes == 0 and run.published() == {"kept=="}
    [line] = crashed_lines(caplog, "backfill")
    assert line.levelno == logging.ERROR and "Bug: listed id out of reach" in line.__dict__["error"]


@pytest.mark.integration
async def test_a_reconciliation_round_that_crashes_is_logged_and_the_next_round_runs(
    mongo: Mongo, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    schedule = Schedule(rounds=2)
    crashes = 1
    known = Reconciliation._known

    async def crashing_once(self: Reconciliation, uuids: Collection[str]) -> tuple[set[str], set[str]]:
        nonlocal crashes
        if crashes:
            crashes -= 1
            raise Bug("unexpected")
        return await known(self, uuids)

    monkeypatch.setattr(Reconciliation, "_known", crashing_once)
    yesterday = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=1)
    specs = (PastMeetingSpec(uuid="lost==", host_email="ann@example.com", start_time=yesterday, has_recording=True),)
    async with running_zoom_sandbox(sandbox_config(past_meetings=specs)) as zoom:
        settings = Settings(reconcile_interval_seconds=86_400, reconcile_lookback_days=1)
        with contextlib.suppress(asyncio.CancelledError):
            tenants = Tenants([sandbox_tenant(zoom)])
            await run_periodic_reconciliation(mongo, tenants, settings, schedule.publish, sleep=schedule.sleep)
    assert schedule.waits == 3, "the schedule went on after the crashed round"
    assert len(schedule.published) == 1 and isinstance(event := schedule.published[0], ReconciliationCompleted)
    assert event.missing == ("lost==",)
    assert len(crashed_lines(caplog, "reconciliation")) == 1
