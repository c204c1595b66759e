"""Listed ids no UTF-8 holds (reconcile, backfill): Zoom's answers are read with Python's JSON parser, which accepts
an escaped lone surrogate (``"m\\ud800=="``) and hands it on as a code point neither BSON nor a URL path can encode.

Before, such an id in one entry of a dashboard page, a call-history page, a users page, a user's recordings page or
a phone recordings page raised ``UnicodeEncodeError`` (a ``ValueError``, neither a Zoom error nor a MongoDB one) out
of the MongoDB look-up or the next URL: the whole run ended in a traceback, the periodic round's task gone for good.
Now the entry is one that names nothing: counted (``invalid``, ``failed``), logged without the id, and the run goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta

import pytest
from zoomsymbl_common.events import ReconciliationCompleted, utcnow
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import CONVERSATIONS
from zoomsymbl_common.tenants import Tenants
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_common.zoom_answers import JsonObject
from zoomsymbl_ingest import reconcile as reconcile_module
from zoomsymbl_ingest.backfill import Backfill
from zoomsymbl_ingest.intake import Intake
from zoomsymbl_ingest.metrics import IngestMetrics
from zoomsymbl_ingest.reconcile import Reconciliation
from zoomsymbl_ingest.rounds import run_periodic_reconciliation
from zoomsymbl_ingest.settings import Settings
from zoomsymbl_ingest.stores import MongoReceipts, MongoTombstones
from zoomsymbl_sandbox.zoom import PhoneCallSpec, running_zoom_sandbox
from zoomsymbl_sandbox.zoom_specs import PastCallSpec, PastMeetingSpec, ZoomSandboxConfig

from tests.ingest.support import (
    MemoryTokens,
    RecordingPublisher,
    Schedule,
    quick_meeting,
    sandbox_config,
    sandbox_tenant,
)
from tests.ingest.test_backfill import FAST, no_sleep

DAY = datetime.combine(utcnow().date() - timedelta(days=15), time(9), tzinfo=UTC)
# What json.loads makes of Zoom's bytes "m\ud800==": a str no UTF-8 encoder takes.
LONE = json.loads('"m\\ud800=="')


def with_entry(client: ZoomClient, listed: str, key: str, entry: JsonObject) -> None:
    """``client`` answers the first page of the listing ``listed`` with ``entry`` added to its ``key`` list."""
    listing = client.get_json

    async def get_json(path: str, params: Mapping[str, str], *, what: str) -> JsonObject:
        page = await listing(path, params, what=what)
        if path == listed and not params.get("next_page_token"):
            page = {**page, key: [*page[key], entry]}
        return page

    client.get_json = get_json  # type: ignore[method-assign]


def odd_meeting() -> JsonObject:
    return {"uuid": LONE, "id": 1, "email": "ann@example.com", "has_recording": True}


def odd_call() -> JsonObject:
    return {"call_id": "call" + LONE, "recording_status": "recorded", "caller_ext_type": "user",
            "caller_email": "ann@example.com", "start_time": DAY.isoformat()}  # fmt: skip


def reconcile_config() -> ZoomSandboxConfig:
    return sandbox_config(
        past_meetings=(
            PastMeetingSpec(uuid="lost==", host_email="ann@example.com", start_time=DAY, has_recording=True),
        ),
        past_calls=(PastCallSpec(call_id="call-lost", owner_email="ann@example.com", start_time=DAY, recorded=True),),
    )


@pytest.mark.integration
async def test_a_listed_meeting_or_call_whose_id_no_utf8_holds_is_skipped_and_the_run_goes_on(mongo: Mongo) -> None:
    async with running_zoom_sandbox(reconcile_config()) as sandbox:
        tenant = sandbox_tenant(sandbox)
        async with ZoomClient(tenant) as client:
            with_entry(client, "/metrics/meetings", "meetings", odd_meeting())
            with_entry(client, "/phone/call_history", "call_history", odd_call())
            report = await Reconciliation(mongo, tenant, client, policy=FAST, sleep=no_sleep).run(
                DAY.date(), DAY.date() + timedelta(days=1)
            )
    assert (report.listed, report.flagged, report.phone_listed, report.phone_flagged) == (2, 1, 2, 1)
    assert report.invalid == 2 and report.complete
    flagged = {doc["meeting_uuid"] for doc in await mongo.db[CONVERSATIONS].find({}).to_list(None)}
    assert flagged == {"lost==", "phone-call:call-lost"}


@pytest.mark.integration
async def test_the_scheduled_round_survives_a_dashboard_id_no_utf8_holds(
    mongo: Mongo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The round's task outlives the page: the tenant's event is published."""
    schedule = Schedule(rounds=1)
    yesterday = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=1)
    specs = (PastMeetingSpec(uuid="lost==", host_email="ann@example.com", start_time=yesterday, has_recording=True),)
    async with running_zoom_sandbox(sandbox_config(past_meetings=specs)) as sandbox:
        tenant = sandbox_tenant(sandbox)

        def client_with_odd_entry(*args: object, **kwargs: object) -> ZoomClient:
            client = ZoomClient(*args, **kwargs)  # type: ignore[arg-type]
            with_entry(client, "/metrics/meetings", "meetings", odd_meeting())
            return client

        monkeypatch.setattr(reconcile_module, "ZoomClient", client_with_odd_entry)
        settings = Settings(reconcile_interval_seconds=86_400, reconcile_lookback_days=1)
        with contextlib.suppress(asyncio.CancelledError):
            await run_periodic_reconciliation(
                mongo, Tenants([tenant]), settings, schedule.publish, sleep=schedule.sleep
            )
    assert len(schedule.published) == 1 and isinstance(event := schedule.published[0], ReconciliationCompleted)
    assert (event.listed, event.flagged, event.missing) == (2, 1, ("lost==",))


