"""Reconciliation (issue 17 item 3): past meetings from Zoom's dashboard against the archive.

The done test: 3 of 50 past meetings were never archived; exactly those 3 get ``recording_failed``
and are listed by the run and by ``zoomsymbl status --failed``; a second run adds nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.events import Event, ReconciliationCompleted, utcnow
from zoomsymbl_common.kafka import topic_name
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.cli import failure, main
from zoomsymbl_common.records import CONVERSATIONS, MEETINGS, RECEIPTS, TOMBSTONES
from zoomsymbl_common.records.tombstones import Tombstone
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_common.zoom_answers import InvalidPageError, JsonObject, ZoomApiError
from zoomsymbl_ingest import reconcile as reconcile_module
from zoomsymbl_ingest import reconcile_command
from zoomsymbl_ingest.reconcile import PastMeeting, Reconciliation, expected
from zoomsymbl_ingest.reconcile_command import summary
from zoomsymbl_ingest.reconcile_report import ReconcileReport
from zoomsymbl_ingest.rounds import run_periodic_reconciliation
from zoomsymbl_ingest.settings import Settings
from zoomsymbl_ingest.stores import UNTAKEN_AFTER
from zoomsymbl_sandbox.zoom import ZoomSandbox, running_zoom_sandbox
from zoomsymbl_sandbox.zoom_specs import PastCallSpec, PastMeetingSpec, ZoomSandboxConfig

from tests.ingest.support import SECRET, sandbox_config, sandbox_tenant
from tests.ingest.test_backfill_command import backfill_env
from tests.support.eventually import eventually

# Days before today: Zoom's dashboard and call history (and the sandbox) answer for the last six months only.
DAY = datetime.combine(utcnow().date() - timedelta(days=15), time(9), tzinfo=UTC)
END = DAY.date() + timedelta(days=2)


def past(uuid: str, host: str = "ann@example.com", *, recorded: bool = True, hour: int = 0) -> PastMeetingSpec:
    return PastMeetingSpec(uuid=uuid, host_email=host, start_time=DAY + timedelta(hours=hour), has_recording=recorded)


def meeting(host: str, recorded: bool) -> PastMeeting:
    return PastMeeting("u==", "1", "t", host, None, None, recorded)


@pytest.mark.parametrize(
    ("policy", "wanted"),
    [
        ("allowlist", {"ann-rec", "ann-no-rec"}),
        ("cloud_recording", {"ann-rec", "bob-rec"}),
        ("any", {"ann-rec", "ann-no-rec", "bob-rec", "bob-no-rec"}),
    ],
)
def test_each_policy_expects_its_meetings(policy: str, wanted: set[str]) -> None:
    tenant = TenantConfig.model_validate(
        {"id": "acme", "zoom_webhook_secret": SECRET, "allowed_users": ["ann@example.com"], "reconcile_expect": policy}
    )
    cases = {
        f"{host.split('@')[0]}-{'rec' if rec else 'no-rec'}": meeting(host, rec)
        for host in ("ann@example.com", "bob@example.com")
        for rec in (True, False)
    }
    assert {name for name, m in cases.items() if expected(m, tenant)} == wanted


def test_the_schedule_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZOOMSYMBL_INGEST_RECONCILE_INTERVAL_SECONDS", raising=False)
    assert Settings().reconcile_interval_seconds == 0
    monkeypatch.setenv("ZOOMSYMBL_INGEST_RECONCILE_INTERVAL_SECONDS", "86400")
    assert Settings().reconcile_interval_seconds == 86_400


async def archive(mongo: Mongo, tenant: str, uuids: list[str]) -> None:
    """What the pipeline leaves for archived meetings: a meetings document, a receipt, or a record."""
    for i, uuid in enumerate(uuids):
        doc = {"tenant": tenant, "meeting_uuid": uuid}
        if i % 3 == 0:
            await mongo.db[MEETINGS].insert_one(doc | {"stage": "done"})
        elif i % 3 == 1:
            await mongo.db[RECEIPTS].insert_one(doc | {"key": f"k-{uuid}", "received_at": datetime.now(UTC)})
        else:
            await mongo.db[CONVERSATIONS].insert_one(doc | {"recording_failed": False})


async def reconcile(sandbox: ZoomSandbox, mongo: Mongo, tenant: TenantConfig, page_size: int = 20) -> Any:
    async with ZoomClient(tenant) as client:
        return await Reconciliation(mongo, tenant, client, page_size=page_size).run(DAY.date(), END)


@pytest.mark.integration
async def test_three_of_fifty_never_archived_are_flagged_once_and_listed(
    infra: InfraSettings, mongo: Mongo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    uuids = [f"m{i:02d}/x==" if i == 7 else f"m{i:02d}==" for i in range(50)]
    lost = {uuids[7], uuids[23], uuids[41]}
    config = sandbox_config(past_meetings=tuple(past(u, hour=i % 40) for i, u in enumerate(uuids)))
    async with running_zoom_sandbox(config) as sandbox:
        tenant = sandbox_tenant(sandbox)
        await archive(mongo, "acme", [u for u in uuids if u not in lost])
        first = await reconcile(sandbox, mongo, tenant)
        second = await reconcile(sandbox, mongo, tenant)
        pages = sandbox.stats.requests["dashboard_meetings"]
    assert (first.listed, first.expected, first.archived, first.flagged, first.pages) == (50, 50, 47, 3, 3)
    assert {m["meeting_uuid"] for m in first.missing} == lost
    assert (second.flagged, second.already_flagged, second.missing) == (0, 3, [])
    assert pages == 6  # 50 meetings at 20 a page, twice
    records = await mongo.db[CONVERSATIONS].find({"recording_failed": True}).to_list(None)
    assert sorted(r["meeting_uuid"] for r in records) == sorted(lost)
    assert all("never reached the archive" in r["failure"] for r in records)

    monkeypatch.setenv("ZOOMSYMBL_MONGO_URI", infra.mongo_uri.get_secret_value())
    monkeypatch.setenv("ZOOMSYMBL_MONGO_DATABASE", infra.mongo_database)
    assert await asyncio.to_thread(main, ["status", "--failed", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["never_archived"]
    assert sorted(r["meeting_uuid"] for r in listed) == sorted(lost)
    assert await asyncio.to_thread(main, ["status", "--failed"]) == 0
    text = capsys.readouterr().out
    assert "never archived (reconciliation): 3" in text and all(u in text for u in lost)


@pytest.mark.integration
async def test_a_forgotten_meeting_is_not_flagged_as_never_archived(mongo: Mongo) -> None:
    """Erased on purpose (``zoomsymbl forget``): flagging it would write its topic, host and start back."""
    config = sandbox_config(past_meetings=(past("kept=="), past("erased==", hour=1), past("lost==", hour=2)))
    async with running_zoom_sandbox(config) as sandbox:
        tenant = sandbox_tenant(sandbox)
        await archive(mongo, "acme", ["kept=="])
        await mongo.db[TOMBSTONES].insert_one(
            Tombstone(tenant="acme", meeting_uuid="erased==", forgotten_at=utcnow()).to_document()
        )
        report = await reconcile(sandbox, mongo, tenant)
    assert (report.listed, report.archived, report.flagged) == (3, 2, 1)
    assert [m["meeting_uuid"] for m in report.missing] == ["lost=="]
    assert await mongo.db[CONVERSATIONS].count_documents({"meeting_uuid": "erased=="}) == 0


@pytest.mark.integration
async def test_a_meeting_published_long_ago_that_the_mixer_never_began_is_flagged(mongo: Mongo) -> None:
    """Its receipt says ingest published it; no meeting document says anything took it (Kafka lost the event, or
    a consumer's offsets were moved past it): after a day it is missing, not archived."""
    config = sandbox_config(past_meetings=(past("lost=="), past("begun==", hour=1), past("queued==", hour=2)))
    long_ago = utcnow() - UNTAKEN_AFTER - timedelta(minutes=1)
    async with running_zoom_sandbox(config) as sandbox:
        tenant = sandbox_tenant(sandbox)
        for uuid in ("lost==", "begun==", "queued=="):
            at = utcnow() if uuid == "queued==" else long_ago
            doc = {"tenant": "acme", "meeting_uuid": uuid, "key": f"k-{uuid}", "state": "published"}
            await mongo.db[RECEIPTS].insert_one(doc | {"received_at": at})
        await mongo.db[MEETINGS].insert_one({"tenant": "acme", "meeting_uuid": "begun==", "stage": "notified"})
        report = await reconcile(sandbox, mongo, tenant)
    assert (report.listed, report.archived, report.flagged) == (3, 2, 1)
    assert [m["meeting_uuid"] for m in report.missing] == ["lost=="]


@pytest.mark.integration
async def test_a_meeting_whose_only_trace_is_zooms_transcript_is_flagged(mongo: Mongo) -> None:
    """Its recording never reached the archive (``recording.completed`` lost), its transcript did: the transcript's
    receipt and the meeting document the mixer keeps the transcript on counted it archived."""
    names = ("receipt-of-transcript==", "document-of-transcript==", "mixed==")
    config = sandbox_config(past_meetings=tuple(past(uuid, hour=n) for n, uuid in enumerate(names)))
    kept = [{"file_id": "vtt-1", "kind": "transcript"}]
    async with running_zoom_sandbox(config) as sandbox:
        tenant = sandbox_tenant(sandbox)
        doc = {"tenant": "acme", "meeting_uuid": names[0], "key": "k-t", "state": "published", "audio": False}
        await mongo.db[RECEIPTS].insert_one(doc | {"received_at": utcnow()})
        await mongo.db[MEETINGS].insert_many([
            {"tenant": "acme", "meeting_uuid": names[1], "transcripts": kept},
            {"tenant": "acme", "meeting_uuid": names[2], "transcripts": kept, "mix": {"object_key": "k"}},
        ])  # fmt: skip
        report = await reconcile(sandbox, mongo, tenant)
    assert (report.listed, report.archived, report.flagged) == (3, 1, 2)
    assert sorted(m["meeting_uuid"] for m in report.missing) == sorted(names[:2])


@pytest.mark.integration
@pytest.mark.parametrize(
    ("policy", "flagged"),
    [("allowlist", {"ann-off"}), ("cloud_recording", {"bob-on"}), ("any", {"ann-off", "bob-on", "bob-off"})],
)
async def test_the_tenant_policy_decides_which_unarchived_meetings_are_flagged(
    mongo: Mongo, policy: str, flagged: set[str]
) -> None:
    specs = (
        past("ann-on", recorded=True),
        past("ann-off", recorded=False),
        past("bob-on", "bob@example.com", recorded=True),
        past("bob-off", "bob@example.com", recorded=False),
    )
    async with running_zoom_sandbox(sandbox_config(past_meetings=specs)) as sandbox:
        tenant = sandbox_tenant(sandbox, allowed_users=("ann@example.com",), reconcile_expect=policy)
        await archive(mongo, "acme", ["ann-on"])
        report = await reconcile(sandbox, mongo, tenant)
    assert {m["meeting_uuid"] for m in report.missing} == flagged
    reasons = {m["meeting_uuid"]: m["reason"] for m in report.missing}
    assert all(("never reached" in r) == u.endswith("-on") for u, r in reasons.items())


async def zoomsymbl_reconcile(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "zoomsymbl_common.ops.cli", "reconcile", "--tenant", "acme", *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


@pytest.mark.integration
async def test_the_command_prints_counts_and_exits_1_while_meetings_are_missing(
    infra: InfraSettings, mongo: Mongo
) -> None:
    specs = (past("kept=="), past("lost==", hour=1))
    async with running_zoom_sandbox(sandbox_config(past_meetings=specs)) as sandbox:
        base = sandbox.base_url_for()
        env = backfill_env(
            infra,
            zoom_account_id=sandbox.config.account_id,
            zoom_client_id=sandbox.config.client_id,
            zoom_client_secret=sandbox.config.client_secret,
            zoom_api_base=f"{base}/v2",
            zoom_oauth_url=f"{base}/oauth/token",
        )
        window = ("--from", DAY.date().isoformat(), "--to", (DAY.date() + timedelta(days=1)).isoformat())
        code, stdout, stderr = await zoomsymbl_reconcile(env, *window, "--json")
        assert code == 1, stderr
        report = json.loads(stdout)
        assert {k: report[k] for k in ("listed", "expected", "archived", "flagged")} == {
            "listed": 2,
            "expected": 2,
            "archived": 0,
            "flagged": 2,
        }
        code, stdout, stderr = await zoomsymbl_reconcile(env, *window, "--digest")
        assert code == 1, stderr
        [published] = await read_topic(infra, ReconciliationCompleted.topic)
        digest = ReconciliationCompleted.model_validate_json(published)
        assert (digest.window_from, digest.window_to) == (DAY.date(), DAY.date() + timedelta(days=1))
        assert (digest.flagged, digest.already_flagged, set(digest.missing)) == (0, 2, {"kept==", "lost=="})
        await mongo.db[CONVERSATIONS].delete_one({"meeting_uuid": "kept=="})
        await archive(mongo, "acme", ["kept=="])
        code, stdout, stderr = await zoomsymbl_reconcile(env, *window)
        assert code == 1 and "flagged=0 already_flagged=1" in stdout, stderr
        await mongo.db[CONVERSATIONS].delete_one({"meeting_uuid": "lost=="})
        await archive(mongo, "acme", ["lost=="])
        code, stdout, stderr = await zoomsymbl_reconcile(env, *window, "--json")
    assert code == 0, stderr
    assert json.loads(stdout)["archived"] == 2


async def read_topic(infra: InfraSettings, topic: str) -> list[bytes]:
    """Every message on ``topic`` (under the test's prefix) so far."""
    consumer = AIOKafkaConsumer(
        topic_name(infra, topic), bootstrap_servers=infra.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=10_000)
        return [m.value for messages in batches.values() for m in messages if m.value is not None]
    finally:
        await consumer.stop()


def test_a_reversed_range_is_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ZOOMSYMBL_TENANT_ID", "acme")
    monkeypatch.setenv("ZOOMSYMBL_TENANT_ZOOM_WEBHOOK_SECRET", SECRET)
    monkeypatch.delenv("ZOOMSYMBL_TENANTS_FILE", raising=False)
    assert main(["reconcile", "--from", "2026-02-01", "--to", "2026-01-01"]) == 2
    assert "before it starts" in capsys.readouterr().err
    assert main(["reconcile", "--from", "0001-01-01", "--to", "2026-01-01"]) == 2
    assert "longer than 120" in capsys.readouterr().err
    assert main(["reconcile", "--from", "2026-01-01", "--to", "9999-12-31"]) == 2
    assert "after today" in capsys.readouterr().err


@pytest.mark.parametrize(("days_ago", "code"), [(200, 2), (150, 0)])
def test_a_range_before_what_zoom_lists_is_exit_2_before_anything_is_asked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], days_ago: int, code: int
) -> None:
    """Zoom's dashboard and call history reach back six months (181 to 184 days). Before, such a range was run:
    the call history refused its first window, which read as "no Zoom Phone", and no later window's calls were
    reconciled; the run counted as complete (exit 0, the window's digest sent)."""
    reconciled: list[date] = []

    async def fake_reconcile(settings: Any, tenant: Any, from_: date, to: date, **_: Any) -> ReconcileReport:
        reconciled.append(from_)
        return ReconcileReport("acme", from_, to)

    monkeypatch.setattr(reconcile_command, "reconcile", fake_reconcile)
    monkeypatch.setattr(reconcile_command, "backfill_tenant", lambda tenant: None)
    monkeypatch.setattr(reconcile_command, "load_settings", lambda settings: None)
    monkeypatch.setenv("ZOOMSYMBL_TENANT_ID", "acme")
    monkeypatch.setenv("ZOOMSYMBL_TENANT_ZOOM_WEBHOOK_SECRET", SECRET)
    since = utcnow().date() - timedelta(days=days_ago)
    assert main(["reconcile", "--from", since.isoformat()]) == code
    err = capsys.readouterr().err
    assert ("reach back 6 months only" in err) == (code == 2) and "Traceback" not in err
    assert reconciled == ([] if code == 2 else [since])


