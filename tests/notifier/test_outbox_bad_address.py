"""An e-mail the transport cannot send, or that makes it fail unexpectedly, is settled: never left ``sending``.

Left ``sending``, such an e-mail was due again after every lease, first of its round (``due`` sorts by
``next_attempt_at``), and its error ended the sweeper's round: every other due e-mail waited, for ever.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Document, Mongo
from zoomsymbl_common.records import EMAILS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_notifier.mail import Envelope, compose
from zoomsymbl_notifier.outbox import Backoff, MailKey, Outbox, Outcome
from zoomsymbl_notifier.report import Report
from zoomsymbl_notifier.smtp import RecipientsRefused, Refusal, SmtpTransport, SmtpUnavailable

from tests.notifier.harness import make_settings
from tests.notifier.harness_smtp import SmtpSink
from tests.support.eventually import eventually

pytestmark = pytest.mark.integration

KEY = MailKey("acme", "m/idn==", 0, "report")
MSG_ID = "<idn@zoomsymbl.test>"
RAW = compose(Report("Meeting summary: Sync", "text\n", "<p>html</p>"), Envelope("bot@zoomsymbl.test", ()), MSG_ID)
# As an older release recorded it: valid_address let a Unicode domain through unchanged.
UNSENDABLE = Envelope("bot@zoomsymbl.test", ("joe@exämple.com", "archive@example.com"))
GOOD = Envelope("bot@zoomsymbl.test", ("host@example.com",))


async def _email(mongo: Mongo, key: MailKey = KEY) -> Document:
    doc = await mongo.db[EMAILS].find_one(key.query())
    assert doc is not None
    return doc


async def test_an_address_the_transport_cannot_encode_ends_rejected_with_a_reason(mongo: Mongo, smtp: SmtpSink) -> None:
    outbox = Outbox(mongo, SmtpTransport(make_settings(InfraSettings(), smtp.port)), Backoff(0.1, 0.2, lease=60))
    assert await outbox.record(KEY, UNSENDABLE, MSG_ID, RAW)

    assert await outbox.deliver(KEY) == "rejected"

    doc = await _email(mongo)
    assert doc["status"] == "rejected" and doc["attempts"] == 1 and "lease_until" not in doc
    assert "recipient address is not plain ASCII SMTP" in doc["last_error"]
    assert "exämple" not in doc["last_error"], "the reason names no address"
    assert await outbox.due(10) == [] and await outbox.deliver(KEY) == "rejected"
    assert smtp.messages == []


async def test_an_email_stuck_sending_by_an_older_release_is_settled_when_taken_over(
    mongo: Mongo, smtp: SmtpSink
) -> None:
    """The audit's case: the e-mail stayed ``sending``, its lease over, the oldest of the outbox."""
    outbox = Outbox(mongo, SmtpTransport(make_settings(InfraSettings(), smtp.port)), Backoff(0.1, 0.2, lease=60))
    await outbox.record(KEY, UNSENDABLE, MSG_ID, RAW)
    past = utcnow() - timedelta(hours=1)
    stuck = {"status": "sending", "attempts": 7, "lease_until": past, "next_attempt_at": past - timedelta(days=1)}
    await mongo.db[EMAILS].update_one(KEY.query(), {"$set": stuck})
    assert await outbox.due(10) == [KEY]

    assert await outbox.deliver(KEY) == "rejected"
    doc = await _email(mongo)
    assert (doc["status"], doc["attempts"]) == ("rejected", 8) and "lease_until" not in doc
    assert await outbox.due(10) == []


class FaultyTransport(SmtpTransport):
    """An SMTP stand-in that raises the next of its ``errors`` at each send (a bug, an outage), then sends."""

    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors
        self.sent: list[bytes] = []
        self.recipients: list[tuple[str, ...]] = []

    async def send(self, sender: str, recipients: tuple[str, ...], raw: bytes) -> None:
        self.recipients.append(recipients)
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(raw)


def _bug() -> Exception:
    return RuntimeError("bug at https://smtp.example.com/relay?token=s3cret-token-value")


