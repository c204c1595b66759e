"""An unexpected error (a bug on one tenant's data) in a periodic backfill or reconciliation round.

Before, only the errors the rounds named (Zoom, MongoDB, Kafka, a timeout) were caught: any other ended the periodic
task for every tenant, with nothing logged until shutdown (a listed id no UTF-8 holds did so, found by the audit of
2026-12-06). Now it is logged at ERROR with its traceback and the next round (and the other tenants) go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import date

import pytest
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.tenants import Tenants
from zoomsymbl_ingest.backfill import Backfill
from zoomsymbl_ingest.backfill_report import BackfillReport
from zoomsymbl_ingest.rounds import run_periodic_backfill
from zoomsymbl_ingest.settings import Settings
from zoomsymbl_sandbox.zoom import running_zoom_sandbox

from tests.ingest.support import quick_meeting, sandbox_config
from tests.ingest.test_backfill import Run, started
from tests.ingest.test_rounds_mongo_refusal import reconciled_after_one_failed_round
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
    await reconciled_after_one_failed_round(mongo, monkeypatch, Bug("unexpected"))
    assert len(crashed_lines(caplog, "reconciliation")) == 1