@pytest.mark.integration
async def test_a_backfill_skips_users_meetings_and_phone_recordings_whose_ids_no_utf8_holds(mongo: Mongo) -> None:
    started = utcnow().replace(microsecond=0) - timedelta(days=2)
    config = sandbox_config(quick_meeting("kept==", start_time=started))
    async with running_zoom_sandbox(config) as sandbox:
        call = PhoneCallSpec(recording_id="call-kept", call_id="707259898936829590", start_time=started,
                             lines=(("caller", "Hello?"), ("callee", "Hi.")))  # fmt: skip
        await sandbox.add_phone_call(call)
        tenant = sandbox_tenant(sandbox)
        publisher = RecordingPublisher()
        intake = Intake(publisher, MongoReceipts(mongo), MemoryTokens(), IngestMetrics.create())
        async with ZoomClient(tenant) as client:
            with_entry(client, "/users", "users", {"id": "u" + LONE, "email": "odd@example.com"})
            with_entry(
                client, "/phone/recordings", "recordings", {"id": "rec" + LONE, "download_url": "https://zoom.us/x"}
            )
            listing = client.get_json

            async def with_odd_meeting(path: str, params: Mapping[str, str], *, what: str) -> JsonObject:
                page = await listing(path, params, what=what)
                if path.endswith("/recordings") and path.startswith("/users/") and page["meetings"]:
                    page = {**page, "meetings": [*page["meetings"], {**page["meetings"][0], "uuid": LONE}]}
                return page

            client.get_json = with_odd_meeting  # type: ignore[method-assign]
            job = Backfill(intake, tenant, client, policy=FAST, sleep=no_sleep, tombstones=MongoTombstones(mongo))
            report = await job.run(started.date(), utcnow().date())
            await intake.close()
    assert report.error is None
    assert {e.meeting_uuid for e in publisher.events} == {"kept==", "phone:call-kept"}
    assert (report.seen, report.new, report.failed, report.phone_recordings) == (4, 2, 2, 2)
    assert "odd@example.com" not in report.users
