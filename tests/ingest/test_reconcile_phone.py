"""Phone reconciliation (issue 17 item 3): Zoom Phone's call history against the archive.

20 calls: 17 archived (as the mixer leaves them: a ``meetings`` document with ``call.call_id`` or a
``Zoom Phone`` record with the call id), 2 recorded and never received, 1 not recorded. Exactly the
policy's ones are flagged, once; a restarted listing counts nothing twice; an account without Zoom
Phone still has its meetings reconciled; a flagged call archived since leaves the digest.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.cli import main
from zoomsymbl_common.records import CONVERSATIONS, MEETINGS, TOMBSTONES, Tombstone
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_common.zoom_answers import JsonObject, ZoomApiError, ZoomAuthError
from zoomsymbl_ingest.reconcile import Reconciliation
from zoomsymbl_ingest.reconcile_command import summary
from zoomsymbl_ingest.reconcile_phone import PastCall, call_expected
from zoomsymbl_ingest.reconcile_report import ReconcileReport
from zoomsymbl_notifier.digest import Digests
from zoomsymbl_sandbox.zoom import Fault, ZoomSandbox, running_zoom_sandbox
from zoomsymbl_sandbox.zoom_call_history import CallRecord, history_entry
from zoomsymbl_sandbox.zoom_specs import PastCallSpec, PastMeetingSpec

from tests.common.test_ops_cli import cli_env, zoomsymbl
from tests.ingest.support import SECRET, sandbox_config, sandbox_tenant
from tests.ingest.test_reconcile_digest import admin_tenant, outbox

# Days before today: Zoom's call history (and the sandbox) answers for the last six months only.
DAY = datetime.combine(utcnow().date() - timedelta(days=15), time(9), tzinfo=UTC)
END = DAY.date() + timedelta(days=2)
CALLS = [f"call{i:03d}" for i in range(20)]
LOST = {"call017", "call018"}  # recorded at Zoom, never received
UNRECORDED = "call019"


def past_call(call_id: str, i: int, *, owner: str = "ann@example.com") -> PastCallSpec:
    return PastCallSpec.model_validate(
        {
            "call_id": call_id,
            "direction": ("inbound", "outbound", "internal")[i % 3],
            "owner_email": owner,
            "start_time": DAY + timedelta(hours=i % 40),
            "recorded": call_id != UNRECORDED,
        }
    )


def calls_config(**overrides: Any) -> Any:
    return sandbox_config(past_calls=tuple(past_call(c, i) for i, c in enumerate(CALLS)), **overrides)


async def archive_calls(mongo: Mongo, call_ids: list[str]) -> None:
    """What the mixer leaves for an archived call: a meetings document and a Zoom Phone record."""
    for i, call_id in enumerate(call_ids):
        key = f"phone:rec-{call_id}"
        if i % 2 == 0:
            await mongo.db[MEETINGS].insert_one(
                {"tenant": "acme", "meeting_uuid": key, "platform": "zoom_phone", "call": {"call_id": call_id}}
            )
        else:
            await mongo.db[CONVERSATIONS].insert_one(
                {"tenant": "acme", "meeting_uuid": key, "source_platform": "Zoom Phone", "platform_id": call_id,
                 "recording_failed": False, "reconciled_at": None}
            )  # fmt: skip


def forget_env(infra: InfraSettings, store: ObjectStore) -> dict[str, str]:
    """The environment ``zoomsymbl forget`` runs with: this test's MongoDB and bucket."""
    return cli_env(
        infra,
        ZOOMSYMBL_S3_ENDPOINT=infra.s3_endpoint,
        ZOOMSYMBL_S3_ACCESS_KEY=infra.s3_access_key.get_secret_value(),
        ZOOMSYMBL_S3_SECRET_KEY=infra.s3_secret_key.get_secret_value(),
        ZOOMSYMBL_S3_BUCKET=store.bucket,
    )


async def reconcile(sandbox: ZoomSandbox, mongo: Mongo, tenant: TenantConfig, page_size: int = 8) -> ReconcileReport:
    async with ZoomClient(tenant) as client:
        return await Reconciliation(mongo, tenant, client, page_size=page_size).run(DAY.date(), END)


