"""An e-mail taken as delivered after its second send without a reply, once some recipients were settled apart.

Before: the recipients of the unanswered sends were recorded in neither ``delivered_to`` nor ``refused``: the record
named who got the message from an earlier attempt and who was refused, and said nothing of the others (only the
e-mail's status did). Now every recipient is on record: those a server's reply confirmed in ``delivered_to``, those
of the unanswered sends in ``refused`` with code 0 and the reason (taken as delivered, each copy may have arrived).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from zoomsymbl_common.mongo import Document, Mongo
from zoomsymbl_notifier.mail import Envelope, compose
from zoomsymbl_notifier.outbox import MailKey
from zoomsymbl_notifier.report import Report

from tests.notifier.harness_smtp_faults import FaultySink, deliver_when_due, faulty_outbox, stored_email

pytestmark = pytest.mark.integration

KEY = MailKey("acme", "m/unanswered==", 0, "report")
HOST, ARCHIVE = "host@example.com", "archive@example.com"
ENVELOPE = Envelope("bot@zoomsymbl.test", (HOST,), (ARCHIVE,))
MSG_ID = "<unanswered@zoomsymbl.test>"
RAW = compose(Report("Meeting summary: Sync", "text\n", "<p>html</p>"), ENVELOPE, MSG_ID)
GREYLISTED = "450 4.2.0 <archive@example.com>: Recipient address rejected: Greylisted, try again later"


@pytest.fixture
async def sink() -> AsyncIterator[FaultySink]:
    server = FaultySink()
    await server.start()
    yield server
    await server.stop()


def _record(doc: Document) -> dict[str, tuple[int, str] | None]:
    """Each recipient as the record has it: None in ``delivered_to``, (code, reason) in ``refused``."""
    record: dict[str, tuple[int, str] | None] = dict.fromkeys(doc["delivered_to"])
    for refusal in doc["refused"]:
        assert refusal["address"] not in record, "one entry per recipient"
        record[refusal["address"]] = (refusal["code"], refusal["reason"])
    return record


async def test_recipients_of_the_unanswered_sends_after_a_partial_delivery_are_on_record(
    mongo: Mongo, sink: FaultySink
) -> None:
    """The host got it (250), the archive was greylisted and then sent to twice without a reply."""
    sink.rcpt[ARCHIVE] = [GREYLISTED]
    outbox = faulty_outbox(mongo, sink)
    assert await outbox.send(KEY, ENVELOPE, MSG_ID, RAW) == "retry_later"
    sink.after_data = "drop"

    assert await deliver_when_due(outbox, KEY) == "retry_later"
    assert await deliver_when_due(outbox, KEY) == "sent"

    doc = await stored_email(mongo, KEY)
    assert (doc["status"], doc["unconfirmed"]) == ("sent", 2)
    record = _record(doc)
    assert set(record) == {HOST, ARCHIVE}, "nobody left out"
    assert record[HOST] is None, "confirmed by the server's 250"
    code, reason = record[ARCHIVE] or (None, "")
    assert code == 0 and "taken as delivered" in reason and ARCHIVE not in reason
    assert [r for m in sink.recipients for r in m] == [HOST, ARCHIVE, ARCHIVE]


async def test_a_recipient_settled_after_an_unanswered_send_and_the_rest_unanswered_again_are_on_record(
    mongo: Mongo, sink: FaultySink
) -> None:
    """The other order: the whole message unanswered, then the host confirmed and the archive greylisted, then the
    archive unanswered: taken as delivered."""
    sink.after_data = "drop"
    outbox = faulty_outbox(mongo, sink)
    assert await outbox.send(KEY, ENVELOPE, MSG_ID, RAW) == "retry_later"
    sink.after_data = "answer"
    sink.rcpt[ARCHIVE] = [GREYLISTED]
    assert await deliver_when_due(outbox, KEY) == "retry_later"
    sink.after_data = "drop"

    assert await deliver_when_due(outbox, KEY) == "sent"

    doc = await stored_email(mongo, KEY)
    record = _record(doc)
    assert set(record) == {HOST, ARCHIVE}
    assert record[HOST] is None
    assert (record[ARCHIVE] or (None, ""))[0] == 0


async def test_with_nobody_settled_apart_the_status_speaks_for_every_recipient(mongo: Mongo, sink: FaultySink) -> None:
    """As for any e-mail sent whole: no per-recipient lists (unchanged)."""
    sink.after_data = "drop"
    outbox = faulty_outbox(mongo, sink)
    assert await outbox.send(KEY, ENVELOPE, MSG_ID, RAW) == "retry_later"

    assert await deliver_when_due(outbox, KEY) == "sent"

    doc = await stored_email(mongo, KEY)
    assert (doc["status"], doc["delivered_to"], doc["refused"]) == ("sent", [], [])
