"""Backfill of meetings and calls erased with ``zoomsymbl forget`` that Zoom's cloud still holds: skipped, counted.

Before, the backfill found such a recording again and published it: its topic, host and participants' names and
e-mails went back on Kafka (kept for another retention period) and a receipt was written, only for the mixer to drop
it. Now the tombstone is read, once per listed page, and the recording is counted ``forgotten`` among the skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Collection
from datetime import timedelta

import pytest
from zoomsymbl_common.errors import MongoUnavailable
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import RECEIPTS, TOMBSTONES, Tombstone
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.tenants import Tenants
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_ingest.backfill import Backfill
from zoomsymbl_ingest.backfill_command import summary
from zoomsymbl_ingest.backfill_report import BackfillReport
from zoomsymbl_ingest.intake import Intake
from zoomsymbl_ingest.metrics import IngestMetrics
from zoomsymbl_ingest.rounds import run_periodic_backfill
from zoomsymbl_ingest.settings import Settings
from zoomsymbl_ingest.stores import MongoTombstones, TombstoneReader
from zoomsymbl_sandbox.zoom import PhoneCallSpec, ZoomSandbox, running_zoom_sandbox

from tests.ingest.support import (
    MemoryReceipts,
    MemoryTokens,
    RecordingPublisher,
    quick_meeting,
    read_events,
    sandbox_config,
    sandbox_tenant,
)
from tests.ingest.test_backfill import FAST, TODAY, no_sleep
from tests.ingest.test_backfill_command import backfill_env, zoomsymbl_backfill
from tests.support.eventually import eventually

HOST = "host@example.com"
KEPT, ERASED, ERASED_ELSEWHERE = "kept==", "erased/+x==", "erased-at-globex=="
MEETINGS = (KEPT, ERASED, ERASED_ELSEWHERE)
LINES = (("caller", "Hello?"), ("callee", "Hi."))


async def forget(mongo: Mongo, tenant: str, meeting_uuid: str) -> None:
    """The tombstone ``zoomsymbl forget --yes`` leaves (the erase itself has nothing to do with a backfill)."""
    tombstone = Tombstone(tenant=tenant, meeting_uuid=meeting_uuid, forgotten_at=utcnow())
    await mongo.db[TOMBSTONES].insert_one(tombstone.to_document())


async def tombstoned(mongo: Mongo) -> None:
    await forget(mongo, "acme", ERASED)
    await forget(mongo, "globex", ERASED_ELSEWHERE)  # the same UUID of another tenant is another meeting
    await forget(mongo, "acme", "phone:call-erased")


@pytest.fixture
async def sandbox() -> AsyncIterator[ZoomSandbox]:
    started = utcnow().replace(microsecond=0) - timedelta(days=2)
    specs = [quick_meeting(uuid, start_time=started + timedelta(minutes=i)) for i, uuid in enumerate(MEETINGS)]
    async with running_zoom_sandbox(sandbox_config(*specs)) as running:
        for i, recording_id in enumerate(("call-kept", "call-erased")):
            call = PhoneCallSpec(
                recording_id=recording_id, call_id=f"70725989893682959{i}", start_time=started, lines=LINES
            )
            await running.add_phone_call(call)
        yield running


def env_of(infra: InfraSettings, sandbox: ZoomSandbox) -> dict[str, str]:
    base = sandbox.base_url_for()
    return backfill_env(
        infra,
        zoom_account_id=sandbox.config.account_id,
        zoom_client_id=sandbox.config.client_id,
        zoom_client_secret=sandbox.config.client_secret,
        zoom_api_base=f"{base}/v2",
        zoom_oauth_url=f"{base}/oauth/token",
    )


@pytest.mark.integration
async def test_the_backfill_command_skips_forgotten_meetings_and_calls_and_counts_them(
    infra: InfraSettings, mongo: Mongo, sandbox: ZoomSandbox
) -> None:
    await tombstoned(mongo)
    env = env_of(infra, sandbox)

    code, stdout, stderr = await zoomsymbl_backfill(env, "--json")
    details_fetched = sandbox.stats.requests["get_recordings"]
    again, text, _ = await zoomsymbl_backfill(env)

    assert code == 0, stderr
    events = await read_events(infra, expect=3)
    assert sorted(e.meeting_uuid for e in events) == sorted([KEPT, ERASED_ELSEWHERE, "phone:call-kept"])
    assert await mongo.db[RECEIPTS].count_documents({"meeting_uuid": {"$in": [ERASED, "phone:call-erased"]}}) == 0
    assert details_fetched == 2, "a forgotten meeting's recording details are not even fetched"
    report = json.loads(stdout)
    counts = {k: report[k] for k in ("seen", "new", "skipped", "forgotten", "failed", "phone_recordings")}
    assert counts == {"seen": 5, "new": 3, "skipped": 2, "forgotten": 2, "failed": 0, "phone_recordings": 2}
    assert report["users"][HOST]["forgotten"] == 1
    # The next run: the others have receipts now; the operator reads why two of the five were skipped.
    assert again == 0
    assert "seen=5 new=0 skipped=5 (forgotten=2) failed=0" in text
    assert f"{HOST}: seen=3 new=0 skipped=3 (forgotten=1) failed=0" in text


class CountingTombstones:
    """MongoDB's tombstones, each read counted (how many UUIDs it asked about)."""

    def __init__(self, mongo: Mongo) -> None:
        self.mongo = MongoTombstones(mongo)
        self.reads: list[int] = []

    async def forgotten(self, tenant: str, meeting_uuids: Collection[str]) -> set[str]:
        self.reads.append(len(meeting_uuids))
        return await self.mongo.forgotten(tenant, meeting_uuids)


