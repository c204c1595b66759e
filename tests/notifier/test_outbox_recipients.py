"""A server refusing some recipients at RCPT TO: the others get the message once, each refusal is recorded, and the
ones refused for now (greylisting, "too many recipients") get it later, alone: nobody twice, nobody silently left out.

smtplib delivers to the accepted recipients and only returns the refused ones, which the transport dropped: the
e-mail was recorded ``sent``, a recipient refused with a 550 or greylisted with a 450 never heard of it, and with
every recipient refused the highest code decided for all (a 550 gave up a greylisted one too).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import EMAILS
from zoomsymbl_notifier.mail import Envelope, compose
from zoomsymbl_notifier.outbox import MailKey
from zoomsymbl_notifier.report import Report

from tests.notifier.harness_smtp_faults import FaultySink, deliver_when_due, faulty_outbox, stored_email

pytestmark = pytest.mark.integration

KEY = MailKey("acme", "m/rcpt==", 0, "report")
HOST, GONE, ARCHIVE = "host@example.com", "gone@example.com", "archive@example.com"
ENVELOPE = Envelope("bot@zoomsymbl.test", (HOST,), (GONE, ARCHIVE))
MSG_ID = "<rcpt@zoomsymbl.test>"
RAW = compose(Report("Meeting summary: Sync", "text\n", "<p>html</p>"), ENVELOPE, MSG_ID)
MAILBOX_UNAVAILABLE = "550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown"
GREYLISTED = "450 4.2.0 <archive@example.com>: Recipient address rejected: Greylisted, try again later"


@pytest.fixture
async def sink() -> AsyncIterator[FaultySink]:
    server = FaultySink()
    await server.start()
    yield server
    await server.stop()


def _copies(sink: FaultySink) -> dict[str, int]:
    """How many copies of the e-mail each recipient got."""
    copies: dict[str, int] = {}
    for message, recipients in zip(sink.messages, sink.recipients, strict=True):
        assert message["Message-ID"] == MSG_ID
        for recipient in recipients:
            copies[recipient] = copies.get(recipient, 0) + 1
    return copies


async def test_a_recipient_refused_for_good_is_recorded_and_the_others_get_the_message_once(
    mongo: Mongo, sink: FaultySink
) -> None:
    sink.rcpt[GONE] = [MAILBOX_UNAVAILABLE]
    outbox = faulty_outbox(mongo, sink)

    assert await outbox.send(KEY, ENVELOPE, MSG_ID, RAW) == "sent"

    doc = await stored_email(mongo, KEY)
    assert doc["status"] == "sent" and doc["delivered_to"] == [HOST, ARCHIVE]
    [refused] = doc["refused"]
    assert (refused["address"], refused["code"]) == (GONE, 550) and "User unknown" in refused["reason"]
    assert "550" in doc["last_error"], "zoomsymbl status shows it"
    assert await outbox.deliver(KEY) == "already_sent" and await outbox.due(10) == []
    assert _copies(sink) == {HOST: 1, ARCHIVE: 1}


async def test_a_greylisted_recipient_gets_the_message_later_and_nobody_gets_it_twice(
    mongo: Mongo, sink: FaultySink
) -> None:
    sink.rcpt[ARCHIVE] = [GREYLISTED]
    outbox = faulty_outbox(mongo, sink)

    assert await outbox.send(KEY, ENVELOPE, MSG_ID, RAW) == "retry_later"
    doc = await stored_email(mongo, KEY)
    assert doc["status"] == "pending" and doc["delivered_to"] == [HOST, GONE] and doc["refused"] == []
    assert "Greylisted" in doc["last_error"]
    assert _copies(sink) == {HOST: 1, GONE: 1}

    assert await deliver_when_due(outbox, KEY) == "sent"
    assert sink.recipients[-1] == [ARCHIVE], "sent to the greylisted recipient alone"
    assert _copies(sink) == {HOST: 1, GONE: 1, ARCHIVE: 1}
    assert await outbox.deliver(KEY) == "already_sent"


@pytest.mark.parametrize(
    "refusals",
    [
        {GONE: [MAILBOX_UNAVAILABLE, MAILBOX_UNAVAILABLE], HOST: [MAILBOX_UNAVAILABLE], ARCHIVE: [GREYLISTED]},
        {GONE: [MAILBOX_UNAVAILABLE, MAILBOX_UNAVAILABLE], ARCHIVE: ["421 4.3.2 Service shutting down"]},
    ],
    ids=["550s-and-a-450", "550-then-421"],
)
async def test_every_recipient_refused_gives_up_only_those_refused_for_good(
    mongo: Mongo, sink: FaultySink, refusals: dict[str, list[str]]
) -> None:
    """A 550 for one and a 450 (or the server's 421 closing the session) for another: not given up as a whole."""
    sink.rcpt.update({address: list(replies) for address, replies in refusals.items()})
    outbox = faulty_outbox(mongo, sink)

    assert await outbox.send(KEY, ENVELOPE, MSG_ID, RAW) == "retry_later"
    assert sink.messages == []

    assert await deliver_when_due(outbox, KEY) == "sent"
    doc = await stored_email(mongo, KEY)
    assert doc["status"] == "sent" and ARCHIVE in doc["delivered_to"]
    assert GONE in [r["address"] for r in doc["refused"]] and GONE not in doc["delivered_to"]
    assert _copies(sink)[ARCHIVE] == 1 and GONE not in _copies(sink)
    assert await outbox.due(10) == []


@pytest.mark.parametrize("too_many", ["452 4.5.3 Error: too many recipients", "552 5.5.3 Error: too many recipients"])
async def test_a_server_taking_one_recipient_per_transaction_gets_each_in_turn(
    mongo: Mongo, sink: FaultySink, too_many: str
) -> None:
    """RFC 5321 4.5.3.1.10: the rest go in a later transaction; a 552 here is RFC 821's code for the same, temporary."""
    sink.max_recipients, sink.too_many = 1, too_many
    outbox = faulty_outbox(mongo, sink)

    outcomes = [await outbox.send(KEY, ENVELOPE, MSG_ID, RAW)]
    while outcomes[-1] == "retry_later":
        outcomes.append(await deliver_when_due(outbox, KEY))

    assert outcomes == ["retry_later", "retry_later", "sent"]
    assert sink.recipients == [[HOST], [GONE], [ARCHIVE]]
    doc = await stored_email(mongo, KEY)
    assert doc["status"] == "sent" and doc["refused"] == []


async def test_a_recipient_still_refused_for_now_after_five_days_is_given_up_and_recorded(
    mongo: Mongo, sink: FaultySink
) -> None:
    """RFC 5321 4.5.4.1: retries of one recipient end after "at least 4-5 days"; the others have the message."""
    outbox = faulty_outbox(mongo, sink)
    assert await outbox.record(KEY, ENVELOPE, MSG_ID, RAW)
    created = (await stored_email(mongo, KEY))["created_at"]
    await mongo.db[EMAILS].update_one(KEY.query(), {"$set": {"created_at": created - timedelta(days=5, minutes=1)}})
    sink.rcpt[ARCHIVE] = [GREYLISTED]

    assert await outbox.deliver(KEY) == "sent"

    doc = await stored_email(mongo, KEY)
    assert doc["status"] == "sent" and doc["delivered_to"] == [HOST, GONE]
    [refused] = doc["refused"]
    assert (refused["address"], refused["code"]) == (ARCHIVE, 450)
    assert refused["reason"].startswith("gave up after 5 days: ") and "Greylisted" in refused["reason"]
    assert await outbox.due(10) == []
