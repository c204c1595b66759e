"""The e-mail outbox: one intent per meeting, generation and kind; one send; retries until SMTP is back."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import pytest
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import EMAIL_CLAIMS, EMAILS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_notifier.mail import Envelope, compose
from zoomsymbl_notifier.outbox import Backoff, MailKey, Outbox
from zoomsymbl_notifier.report import Report
from zoomsymbl_notifier.smtp import SmtpTransport

from tests.notifier.harness import make_settings
from tests.notifier.harness_smtp import SmtpSink
from tests.support.eventually import eventually

pytestmark = pytest.mark.integration

KEY = MailKey("acme", "m/1==", 0, "report")
ENVELOPE = Envelope("bot@zoomsymbl.test", ("host@example.com",))
MSG_ID = "<fixed@zoomsymbl.test>"
RAW = compose(Report("Meeting summary: Sync", "text\n", "<p>html</p>"), ENVELOPE, MSG_ID)


def _outbox(mongo: Mongo, smtp: SmtpSink) -> Outbox:
    transport = SmtpTransport(make_settings(InfraSettings(), smtp.port))
    return Outbox(mongo, transport, Backoff(base=0.1, ceiling=0.2, lease=60))


async def test_a_second_intent_for_the_same_meeting_changes_nothing(mongo: Mongo, smtp: SmtpSink) -> None:
    outbox = _outbox(mongo, smtp)
    assert await outbox.record(KEY, ENVELOPE, MSG_ID, RAW)
    assert not await outbox.record(KEY, ENVELOPE, "<other@x>", b"other")
    assert await mongo.db[EMAILS].count_documents({}) == 1
    assert await outbox.deliver(KEY) == "sent"
    assert await outbox.deliver(KEY) == "already_sent"
    assert [m["Message-ID"] for m in smtp.messages] == [MSG_ID]


async def test_concurrent_deliveries_send_once(mongo: Mongo, smtp: SmtpSink) -> None:
    outbox = _outbox(mongo, smtp)
    await outbox.record(KEY, ENVELOPE, MSG_ID, RAW)
    outcomes = await asyncio.gather(*(outbox.deliver(KEY) for _ in range(8)))
    assert outcomes.count("sent") == 1
    assert len(smtp.messages) == 1


async def test_smtp_down_for_a_while_then_sent_once_when_back(mongo: Mongo, smtp: SmtpSink) -> None:
    outbox = _outbox(mongo, smtp)
    await outbox.record(KEY, ENVELOPE, MSG_ID, RAW)
    await smtp.stop()

    assert await outbox.deliver(KEY) == "retry_later"
    assert await outbox.deliver(KEY) == "retry_later", "not due again before its backoff"
    doc = await mongo.db[EMAILS].find_one(KEY.query())
    assert doc is not None and doc["status"] == "pending" and doc["attempts"] == 1 and "smtp" in doc["last_error"]

    await smtp.start()

    async def due() -> bool:
        return await outbox.due(10) == [KEY]

    await eventually(due, what="the e-mail to be due again")
    assert await outbox.deliver(KEY) == "sent"
    assert await outbox.due(10) == []
    assert [m["Message-ID"] for m in smtp.messages] == [MSG_ID]


async def test_a_refused_message_is_not_retried(mongo: Mongo, smtp: SmtpSink) -> None:
    outbox = _outbox(mongo, smtp)
    await outbox.record(KEY, ENVELOPE, MSG_ID, RAW)
    smtp.reject_code = 550
    assert await outbox.deliver(KEY) == "rejected"
    smtp.reject_code = None
    assert await outbox.due(10) == []
    assert await outbox.deliver(KEY) == "rejected"
    assert smtp.messages == []


async def test_a_send_whose_sender_died_is_taken_over_with_the_same_message_id(mongo: Mongo, smtp: SmtpSink) -> None:
    outbox = _outbox(mongo, smtp)
    await outbox.record(KEY, ENVELOPE, MSG_ID, RAW)
    # A replica claimed the send and died before recording the outcome.
    await mongo.db[EMAILS].update_one(
        KEY.query(), {"$set": {"status": "sending", "lease_until": utcnow() + timedelta(seconds=30)}}
    )
    assert await outbox.deliver(KEY) == "busy"
    await mongo.db[EMAILS].update_one(KEY.query(), {"$set": {"lease_until": utcnow() - timedelta(seconds=1)}})
    assert await outbox.due(10) == [KEY]
    assert await outbox.deliver(KEY) == "sent"
    assert [m["Message-ID"] for m in smtp.messages] == [MSG_ID]


async def test_without_recipients_nothing_is_sent(mongo: Mongo, smtp: SmtpSink) -> None:
    outbox = _outbox(mongo, smtp)
    await outbox.record(KEY, Envelope("bot@zoomsymbl.test", ()), MSG_ID, None)
    assert await outbox.deliver(KEY) == "skipped"
    assert await outbox.due(10) == [] and smtp.messages == []


class HeldTransport(SmtpTransport):
    """An SMTP stand-in that holds every send until released (or the sender is cancelled: it "dies")."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.sent: list[bytes] = []

    async def send(self, sender: str, recipients: tuple[str, ...], raw: bytes) -> None:
        self.entered.set()
        await self.release.wait()
        self.sent.append(raw)


