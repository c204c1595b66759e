"""Two deliverers of one recorded e-mail must not both send it (found by the reliability crash rounds).

The notifier's handler and its sweeper may deliver the same outbox entry at the same moment; the claim
must let exactly one of them talk to the SMTP server. It used to be a conditional ``find_one_and_update``,
which FerretDB as released does not isolate under concurrency: a crash round saw one host receive the same
message twice, 50 ms apart. Claims are now unique inserts into ``email_claims``. (The tests' FerretDB now locks each
collection's writes, as MongoDB isolates each document's, so this test no longer tells the two claims apart.)
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import pytest
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import EMAIL_CLAIMS, EMAILS
from zoomsymbl_notifier.mail import Envelope
from zoomsymbl_notifier.outbox import Backoff, MailKey, Outbox
from zoomsymbl_notifier.smtp import SmtpTransport

pytestmark = pytest.mark.integration
MAILS = 20
DELIVERERS = 4


class CountingTransport(SmtpTransport):
    """An SMTP stand-in that counts what it was asked to send and takes a moment to send it."""

    def __init__(self) -> None:
        self.sent: Counter[bytes] = Counter()

    async def send(self, sender: str, recipients: tuple[str, ...], raw: bytes) -> None:
        await asyncio.sleep(0.05)
        self.sent[raw] += 1


async def test_concurrent_deliverers_send_each_e_mail_once(mongo: Mongo) -> None:
    transport = CountingTransport()
    outbox = Outbox(mongo, transport, Backoff(base=1, ceiling=5, lease=60))
    keys = [MailKey("acme", f"m{i}==", 0, "report") for i in range(MAILS)]
    for key in keys:
        raw = f"Message-ID: <{key.meeting_uuid}@test>\r\n\r\nbody".encode()
        assert await outbox.record(key, Envelope("zoomsymbl@localhost", ("host@example.test",)), "<x>", raw)
    await asyncio.gather(*(outbox.deliver(key) for key in keys for _ in range(DELIVERERS)))
    assert sum(transport.sent.values()) == MAILS, transport.sent.most_common(3)


async def test_a_claim_whose_holder_died_before_marking_the_e_mail_is_skipped(mongo: Mongo) -> None:
    """A deliverer that inserted its claim and died before recording it on the e-mail blocks nobody
    once the lease is over; a live claim of someone else makes the caller stand back."""
    transport = CountingTransport()
    outbox = Outbox(mongo, transport, Backoff(base=1, ceiling=5, lease=60))
    key = MailKey("acme", "orphan==", 0, "report")
    assert await outbox.record(key, Envelope("zoomsymbl@localhost", ("host@example.test",)), "<o>", b"body")

    await mongo.db[EMAIL_CLAIMS].insert_one({"_id": key.claim_id(1), "claimed_at": utcnow()})
    assert await outbox.deliver(key) == "retry_later"  # live claim: not ours to send
    assert sum(transport.sent.values()) == 0

    await mongo.db[EMAIL_CLAIMS].update_one(
        {"_id": key.claim_id(1)}, {"$set": {"claimed_at": datetime(2020, 1, 1, tzinfo=UTC)}}
    )
    assert await outbox.deliver(key) == "sent"
    assert sum(transport.sent.values()) == 1
    doc = await mongo.db[EMAILS].find_one(key.query())
    assert doc is not None and doc["status"] == "sent" and doc["attempts"] == 2
    assert await outbox.deliver(key) == "already_sent"
    assert sum(transport.sent.values()) == 1