def entry(call_id: str, *, owner: str, recorded: bool) -> JsonObject:
    spec = PastCallSpec(call_id=call_id, owner_email=owner, start_time=DAY, recorded=recorded)
    return history_entry(CallRecord.of_past(spec))


@pytest.mark.parametrize(
    ("policy", "wanted"),
    [
        ("allowlist", {"ann-rec", "ann-no-rec"}),
        ("cloud_recording", {"ann-rec", "bob-rec"}),
        ("any", {"ann-rec", "ann-no-rec", "bob-rec", "bob-no-rec"}),
    ],
)
def test_each_policy_expects_its_calls(policy: str, wanted: set[str]) -> None:
    tenant = TenantConfig.model_validate(
        {"id": "acme", "zoom_webhook_secret": SECRET, "allowed_users": ["ann@example.com"], "reconcile_expect": policy}
    )
    cases = {
        f"{owner.split('@')[0]}-{'rec' if rec else 'no-rec'}": PastCall.from_history(
            entry("c1", owner=owner, recorded=rec)
        )
        for owner in ("ann@example.com", "bob@example.com")
        for rec in (True, False)
    }
    assert {name for name, call in cases.items() if call and call_expected(call, tenant)} == wanted


def test_a_call_without_a_zoom_user_is_not_expected_even_with_policy_any() -> None:
    tenant = TenantConfig.model_validate({"id": "acme", "zoom_webhook_secret": SECRET, "reconcile_expect": "any"})
    queue = entry("c2", owner="ann@example.com", recorded=False) | {"callee_ext_type": "call_queue"}
    call = PastCall.from_history(queue)
    assert call is not None and call.users == () and not call_expected(call, tenant)
    assert PastCall.from_history({"direction": "inbound"}).call_id == ""  # no call_id: counted in invalid if expected