async def test_a_first_send_is_recorded_claimed_and_sent_once(mongo: Mongo, smtp: SmtpSink) -> None:
    outbox = _outbox(mongo, smtp)
    assert await outbox.send(KEY, ENVELOPE, MSG_ID, RAW) == "sent"
    assert await outbox.send(KEY, ENVELOPE, "<other@x>", b"other") == "already_sent"
    doc = await mongo.db[EMAILS].find_one(KEY.query())
    assert doc is not None and doc["status"] == "sent" and doc["attempts"] == 1 and "lease_until" not in doc
    assert await mongo.db[EMAIL_CLAIMS].count_documents({}) == 0, "the intent's own insert was the claim"
    assert [m["Message-ID"] for m in smtp.messages] == [MSG_ID]


async def test_a_first_send_in_flight_keeps_every_other_deliverer_off(mongo: Mongo) -> None:
    transport = HeldTransport()
    outbox = Outbox(mongo, transport, Backoff(base=0.1, ceiling=0.2, lease=60))
    sending = asyncio.create_task(outbox.send(KEY, ENVELOPE, MSG_ID, RAW))
    await transport.entered.wait()

    assert await outbox.due(10) == []
    assert await outbox.deliver(KEY) == "busy"
    assert await outbox.send(KEY, ENVELOPE, MSG_ID, RAW) == "busy"
    transport.release.set()
    assert await sending == "sent"
    assert transport.sent == [RAW]


async def test_a_first_send_whose_sender_died_is_taken_over_once_its_lease_is_over(mongo: Mongo) -> None:
    transport = HeldTransport()
    outbox = Outbox(mongo, transport, Backoff(base=0.1, ceiling=0.2, lease=60))
    sending = asyncio.create_task(outbox.send(KEY, ENVELOPE, MSG_ID, RAW))
    await transport.entered.wait()
    sending.cancel()  # the process dies mid-send: the e-mail stays claimed until its lease is over
    with contextlib.suppress(asyncio.CancelledError):
        await sending

    assert await outbox.deliver(KEY) == "busy"
    await mongo.db[EMAILS].update_one(KEY.query(), {"$set": {"lease_until": utcnow() - timedelta(seconds=1)}})
    assert await outbox.due(10) == [KEY]
    transport.release.set()
    assert await outbox.deliver(KEY) == "sent"
    doc = await mongo.db[EMAILS].find_one(KEY.query())
    assert doc is not None and doc["status"] == "sent" and doc["attempts"] == 2
    assert transport.sent == [RAW]


async def test_a_first_send_while_smtp_is_down_is_retried_as_any_other(mongo: Mongo, smtp: SmtpSink) -> None:
    outbox = _outbox(mongo, smtp)
    await smtp.stop()
    assert await outbox.send(KEY, ENVELOPE, MSG_ID, RAW) == "retry_later"
    doc = await mongo.db[EMAILS].find_one(KEY.query())
    assert doc is not None and doc["status"] == "pending" and doc["attempts"] == 1 and "lease_until" not in doc
    await smtp.start()

    async def due() -> bool:
        return await outbox.due(10) == [KEY]

    await eventually(due, what="the e-mail to be due again")
    assert await outbox.deliver(KEY) == "sent"
    assert [m["Message-ID"] for m in smtp.messages] == [MSG_ID]


async def test_a_first_send_without_recipients_is_recorded_skipped(mongo: Mongo, smtp: SmtpSink) -> None:
    outbox = _outbox(mongo, smtp)
    assert await outbox.send(KEY, Envelope("bot@zoomsymbl.test", ()), MSG_ID, None) == "skipped"
    doc = await mongo.db[EMAILS].find_one(KEY.query())
    assert doc is not None and doc["status"] == "skipped" and "lease_until" not in doc
    assert await outbox.due(10) == [] and smtp.messages == []
