"""An e-mail's lifetime, as an MTA's queue lifetime: what fails for now (the relay out of reach, a 4xx to the session,
to MAIL FROM or to the message's final ".") is retried for 5 days after the e-mail was recorded (RFC 5321 4.5.4.1),
then given up with the last error; it was retried for ever. Time is a clock the test moves, never waited for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.kafka import make_broker
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.status import format_history, meeting_history
from zoomsymbl_common.records import EMAILS, MEETINGS, Meeting
from zoomsymbl_common.service import MONGO, TENANTS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.tenants import Tenants
from zoomsymbl_notifier.app import HTTP, REGISTRY, SETTINGS, build_pipeline
from zoomsymbl_notifier.mail import Envelope, compose
from zoomsymbl_notifier.metrics import MailMetrics
from zoomsymbl_notifier.outbox import Backoff, MailKey, Outbox
from zoomsymbl_notifier.report import Report
from zoomsymbl_notifier.smtp import SmtpTransport

from tests.notifier.harness import make_settings
from tests.notifier.harness_smtp import free_port
from tests.notifier.harness_smtp_faults import FaultySink, faulty_outbox, stored_email

pytestmark = pytest.mark.integration

KEY = MailKey("acme", "m/lifetime==", 0, "report")
HOST, ARCHIVE = "host@example.com", "archive@example.com"
ENVELOPE = Envelope("bot@zoomsymbl.test", (HOST,), (ARCHIVE,))
MSG_ID = "<lifetime@zoomsymbl.test>"
RAW = compose(Report("Meeting summary: Sync", "text\n", "<p>html</p>"), ENVELOPE, MSG_ID)
LIFETIME = 5 * 24 * 3600.0  # the default of mail_give_up_after_seconds
GREYLISTED = "450 4.2.0 <archive@example.com>: Recipient address rejected: Greylisted, try again later"
HOST_GREYLISTED = "450 4.2.0 <host@example.com>: Recipient address rejected: Greylisted, try again later"

# What the relay does, and what the given-up reason keeps of it.
FAILURES: dict[str, tuple[dict[str, Any], str]] = {
    "unreachable": ({}, "ConnectionRefusedError"),
    "greeting-421": ({"greeting": "421 4.3.2 mx.example.com: Service not available, try again later"}, "421"),
    "mail-from-451": ({"mail_reply": "451 4.3.0 <bot@zoomsymbl.test>: Temporary lookup failure"}, "sender refused"),
    "final-dot-451": ({"data_reply": "451 4.7.1 <host@example.com>: Deferred by a content filter"}, "content filter"),
}


@pytest.fixture
async def sink() -> AsyncIterator[FaultySink]:
    server = FaultySink()
    yield server
    await server.stop()


def failed(registry: CollectorRegistry, reason: str) -> float:
    return registry.get_sample_value("zoomsymbl_emails_failed_total", {"reason": reason}) or 0.0


@pytest.mark.parametrize("case", list(FAILURES))
async def test_an_e_mail_failing_for_now_past_its_lifetime_is_given_up_with_the_last_error(
    mongo: Mongo, sink: FaultySink, case: str
) -> None:
    server, kept = FAILURES[case]
    for name, value in server.items():
        setattr(sink, name, value)
    if case != "unreachable":
        await sink.start()
    clock, registry = FakeClock(), CollectorRegistry()
    outbox = faulty_outbox(mongo, sink, clock=clock, metrics=MailMetrics(registry))

    assert await outbox.send(KEY, ENVELOPE, MSG_ID, RAW) == "retry_later"
    clock.advance(LIFETIME - 60)
    assert await outbox.deliver(KEY) == "retry_later", "a minute before its lifetime is over, still retried"
    clock.advance(120)
    assert await outbox.deliver(KEY) == "rejected"

    doc = await stored_email(mongo, KEY)
    assert doc["status"] == "rejected" and doc["last_error"].startswith("gave up after 5 days: ")
    assert kept in doc["last_error"] and "@" not in doc["last_error"], "the last error, naming no address"
    assert await outbox.due(10) == [] and await outbox.deliver(KEY) == "rejected"
    assert sink.messages == []
    assert (failed(registry, "unavailable"), failed(registry, "rejected")) == (2, 1), "the give-up counted as such"

    meeting = Meeting(tenant=KEY.tenant, meeting_uuid=KEY.meeting_uuid, stage="notified", updated_at=clock())
    await mongo.db[MEETINGS].insert_one(meeting.to_document())
    history = await meeting_history(mongo, KEY.meeting_uuid)
    assert history is not None
    shown = format_history(history)
    assert f"report generation 0: rejected, {MSG_ID}" in shown and "last error: gave up after 5 days: " in shown


async def test_a_relay_back_after_an_outage_longer_than_the_lifetime_still_gets_the_e_mail(
    mongo: Mongo, sink: FaultySink
) -> None:
    """Nothing is given up by time alone: the first attempt after the outage is made, and it sends."""
    clock = FakeClock()
    outbox = faulty_outbox(mongo, sink, clock=clock)  # the relay is out of reach
    assert await outbox.send(KEY, ENVELOPE, MSG_ID, RAW) == "retry_later"
    clock.advance(LIFETIME + 3600)  # and no attempt since (the notifier was down as well)
    await sink.start()

    assert await outbox.due(10) == [KEY]
    assert await outbox.deliver(KEY) == "sent"

    doc = await stored_email(mongo, KEY)
    assert doc["status"] == "sent" and doc["refused"] == []
    assert [m["Message-ID"] for m in sink.messages] == [MSG_ID] and sink.recipients == [[HOST, ARCHIVE]]


async def test_who_has_the_message_never_gets_it_again_when_the_others_are_given_up(
    mongo: Mongo, sink: FaultySink
) -> None:
    """The host got it, the archive was greylisted, then the relay failed every transaction for now: past the
    lifetime the archive is given up (recorded in ``refused``), the e-mail stays ``sent``, the host has one copy."""
    sink.rcpt[ARCHIVE] = [GREYLISTED]
    await sink.start()
    clock = FakeClock()
    outbox = faulty_outbox(mongo, sink, clock=clock)
    assert await outbox.send(KEY, ENVELOPE, MSG_ID, RAW) == "retry_later"
    sink.mail_reply = "451 4.3.0 Temporary local problem, try again later"
    clock.advance(LIFETIME - 60)
    assert await outbox.deliver(KEY) == "retry_later"
    clock.advance(120)

    assert await outbox.deliver(KEY) == "sent"

    doc = await stored_email(mongo, KEY)
    assert doc["status"] == "sent" and doc["delivered_to"] == [HOST]
    [refused] = doc["refused"]
    assert (refused["address"], refused["code"]) == (ARCHIVE, 0)
    assert refused["reason"] == doc["last_error"] and doc["last_error"].startswith("gave up after 5 days: ")
    assert sink.recipients == [[HOST]], "the host got it once, never again"
    assert await outbox.due(10) == [] and await outbox.deliver(KEY) == "already_sent"


async def test_recipients_still_refused_for_now_past_the_lifetime_count_as_given_up(
    mongo: Mongo, sink: FaultySink
) -> None:
    """Every recipient greylisted past the lifetime: the e-mail is ``rejected`` and the attempt counted so; it was
    counted ``unavailable`` ("retried later") while nothing would be retried."""
    sink.rcpt[HOST], sink.rcpt[ARCHIVE] = [HOST_GREYLISTED], [GREYLISTED]
    await sink.start()
    clock, registry = FakeClock(), CollectorRegistry()
    outbox = faulty_outbox(mongo, sink, clock=clock, metrics=MailMetrics(registry))
    assert await outbox.record(KEY, ENVELOPE, MSG_ID, RAW)
    clock.advance(LIFETIME + 60)

    assert await outbox.deliver(KEY) == "rejected"

    assert [r["address"] for r in (await stored_email(mongo, KEY))["refused"]] == [HOST, ARCHIVE]
    assert (failed(registry, "unavailable"), failed(registry, "rejected")) == (0, 1)


class Broken(SmtpTransport):
    """A transport whose every send fails with an error nobody classified (a bug)."""

    def __init__(self) -> None:
        pass

    async def send(self, sender: str, recipients: tuple[str, ...], raw: bytes) -> None:
        raise RuntimeError("bug in the transport")


async def test_an_e_mail_meeting_unexpected_errors_is_given_up_at_its_lifetime_too(mongo: Mongo) -> None:
    """Ten unexpected errors end an e-mail; outages between them do not count: the lifetime bounds them all."""
    clock, registry = FakeClock(), CollectorRegistry()
    outbox = Outbox(mongo, Broken(), Backoff(0.1, 0.2, lease=60), clock=clock, metrics=MailMetrics(registry))
    assert await outbox.send(KEY, ENVELOPE, MSG_ID, RAW) == "retry_later"
    clock.advance(LIFETIME + 60)

    assert await outbox.deliver(KEY) == "rejected"

    doc = await stored_email(mongo, KEY)
    assert doc["status"] == "rejected"
    assert doc["last_error"] == "gave up after 5 days: RuntimeError: bug in the transport"
    assert await outbox.due(10) == []
    assert (failed(registry, "unavailable"), failed(registry, "rejected")) == (1, 1), "each failed attempt counted"


async def test_the_notifier_gives_up_after_its_mail_give_up_after_seconds(infra: InfraSettings, mongo: Mongo) -> None:
    """The setting reaches the outbox the app builds, and the app's metrics count the give-up."""
    settings = make_settings(infra, free_port(), mail_give_up_after_seconds=3600)
    app = web.Application()
    async with aiohttp.ClientSession() as session:
        app[SETTINGS], app[TENANTS], app[MONGO], app[HTTP] = settings, Tenants([]), mongo, session
        app[REGISTRY] = CollectorRegistry()
        outbox = build_pipeline(app, make_broker(infra, "notifier")).outbox
        assert await outbox.send(KEY, ENVELOPE, MSG_ID, RAW) == "retry_later"
        doc = await stored_email(mongo, KEY)
        past = {"created_at": doc["created_at"] - timedelta(seconds=3601), "next_attempt_at": doc["created_at"]}
        await mongo.db[EMAILS].update_one(KEY.query(), {"$set": past})

        assert await outbox.deliver(KEY) == "rejected"

    assert (await stored_email(mongo, KEY))["last_error"].startswith("gave up after 1 hour: ")
    assert (failed(app[REGISTRY], "unavailable"), failed(app[REGISTRY], "rejected")) == (1, 1)