async def _deliver_when_due(outbox: Outbox, key: MailKey = KEY) -> Outcome:
    async def due() -> bool:
        return key in await outbox.due(10)

    await eventually(due, what="the e-mail to be due again")
    return await outbox.deliver(key)


async def test_an_unexpected_error_is_a_failed_attempt_retried_with_backoff(mongo: Mongo) -> None:
    transport = FaultyTransport([_bug()])
    outbox = Outbox(mongo, transport, Backoff(base=0.5, ceiling=1.0, lease=60))

    before = utcnow()
    assert await outbox.send(KEY, GOOD, MSG_ID, RAW) == "retry_later"

    doc = await _email(mongo)
    assert doc["status"] == "pending" and doc["attempts"] == 1 and "lease_until" not in doc
    assert doc["next_attempt_at"] > before, "not due at once"
    assert doc["last_error"].startswith("RuntimeError: bug at https://smtp.example.com/")
    assert "s3cret-token-value" not in doc["last_error"], "scrubbed"
    assert doc["unexpected_errors"] == 1
    assert await outbox.due(10) == [] and await outbox.deliver(KEY) == "retry_later"

    assert await _deliver_when_due(outbox) == "sent"
    doc = await _email(mongo)
    assert doc["status"] == "sent" and doc["attempts"] == 2
    assert transport.sent == [RAW]


async def test_an_email_that_keeps_failing_unexpectedly_is_given_up_as_rejected(mongo: Mongo) -> None:
    """Ten unexpected errors and the e-mail is given up; outages between them do not count."""
    transport = FaultyTransport([_bug(), SmtpUnavailable("down"), *(_bug() for _ in range(20))])
    outbox = Outbox(mongo, transport, Backoff(base=0.01, ceiling=0.02, lease=60))

    outcomes = [await outbox.send(KEY, GOOD, MSG_ID, RAW)]
    while outcomes[-1] == "retry_later":
        outcomes.append(await _deliver_when_due(outbox))

    assert outcomes == ["retry_later"] * 10 + ["rejected"]
    doc = await _email(mongo)
    assert doc["status"] == "rejected" and doc["attempts"] == 11 and doc["unexpected_errors"] == 10
    assert doc["last_error"].startswith("gave up after 10 unexpected errors: RuntimeError: bug at")
    assert "lease_until" not in doc and await outbox.due(10) == []
    assert transport.sent == []


async def test_who_has_the_message_keeps_it_on_record_when_unexpected_errors_give_the_others_up(mongo: Mongo) -> None:
    """The host got it, the archive was greylisted, then every attempt failed unexpectedly: the tenth error gives
    the archive up as the lifetime does (``sent``, the archive in ``refused`` with code 0), where it recorded the
    whole e-mail ``rejected`` though the host had it."""
    host, archive = "host@example.com", "archive@example.com"
    greylisted = Refusal(archive, 450, "4.2.0 Greylisted, try again later")
    transport = FaultyTransport([RecipientsRefused((greylisted,), (host,)), *(_bug() for _ in range(10))])
    outbox = Outbox(mongo, transport, Backoff(base=0.01, ceiling=0.02, lease=60))

    outcomes = [await outbox.send(KEY, Envelope("bot@zoomsymbl.test", (host,), (archive,)), MSG_ID, RAW)]
    while outcomes[-1] == "retry_later":
        outcomes.append(await _deliver_when_due(outbox))

    assert outcomes == ["retry_later"] * 10 + ["sent"]
    doc = await _email(mongo)
    assert doc["status"] == "sent" and doc["delivered_to"] == [host] and doc["unexpected_errors"] == 10
    [refused] = doc["refused"]
    assert (refused["address"], refused["code"]) == (archive, 0)
    assert refused["reason"] == doc["last_error"]
    assert doc["last_error"].startswith("gave up after 10 unexpected errors: RuntimeError: bug at")
    assert "lease_until" not in doc and await outbox.due(10) == [] and await outbox.deliver(KEY) == "already_sent"
    assert transport.recipients == [(host, archive)] + [(archive,)] * 10, "the host was never sent to again"