class Unanswered:
    """Tombstones in a MongoDB that does not answer."""

    async def forgotten(self, tenant: str, meeting_uuids: Collection[str]) -> set[str]:
        raise MongoUnavailable("ServerSelectionTimeoutError")


async def backfill(sandbox: ZoomSandbox, tombstones: TombstoneReader, intake: Intake) -> BackfillReport:
    tenant = sandbox_tenant(sandbox)
    async with ZoomClient(tenant) as client:
        job = Backfill(intake, tenant, client, policy=FAST, sleep=no_sleep, page_size=2, tombstones=tombstones)
        return await job.run(TODAY - timedelta(days=5), TODAY)


def memory_intake() -> tuple[Intake, RecordingPublisher]:
    publisher = RecordingPublisher()
    return Intake(publisher, MemoryReceipts(), MemoryTokens(), IngestMetrics.create()), publisher


@pytest.mark.integration
async def test_the_tombstones_are_read_once_per_listed_page(mongo: Mongo, sandbox: ZoomSandbox) -> None:
    await tombstoned(mongo)
    tombstones = CountingTombstones(mongo)
    intake, publisher = memory_intake()
    report = await backfill(sandbox, tombstones, intake)
    assert report.ok, report
    assert (report.seen, report.new, report.skipped, report.forgotten) == (5, 3, 2, 2)
    assert {e.meeting_uuid for e in publisher.events} == {KEPT, ERASED_ELSEWHERE, "phone:call-kept"}
    # Three meetings at two a page, two calls on one page: three reads, never one per meeting.
    assert sorted(tombstones.reads) == [1, 2, 2]
    assert (
        intake.metrics.registry.get_sample_value("zoomsymbl_ingest_backfill_meetings_total", {"result": "skipped"}) == 2
    )


async def test_tombstones_not_read_stop_the_run_and_nothing_is_published(sandbox: ZoomSandbox) -> None:
    intake, publisher = memory_intake()
    report = await backfill(sandbox, Unanswered(), intake)
    assert report.error is not None and "mongodb" in report.error.lower()
    assert not report.ok and report.new == 0
    assert publisher.events == []


@pytest.mark.integration
async def test_the_periodic_backfill_skips_forgotten_meetings(mongo: Mongo, sandbox: ZoomSandbox) -> None:
    await tombstoned(mongo)
    intake, publisher = memory_intake()
    settings = Settings(backfill_interval_seconds=1, backfill_lookback_days=5)
    task = asyncio.create_task(run_periodic_backfill(intake, Tenants([sandbox_tenant(sandbox)]), settings, mongo=mongo))

    async def listed() -> bool:
        seen = intake.metrics.registry.get_sample_value("zoomsymbl_ingest_backfill_meetings_total", {"result": "seen"})
        return (seen or 0) >= 5  # the first round has handled every meeting and call

    try:
        await eventually(listed, timeout=20, what="the periodic backfill to handle every recording")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert {e.meeting_uuid for e in publisher.events} == {KEPT, ERASED_ELSEWHERE, "phone:call-kept"}


def test_the_summary_says_how_many_were_skipped_as_forgotten() -> None:
    report = BackfillReport("acme", TODAY, TODAY, seen=4, new=1, skipped=3, forgotten=2)
    assert "seen=4 new=1 skipped=3 (forgotten=2) failed=0" in summary(report)
    assert "forgotten" not in summary(BackfillReport("acme", TODAY, TODAY, seen=1, skipped=1))