@pytest.mark.integration
@pytest.mark.parametrize(("policy", "flagged"), [("any", {*LOST, UNRECORDED}), ("cloud_recording", LOST)])
async def test_exactly_the_expected_unarchived_calls_are_flagged_once_and_listed(
    infra: InfraSettings,
    mongo: Mongo,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    policy: str,
    flagged: set[str],
) -> None:
    async with running_zoom_sandbox(calls_config()) as sandbox:
        tenant = sandbox_tenant(sandbox, reconcile_expect=policy)
        await archive_calls(mongo, [c for c in CALLS if c not in LOST and c != UNRECORDED])
        first = await reconcile(sandbox, mongo, tenant)
        second = await reconcile(sandbox, mongo, tenant)
        pages = sandbox.stats.requests["phone_call_history"]
    expected = 20 if policy == "any" else 19
    assert (first.phone_listed, first.phone_expected, first.phone_archived) == (20, expected, 17)
    assert (first.phone_flagged, first.phone_already_flagged, first.phone_pages, first.phone_error) == (
        len(flagged),
        0,
        3,
        None,
    )
    keys = {f"phone-call:{c}" for c in flagged}
    assert {m["meeting_uuid"] for m in first.missing} == keys and set(first.missing_uuids) == keys
    assert (second.phone_flagged, second.phone_already_flagged, second.missing) == (0, len(flagged), [])
    assert set(second.completion_event().missing) == keys and second.completion_event().already_flagged == len(keys)
    assert pages == 6  # 20 calls at 8 a page, twice
    records = await mongo.db[CONVERSATIONS].find({"reconciled_at": {"$ne": None}}).to_list(None)
    assert sorted(r["meeting_uuid"] for r in records) == sorted(keys)
    reasons = {r["platform_id"]: r["failure"] for r in records}
    assert all(("never reached" in reason) == (call != UNRECORDED) for call, reason in reasons.items())
    assert {r["source_platform"] for r in records} == {"Zoom Phone"} and all(r["recording_failed"] for r in records)
    assert {r["recorded_user"]["user"] for r in records} == {"ann@example.com"}

    monkeypatch.setenv("ZOOMSYMBL_MONGO_URI", infra.mongo_uri.get_secret_value())
    monkeypatch.setenv("ZOOMSYMBL_MONGO_DATABASE", infra.mongo_database)
    assert await asyncio.to_thread(main, ["status", "--failed", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["never_archived"]
    assert sorted(r["meeting_uuid"] for r in listed) == sorted(keys)


@pytest.mark.integration
async def test_an_expired_call_history_page_token_lists_the_window_again_without_counting_twice(mongo: Mongo) -> None:
    clock = FakeClock(DAY + timedelta(days=13))
    async with running_zoom_sandbox(calls_config(), clock=lambda: clock().timestamp()) as sandbox:
        tenant = sandbox_tenant(sandbox, reconcile_expect="any")
        await archive_calls(mongo, CALLS[3:])
        async with ZoomClient(tenant, wall_clock=clock) as client:
            listing = client.get_json
            history_pages = 0

            async def slow_first_page(path: str, params: Mapping[str, str], *, what: str) -> JsonObject:
                nonlocal history_pages
                page = await listing(path, params, what=what)
                if path == "/phone/call_history":
                    history_pages += 1
                    if history_pages == 1:  # e.g. a wait for the daily reset: the token (15 minutes) has expired
                        clock.advance(16 * 60)
                return page

            client.get_json = slow_first_page  # type: ignore[method-assign]
            report = await Reconciliation(mongo, tenant, client, page_size=8).run(DAY.date(), END)
    assert (report.listing_restarts, report.phone_pages) == (1, 4)
    assert (report.phone_listed, report.phone_archived, report.phone_flagged) == (20, 17, 3)
    assert {m["meeting_uuid"] for m in report.missing} == {f"phone-call:{c}" for c in CALLS[:3]}


async def _reconciled_while_refused(mongo: Mongo, refusal: ZoomApiError | int) -> tuple[ReconcileReport, int]:
    """A run over two windows (a lost meeting, the 20 calls) whose call history Zoom refuses on its first page:
    ``refusal`` as a status the sandbox answers, or an error the client raises."""
    meetings = (PastMeetingSpec(uuid="lost==", start_time=DAY, has_recording=True),)
    async with running_zoom_sandbox(calls_config(past_meetings=meetings)) as sandbox:
        if isinstance(refusal, int):
            sandbox.faults.add(Fault(route="phone_call_history", kind="status", status=refusal))
        tenant = sandbox_tenant(sandbox, reconcile_expect="any")
        async with ZoomClient(tenant) as client:
            listing = client.get_json

            async def refused(path: str, params: Mapping[str, str], *, what: str) -> JsonObject:
                if isinstance(refusal, ZoomApiError) and path == "/phone/call_history":
                    raise refusal
                return await listing(path, params, what=what)

            client.get_json = refused  # type: ignore[method-assign]
            report = await Reconciliation(mongo, tenant, client).run(DAY.date() - timedelta(days=36), END)
        listings = sandbox.stats.requests["phone_call_history"]
    assert (report.listed, report.flagged, report.missing_uuids) == (1, 1, ["lost=="])
    assert (report.phone_listed, report.phone_flagged) == (0, 0)
    assert await mongo.db[CONVERSATIONS].count_documents({"source_platform": "Zoom Phone"}) == 0
    return report, listings


@pytest.mark.integration
@pytest.mark.parametrize(
    "refusal",
    [403, ZoomApiError(400, "list call history", "Invalid access token, does not contain scopes:[phone:x].", 4711)],
    ids=["403 no Zoom Phone", "4711 no scope"],
)
async def test_an_account_without_zoom_phone_still_has_its_meetings_reconciled(
    mongo: Mongo, refusal: ZoomApiError | int
) -> None:
    """Zoom's documented answers where there are no calls to list: 403 ("You'll receive a 403 error message if you
    have not set up Zoom Phone"), or an app without the scope (4711). The run is complete."""
    report, listings = await _reconciled_while_refused(mongo, refusal)
    assert report.phone_error is not None and not report.phone_partial and report.complete
    assert listings == (1 if isinstance(refusal, int) else 0), "the second window is not asked again"
    assert "phone calls not reconciled: zoom list call history answered" in summary(report)


@pytest.mark.integration
@pytest.mark.parametrize("status", [404, 400])
async def test_a_call_history_refused_otherwise_on_its_first_page_is_an_incomplete_run(
    mongo: Mongo, status: int
) -> None:
    """Before, any refusal of the first page read as "no Zoom Phone": the calls were never listed, and the run was
    complete (exit 0, its digest sent as if every call had been checked)."""
    report, _ = await _reconciled_while_refused(mongo, status)
    assert report.phone_error is not None and f"answered {status}" in report.phone_error
    assert report.phone_partial and not report.complete


@pytest.mark.integration
async def test_credentials_refused_while_listing_calls_fail_the_run_instead_of_reading_as_no_zoom_phone(
    mongo: Mongo,
) -> None:
    """The app's token refused part-way (its secret rotated, the app deactivated: 400 ``invalid_client`` from the token
    endpoint, a :class:`ZoomAuthError`) is no answer about the call history: the run fails as a whole, as the
    meetings listing does, instead of a report saying the account has no Zoom Phone (or some calls unread)."""
    refused = ZoomAuthError(400, "invalid_client", "The app has been disabled")
    with pytest.raises(ZoomAuthError):
        await _reconciled_while_refused(mongo, refused)
    assert await mongo.db[CONVERSATIONS].count_documents({"source_platform": "Zoom Phone"}) == 0


@pytest.mark.integration
async def test_a_flagged_call_archived_since_is_resolved_and_leaves_the_digest(
    infra: InfraSettings, mongo: Mongo
) -> None:
    async with running_zoom_sandbox(calls_config()) as sandbox:
        tenant = sandbox_tenant(sandbox, reconcile_expect="any")
        await archive_calls(mongo, CALLS[:17])
        first = await reconcile(sandbox, mongo, tenant)
        digests = Digests(mongo, Tenants([admin_tenant("")]), outbox(mongo, infra, 1), "zs@example.com")
        before = await digests.still_missing(first.completion_event())
        # The recording of call017 arrives after all (backfill): the mixer archives it under its own key.
        await archive_calls(mongo, ["call017"])
        second = await reconcile(sandbox, mongo, tenant)
        third = await reconcile(sandbox, mongo, tenant)
        after_first = await digests.still_missing(first.completion_event())
        after_second = await digests.still_missing(second.completion_event())
    assert {m.meeting_uuid for m in before} == {"phone-call:call017", "phone-call:call018", "phone-call:call019"}
    assert (second.phone_resolved, second.phone_archived, second.phone_already_flagged, second.phone_flagged) == (
        1,
        18,
        2,
        0,
    )
    assert (third.phone_resolved, third.phone_archived, third.phone_flagged) == (0, 18, 0)
    assert "phone-call:call017" not in second.completion_event().missing
    assert {m.meeting_uuid for m in after_first} == {"phone-call:call018", "phone-call:call019"}
    assert {m.meeting_uuid for m in after_second} == {"phone-call:call018", "phone-call:call019"}
    assert await mongo.db[CONVERSATIONS].count_documents({"meeting_uuid": "phone-call:call017"}) == 0
    assert all(m.host == "ann@example.com" and "call" in m.topic for m in after_second)


@pytest.mark.integration
async def test_a_forgotten_call_is_not_flagged_again(infra: InfraSettings, mongo: Mongo, store: ObjectStore) -> None:
    """Before, ``zoomsymbl forget`` of a flagged call's record (``phone-call:{call id}``) left a tombstone nobody read:
    the next run flagged the call again, writing its parties back into ``conversations``, at every periodic run."""
    env = forget_env(infra, store)
    async with running_zoom_sandbox(calls_config()) as sandbox:
        tenant = sandbox_tenant(sandbox, reconcile_expect="cloud_recording")
        await archive_calls(mongo, [c for c in CALLS if c not in LOST])
        first = await reconcile(sandbox, mongo, tenant)
        forgotten = await zoomsymbl("forget", "--tenant", "acme", "--meeting", "phone-call:call017", "--yes", env=env)
        erased = await mongo.db[CONVERSATIONS].count_documents({"meeting_uuid": "phone-call:call017"})
        second = await reconcile(sandbox, mongo, tenant)
    assert {m["meeting_uuid"] for m in first.missing} == {"phone-call:call017", "phone-call:call018"}
    assert forgotten.code == 0, forgotten.err
    assert erased == 0
    assert (second.phone_expected, second.phone_archived, second.phone_flagged, second.phone_already_flagged) == (
        19,
        18,
        0,
        1,
    )
    assert "phone-call:call017" not in second.completion_event().missing
    assert await mongo.db[CONVERSATIONS].count_documents({"meeting_uuid": "phone-call:call017"}) == 0
    assert await mongo.db[CONVERSATIONS].count_documents({"meeting_uuid": "phone-call:call018"}) == 1


async def test_a_call_forgotten_by_its_recording_is_not_flagged(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore
) -> None:
    """``zoomsymbl forget`` of an archived call's recording (``phone:{recording id}``) erases the documents that
    linked the recording to its call id, the only id Zoom's call history lists: without a tombstone of the call's
    key too, the next run flagged the call "never archived" and wrote its parties back."""
    env = forget_env(infra, store)
    async with running_zoom_sandbox(calls_config()) as sandbox:
        tenant = sandbox_tenant(sandbox, reconcile_expect="cloud_recording")
        await archive_calls(mongo, [c for c in CALLS if c not in LOST])  # call016 by its meeting, call015 by its record
        await mongo.db[MEETINGS].update_one({"meeting_uuid": "phone:rec-call016"}, {"$set": {"stage": "notified"}})
        for recording in ("phone:rec-call016", "phone:rec-call015"):
            forgotten = await zoomsymbl("forget", "--tenant", "acme", "--meeting", recording, "--yes", env=env)
            assert forgotten.code == 0, forgotten.err
        left = await mongo.db[MEETINGS].count_documents({"call.call_id": "call016"})
        left += await mongo.db[CONVERSATIONS].count_documents({"platform_id": "call015"})
        after = await reconcile(sandbox, mongo, tenant)
    assert left == 0
    assert {m["meeting_uuid"] for m in after.missing} == {"phone-call:call017", "phone-call:call018"}
    assert (
        await mongo.db[CONVERSATIONS].count_documents(
            {"meeting_uuid": {"$in": ["phone-call:call016", "phone-call:call015"]}}
        )
        == 0
    )


@pytest.mark.integration
async def test_a_tombstone_of_the_call_key_resolves_its_flag_and_is_read_per_tenant(mongo: Mongo) -> None:
    """A call flagged before its tombstone was written (the same call key of another tenant's tombstone aside)."""
    async with running_zoom_sandbox(calls_config()) as sandbox:
        tenant = sandbox_tenant(sandbox, reconcile_expect="cloud_recording")
        await archive_calls(mongo, [c for c in CALLS if c not in LOST])
        await reconcile(sandbox, mongo, tenant)
        for owner, call in (("acme", "call017"), ("globex", "call018")):
            tombstone = Tombstone(tenant=owner, meeting_uuid=f"phone-call:{call}", forgotten_at=utcnow())
            await mongo.db[TOMBSTONES].insert_one(tombstone.to_document())
        report = await reconcile(sandbox, mongo, tenant)
    assert (report.phone_archived, report.phone_resolved, report.phone_already_flagged) == (18, 1, 1)
    assert {
        r["meeting_uuid"] for r in await mongo.db[CONVERSATIONS].find({"reconciled_at": {"$ne": None}}).to_list(None)
    } == {"phone-call:call018"}


def test_the_command_summary_says_what_happened_to_the_calls() -> None:
    report = ReconcileReport("acme", DAY.date(), DAY.date(), flagged=1, phone_flagged=2, phone_already_flagged=1)
    assert report.missing_total == 4 and report.completion_event().flagged == 3
    assert "phone calls: listed=0 expected=0 archived=0 flagged=2 already_flagged=1" in summary(report)
    report.phone_error = "zoom list call history answered 403: 'no \x1b[31mphone'"
    text = summary(report)
    assert "phone calls not reconciled: zoom list call history answered 403" in text and "\x1b" not in text
