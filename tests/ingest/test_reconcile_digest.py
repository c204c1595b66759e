"""The reconciliation digest (issue 17 item 3): flagged meetings e-mailed to the tenant's administrators.

The done test: 3 of 50 past meetings were never archived; the scheduled reconciliation publishes its
event on the real Kafka, the notifier's digest consumer e-mails the tenant's admins (a real SMTP
server) one digest listing exactly those 3; the same window again sends nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from functools import partial
from typing import Any

import pytest
from faststream.kafka import KafkaBroker
from pydantic import SecretStr
from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.events import ReconciliationCompleted
from zoomsymbl_common.kafka import Consumer, RetryPolicy, make_broker, start_broker
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import CONVERSATIONS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_ingest.producer import Producer
from zoomsymbl_ingest.rounds import run_periodic_reconciliation
from zoomsymbl_ingest.settings import Settings
from zoomsymbl_notifier.digest import Digests, MissingMeeting, digest_report
from zoomsymbl_notifier.handlers import register_digests
from zoomsymbl_notifier.outbox import Backoff, Outbox
from zoomsymbl_notifier.smtp import SmtpTransport
from zoomsymbl_sandbox.zoom import running_zoom_sandbox
from zoomsymbl_sandbox.zoom_specs import PastMeetingSpec

from tests.ingest.support import sandbox_config, sandbox_tenant
from tests.ingest.test_reconcile import archive
from tests.notifier.harness import make_settings
from tests.notifier.harness_smtp import SmtpSink
from tests.support.consumer_lag import wait_drained
from tests.support.eventually import eventually

ADMINS = ("it-admin@example.com", "compliance@example.com")
WINDOW = date(2026, 11, 20)


def event(missing: tuple[str, ...] = ("a==",), **counts: int) -> ReconciliationCompleted:
    return ReconciliationCompleted(
        event_id="e1",
        tenant="acme",
        meeting_uuid=ReconciliationCompleted.window_key(WINDOW, WINDOW),
        window_from=WINDOW,
        window_to=WINDOW,
        missing=missing,
        **counts,
    )


def test_the_digest_escapes_outside_text_and_says_how_many_it_does_not_list() -> None:
    hostile = MissingMeeting(
        "u1==", "<script>alert(1)</script>\r\nBcc: x@evil.test", "eve@example.com", None, "never reached"
    )
    report = digest_report(event(listed=9, expected=5, archived=2, flagged=2, already_flagged=1), [hostile])
    assert report.subject == "Zoom archive: 1 meeting(s) or call(s) not archived (2026-11-20 to 2026-11-20)"
    assert "<script>" not in report.html and "&lt;script&gt;" in report.html
    assert "\r" not in report.text and "\nBcc:" not in report.text
    assert "listed 9 past meeting(s) and call(s), 5 expected in the archive, 2 archived" in report.text
    assert "2 more are not listed here" in report.text
    assert "start unknown" in report.text


@pytest.mark.integration
@pytest.mark.parametrize("key", ["reconciliation/2026-11-19/2026-11-20", "meeting-uuid=="])
async def test_an_event_whose_key_is_not_its_window_is_refused(mongo: Mongo, infra: InfraSettings, key: str) -> None:
    digests = Digests(mongo, Tenants([admin_tenant("")]), outbox(mongo, infra, 9), "zs@example.com")
    with pytest.raises(PoisonInputError, match="window"):
        await digests.on_reconciliation(event().model_copy(update={"meeting_uuid": key}))


def admin_tenant(api_base: str, **overrides: Any) -> TenantConfig:
    values: dict[str, Any] = {
        "id": "acme",
        "zoom_webhook_secret": SecretStr("webhook-secret-of-the-test"),
        "admin_emails": ADMINS,
        "zoom_api_base": api_base or "https://api.zoom.us/v2",
    }
    return TenantConfig(**(values | overrides))


def outbox(mongo: Mongo, infra: InfraSettings, smtp_port: int) -> Outbox:
    return Outbox(mongo, SmtpTransport(make_settings(infra, smtp_port)), Backoff(0.1, 0.2, 30.0))


@contextlib.asynccontextmanager
async def digest_consumer(infra: InfraSettings, digests: Digests) -> AsyncIterator[KafkaBroker]:
    """The notifier's digest subscriber on the real Kafka, as the notifier's app registers it."""
    broker = make_broker(infra, "notifier")
    consumer = Consumer(broker, infra, "notifier", policy=RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.1))
    register_digests(broker, consumer, digests)
    await start_broker(broker, timeout=60)
    try:
        yield broker
    finally:
        await broker.stop()


def one_round() -> Callable[[float], Awaitable[None]]:
    """The schedule's sleep: the first wait returns at once, the second ends the schedule (one round)."""
    rounds = 0

    async def sleep(_seconds: float) -> None:
        nonlocal rounds
        rounds += 1
        if rounds > 1:
            raise asyncio.CancelledError

    return sleep