@pytest.mark.parametrize(
    ("today", "earliest"),
    [
        ("2026-12-05", "2026-06-05"),
        ("2026-08-31", "2026-02-28"),
        ("2024-08-30", "2024-02-29"),
        ("2027-03-15", "2026-09-15"),
    ],
)
def test_the_earliest_day_is_the_same_day_six_months_before(today: str, earliest: str) -> None:
    assert reconcile_command.earliest_day(date.fromisoformat(today)) == date.fromisoformat(earliest)


@pytest.mark.integration
async def test_a_call_history_page_of_more_entries_than_asked_is_not_reconciled(
    mongo: Mongo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first page of 40 calls where 4 were asked: before, all 40 were flagged and the run was complete (its digest
    sent); such a page was also read as "no Zoom Phone" had Zoom refused it."""
    flood = [
        {"call_id": f"flood{i:02d}", "recording_status": "recorded", "caller_ext_type": "user",
         "caller_email": "ann@example.com", "direction": "outbound"}
        for i in range(40)
    ]  # fmt: skip

    async def flooded(path: str, params: Mapping[str, str], what: str) -> JsonObject | None:
        return {"call_history": flood, "next_page_token": ""} if path == "/phone/call_history" else None

    report, published = await _reconcile_with(mongo, monkeypatch, sandbox_config(), flooded, page_size=4)
    assert (report.phone_listed, report.phone_flagged) == (0, 0) and not report.complete and published == []
    assert "a page of 40 entries, more than the 4 asked for" in str(report.phone_error)
    assert "phone calls not reconciled: zoom list call history answered 200" in summary(report)
    assert await mongo.db[CONVERSATIONS].count_documents({"source_platform": "Zoom Phone"}) == 0


@pytest.mark.integration
async def test_an_expired_page_token_lists_the_window_again_without_counting_twice(mongo: Mongo) -> None:
    clock = FakeClock(DAY + timedelta(days=13))
    uuids = [f"m{i:02d}==" for i in range(50)]
    config = sandbox_config(past_meetings=tuple(past(u, hour=i % 40) for i, u in enumerate(uuids)))
    async with running_zoom_sandbox(config, clock=lambda: clock().timestamp()) as sandbox:
        tenant = sandbox_tenant(sandbox)
        await archive(mongo, "acme", uuids[3:])
        async with ZoomClient(tenant, wall_clock=clock) as client:
            listing = client.get_json
            calls = 0

            async def slow_first_page(path: str, params: Mapping[str, str], *, what: str) -> JsonObject:
                nonlocal calls
                page = await listing(path, params, what=what)
                calls += 1
                if calls == 1:  # e.g. a wait for the daily reset: the token (15 minutes) has expired
                    clock.advance(16 * 60)
                return page

            client.get_json = slow_first_page  # type: ignore[method-assign]
            report = await Reconciliation(mongo, tenant, client, page_size=20).run(DAY.date(), END)
    assert (report.listing_restarts, report.pages) == (1, 4)
    assert (report.listed, report.archived, report.flagged) == (50, 47, 3)
    assert {m["meeting_uuid"] for m in report.missing} == set(uuids[:3])


@pytest.mark.integration
async def test_the_schedule_reconciles_the_days_up_to_yesterday_and_publishes_each_run(mongo: Mongo) -> None:
    yesterday = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    specs = (
        PastMeetingSpec(uuid="yesterday==", start_time=yesterday, has_recording=True),
        PastMeetingSpec(uuid="today==", start_time=yesterday + timedelta(days=1), has_recording=True),
    )
    published: list[Event] = []

    async def publish(event: Event) -> None:
        published.append(event)

    async with running_zoom_sandbox(sandbox_config(past_meetings=specs)) as sandbox:
        # A tenant whose Zoom refuses its credentials comes first: its failure must not stop the round.
        broken = sandbox_tenant(sandbox, "broken", zoom_client_secret=SecretStr("wrong-secret"))
        tenants = Tenants([broken, sandbox_tenant(sandbox)])
        settings = Settings(reconcile_interval_seconds=1, reconcile_lookback_days=2)
        task = asyncio.create_task(run_periodic_reconciliation(mongo, tenants, settings, publish))
        try:
            await eventually(lambda: _events(published), bool, timeout=30, what="a reconciliation event")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    records = await mongo.db[CONVERSATIONS].find({}).to_list(None)
    assert [r["meeting_uuid"] for r in records] == ["yesterday=="]  # today's may still be uploading
    event = published[0]
    assert isinstance(event, ReconciliationCompleted)
    assert (event.tenant, event.window_to, event.window_from) == (
        "acme",
        yesterday.date(),
        yesterday.date() - timedelta(days=1),
    )
    assert (event.listed, event.expected, event.flagged, event.missing) == (1, 1, 1, ("yesterday==",))
    assert event.meeting_uuid == ReconciliationCompleted.window_key(event.window_from, event.window_to)


async def _events(published: list[Event]) -> list[Event]:
    return list(published)


@pytest.mark.integration
async def test_dashboard_entries_no_record_can_hold_are_skipped_and_the_run_goes_on(mongo: Mongo) -> None:
    """A UUID past the archive's bound made the record model raise; a time without its offset next to one
    with it raised TypeError: either ended the whole run (a traceback, the periodic task gone)."""
    uuids = [f"m{i:02d}==" for i in range(5)]
    config = sandbox_config(past_meetings=tuple(past(u, hour=i) for i, u in enumerate(uuids)))
    odd = [
        {"uuid": "u" * 1100, "id": 1, "email": "ann@example.com", "has_recording": True},
        {"uuid": "naive==", "id": 2, "email": "ann@example.com", "has_recording": True,
         "start_time": f"{DAY.date()}T09:00:00", "end_time": f"{DAY.date()}T10:00:00Z"},
    ]  # fmt: skip
    async with running_zoom_sandbox(config) as sandbox:
        tenant = sandbox_tenant(sandbox)
        async with ZoomClient(tenant) as client:
            listing = client.get_json

            async def with_odd_entries(path: str, params: Mapping[str, str], *, what: str) -> JsonObject:
                page = await listing(path, params, what=what)
                if path == "/metrics/meetings" and not params.get("next_page_token"):
                    page = {**page, "meetings": [*page["meetings"], *odd]}
                return page

            client.get_json = with_odd_entries  # type: ignore[method-assign]
            report = await Reconciliation(mongo, tenant, client, page_size=20).run(DAY.date(), END)
    assert (report.listed, report.flagged, report.invalid) == (7, 6, 1)
    naive = await mongo.db[CONVERSATIONS].find_one({"meeting_uuid": "naive=="})
    assert naive is not None and naive["duration_seconds"] == 3600.0  # read as UTC
    assert report.complete


@pytest.mark.integration
async def test_a_call_history_refused_after_some_pages_is_an_incomplete_run_without_a_digest(
    mongo: Mongo, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = tuple(
        PastCallSpec(call_id=f"call{i:02d}", owner_email="ann@example.com", start_time=DAY, recorded=True)
        for i in range(10)
    )

    async def refused_later(path: str, params: Mapping[str, str], what: str) -> JsonObject | None:
        if path == "/phone/call_history" and params.get("next_page_token"):
            raise ZoomApiError(403, what, "Access denied")
        return None

    config = sandbox_config(past_calls=calls)
    report, published = await _reconcile_with(mongo, monkeypatch, config, refused_later, page_size=4)
    assert (report.phone_pages, report.phone_listed) == (1, 4) and report.phone_partial and not report.complete
    assert published == [], "a partial run's digest would take the window's id from the next complete run"
    assert "after some pages, the rest not reconciled" in summary(report)


@pytest.mark.parametrize(
    ("changes", "code", "says"),
    [
        ({}, 0, None),
        ({"listings_cut_short": 1}, 1, "not read to their end"),
        ({"phone_error": "zoom list call history answered 403", "phone_partial": True}, 1, "not read to their end"),
        ({"phone_error": "zoom list call history answered 403"}, 0, None),  # no Zoom Phone: the meetings are whole
        ({"flagged": 2}, 1, "2 expected meeting(s)"),
    ],
)
def test_the_command_exits_1_when_a_listing_was_not_read_to_its_end(
    monkeypatch: pytest.MonkeyPatch, changes: dict[str, Any], code: int, says: str | None
) -> None:
    async def fake_reconcile(*args: Any, **kwargs: Any) -> ReconcileReport:
        return ReconcileReport("acme", DAY.date(), DAY.date(), **changes)

    monkeypatch.setattr(reconcile_command, "reconcile", fake_reconcile)
    monkeypatch.setattr(reconcile_command, "backfill_tenant", lambda tenant: None)
    monkeypatch.setattr(reconcile_command, "load_settings", lambda settings: None)
    args = argparse.Namespace(from_=DAY.date(), to=DAY.date(), tenant=None, digest=False)
    result = reconcile_command.run(args)
    assert result.code == code
    assert (result.message is None) if says is None else (result.message is not None and says in result.message)


SECRET_TOKEN = "s3cret-page-token"
# Answers Zoom never sends (its pages carry their list, empty when there is nothing, and a short string token).
UNREADABLE: dict[str, Callable[[str], JsonObject]] = {
    "no list": lambda key: {"page_size": 300, "total_records": 0, "next_page_token": ""},
    "null list": lambda key: {key: None, "next_page_token": ""},
    "huge token": lambda key: {key: [], "next_page_token": SECRET_TOKEN * 6_000},
}


Override = Callable[[str, Mapping[str, str], str], Awaitable[JsonObject | None]]
"""Answers a Zoom API call instead of the sandbox: ``(path, params, what)`` → an answer, or None for the sandbox's."""


async def _reconcile_with(
    mongo: Mongo,
    monkeypatch: pytest.MonkeyPatch,
    config: ZoomSandboxConfig,
    override: Override,
    page_size: int | None = None,
) -> tuple[ReconcileReport, list[Event]]:
    """``reconcile_and_publish`` of DAY (tenant expecting any meeting) against the sandbox with ``config``, where
    ``override`` answers instead of it; the report and the events published."""
    published: list[Event] = []

    async def publish(event: Event) -> None:
        published.append(event)

    async with running_zoom_sandbox(config) as sandbox:
        tenant = sandbox_tenant(sandbox, reconcile_expect="any")
        async with ZoomClient(tenant) as client:
            listing = client.get_json

            async def answering(path: str, params: Mapping[str, str], *, what: str) -> JsonObject:
                answer = await override(path, params, what)
                return answer if answer is not None else await listing(path, params, what=what)

            client.get_json = answering  # type: ignore[method-assign]
            monkeypatch.setattr(reconcile_module, "ZoomClient", lambda *a, **k: contextlib.nullcontext(client))
            if page_size is not None:
                monkeypatch.setattr(reconcile_module, "Reconciliation", partial(Reconciliation, page_size=page_size))
            report = await reconcile_module.reconcile_and_publish(mongo, tenant, DAY.date(), DAY.date(), publish)
    return report, published


async def _reconcile_answering(
    mongo: Mongo, monkeypatch: pytest.MonkeyPatch, target: str, answer: JsonObject
) -> tuple[ReconcileReport, list[Event]]:
    """``reconcile_and_publish`` of DAY (a lost meeting, a lost call) whose Zoom answers ``answer`` on ``target``."""
    config = sandbox_config(
        past_meetings=(past("lost=="),),
        past_calls=(PastCallSpec(call_id="lost-call", owner_email="ann@example.com", start_time=DAY, recorded=True),),
    )

    async def on_target(path: str, params: Mapping[str, str], what: str) -> JsonObject | None:
        return answer if path == target else None

    return await _reconcile_with(mongo, monkeypatch, config, on_target)


@pytest.mark.integration
@pytest.mark.parametrize("answer", UNREADABLE)
async def test_a_dashboard_page_zoom_never_sends_fails_the_run_instead_of_finding_nothing_missing(
    mongo: Mongo, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, answer: str
) -> None:
    """Before, a 200 without ``meetings`` read as an empty last page: "listed=0 flagged=0", exit 0, and the window's
    digest said nothing was missing though the lost meeting was never seen."""
    with pytest.raises(InvalidPageError) as caught:
        await _reconcile_answering(mongo, monkeypatch, "/metrics/meetings", UNREADABLE[answer]("meetings"))
    code, line, _ = failure(caught.value)
    assert code == 1 and line.startswith("zoom list past meetings answered 200: ")
    assert SECRET_TOKEN not in line and SECRET_TOKEN not in caplog.text
    assert await mongo.db[CONVERSATIONS].count_documents({}) == 0


@pytest.mark.integration
@pytest.mark.parametrize("answer", [*UNREADABLE, "old array"])
async def test_a_call_history_page_zoom_never_sends_is_an_incomplete_run_without_a_digest(
    mongo: Mongo, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, answer: str
) -> None:
    """Before, such a page (or one with only ``call_log``, the array Zoom retires) read as "no calls" or as "no Zoom
    Phone": the run was complete (exit 0) and its digest sent, the lost call never checked."""
    page = {"call_log": [{"call_id": "lost-call"}], "next_page_token": ""}
    if answer != "old array":
        page = UNREADABLE[answer]("call_history")
    report, published = await _reconcile_answering(mongo, monkeypatch, "/phone/call_history", page)
    assert (report.flagged, report.phone_listed) == (1, 0)
    assert report.phone_partial and not report.complete and published == []
    assert "zoom list call history answered 200: " in str(report.phone_error) and SECRET_TOKEN not in caplog.text
    assert "some listings were not read to their end" in await _command_message(report)


async def _command_message(report: ReconcileReport) -> str:
    """The message ``zoomsymbl reconcile`` ends with for ``report`` (its exit code is 1 when there is one)."""
    with pytest.MonkeyPatch.context() as patch:

        async def fake_reconcile(*args: Any, **kwargs: Any) -> ReconcileReport:
            return report

        patch.setattr(reconcile_command, "reconcile", fake_reconcile)
        patch.setattr(reconcile_command, "backfill_tenant", lambda tenant: None)
        patch.setattr(reconcile_command, "load_settings", lambda settings: None)
        args = argparse.Namespace(from_=DAY.date(), to=DAY.date(), tenant=None, digest=False)
        result = await asyncio.to_thread(reconcile_command.run, args)
    assert result.code == (1 if result.message else 0)
    return result.message or ""


@pytest.mark.integration
async def test_listed_entries_without_an_id_are_counted_invalid_and_logged(
    mongo: Mongo, caplog: pytest.LogCaptureFixture
) -> None:
    """Before, a meeting without ``uuid`` or a call without ``call_id`` was dropped uncounted: listed, expected and
    invalid all left it out, and the counts did not add up to what Zoom listed."""
    calls = (PastCallSpec(call_id="named-call", owner_email="ann@example.com", start_time=DAY, recorded=True),)
    config = sandbox_config(past_meetings=(past("named=="),), past_calls=calls)
    unnamed_meetings = [
        {"id": 1, "email": "ann@example.com", "has_recording": True, "topic": "one"},
        {"uuid": "", "id": 2, "email": "ann@example.com", "has_recording": True, "topic": "two"},
        {"id": 3, "email": "ann@example.com", "has_recording": False, "topic": "not recorded"},  # not expected
    ]
    unnamed_call = {"direction": "outbound", "caller_ext_type": "user", "caller_email": "ann@example.com",
                    "recording_status": "recorded"}  # fmt: skip
    async with running_zoom_sandbox(config) as sandbox:
        tenant = sandbox_tenant(sandbox)  # cloud_recording: what Zoom says was recorded
        async with ZoomClient(tenant) as client:
            listing = client.get_json

            async def with_unnamed(path: str, params: Mapping[str, str], *, what: str) -> JsonObject:
                page = await listing(path, params, what=what)
                if path == "/metrics/meetings":
                    return {**page, "meetings": [*page["meetings"], *unnamed_meetings]}
                if path == "/phone/call_history":
                    return {**page, "call_history": [*page["call_history"], unnamed_call]}
                return page

            client.get_json = with_unnamed  # type: ignore[method-assign]
            report = await Reconciliation(mongo, tenant, client, page_size=20).run(DAY.date(), END)
    assert (report.listed, report.expected, report.flagged, report.invalid) == (4, 3, 1, 3)
    assert (report.phone_listed, report.phone_expected, report.phone_flagged) == (2, 2, 1)
    flagged = report.flagged + report.already_flagged + report.archived
    phone = report.phone_flagged + report.phone_already_flagged + report.phone_archived
    assert report.expected + report.phone_expected == flagged + phone + report.invalid
    skipped = [r for r in caplog.records if r.getMessage() == "listed entries skipped"]
    assert sorted((r.__dict__["field"], r.__dict__["count"]) for r in skipped) == [("call_id", 1), ("uuid", 2)]
    assert report.complete  # counted and logged, as entries no record can hold; the listings were read to their end