async def scheduled_round(mongo: Mongo, tenants: Tenants, infra: InfraSettings) -> None:
    """One round of ingest's schedule, publishing through ingest's producer on the real Kafka."""
    producer = Producer(infra)
    await producer.wait_connected(timeout=60)
    settings = Settings(reconcile_interval_seconds=86_400, reconcile_lookback_days=1)
    publish = partial(producer.publish, timeout=30.0)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await run_periodic_reconciliation(mongo, tenants, settings, publish, sleep=one_round())
    finally:
        await producer.close()


def plain(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


@pytest.mark.integration
async def test_three_of_fifty_never_archived_are_in_one_digest_to_the_admins(
    infra: InfraSettings, mongo: Mongo
) -> None:
    yesterday = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=1)
    uuids = [f"m{i:02d}/x==" if i == 7 else f"m{i:02d}==" for i in range(50)]
    lost = {uuids[7], uuids[23], uuids[41]}
    specs = tuple(
        PastMeetingSpec(
            uuid=u, host_email="ann@example.com", start_time=yesterday + timedelta(minutes=i), has_recording=True
        )
        for i, u in enumerate(uuids)
    )
    smtp = SmtpSink()
    await smtp.start()
    try:
        async with running_zoom_sandbox(sandbox_config(past_meetings=specs)) as sandbox:
            tenant = sandbox_tenant(sandbox, admin_emails=(*ADMINS, "not an address"))
            tenants = Tenants([tenant])
            await archive(mongo, "acme", [u for u in uuids if u not in lost])
            digests = Digests(mongo, tenants, outbox(mongo, infra, smtp.port), "Zoomsymbl <zs@example.com>")
            async with digest_consumer(infra, digests):
                await scheduled_round(mongo, tenants, infra)
                await eventually(lambda: _count(smtp), lambda n: n >= 1, timeout=60, what="the digest e-mail")
                await scheduled_round(mongo, tenants, infra)  # the same window again: the same event id
                await wait_drained(infra.kafka_bootstrap, infra.kafka_topic_prefix)
    finally:
        await smtp.stop()

    [digest] = smtp.messages
    assert smtp.recipients == [list(ADMINS)]
    assert str(digest["Subject"]).strip().startswith("Zoom archive: 3 meeting(s) or call(s) not archived")
    text = plain(digest)
    assert {u for u in uuids if f"  {u}: " in text} == lost
    assert "listed 50 past meeting(s) and call(s), 50 expected in the archive, 47 archived" in text
    flagged = await mongo.db[CONVERSATIONS].count_documents({"recording_failed": True})
    assert flagged == 3


async def _count(smtp: SmtpSink) -> int:
    return len(smtp.messages)


@pytest.mark.integration
async def test_a_meeting_archived_since_and_a_tenant_without_admins_get_no_line_and_no_mail(
    infra: InfraSettings, mongo: Mongo
) -> None:
    smtp = SmtpSink()
    await smtp.start()
    try:
        for uuid in ("late==", "still=="):
            await mongo.db[CONVERSATIONS].insert_one(
                {"tenant": "acme", "meeting_uuid": uuid, "source_platform": "Zoom Meeting", "recording_failed": True,
                 "failure": "never reached", "reconciled_at": datetime.now(UTC)}
            )  # fmt: skip
        # The recording of late== arrived after all: the mixer's upsert replaced the reconciliation record.
        await mongo.db[CONVERSATIONS].update_one(
            {"meeting_uuid": "late=="}, {"$set": {"recording_failed": False, "reconciled_at": None}}
        )
        box = outbox(mongo, infra, smtp.port)
        nobody = Digests(mongo, Tenants([admin_tenant("", admin_emails=())]), box, "zs@example.com")
        await nobody.on_reconciliation(event(("late==", "still==")))
        assert smtp.messages == []

        digests = Digests(mongo, Tenants([admin_tenant("")]), box, "zs@example.com")
        await digests.on_reconciliation(event(("late==",)))  # nothing missing any more: no e-mail
        assert smtp.messages == []
        await digests.on_reconciliation(event(("late==", "still==")))
        await digests.on_reconciliation(event(("late==", "still==")))  # redelivered
    finally:
        await smtp.stop()
    [digest] = smtp.messages
    text = plain(digest)
    assert "  still==: " in text and "late==" not in text
