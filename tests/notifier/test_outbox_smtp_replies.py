"""What the outbox makes of an SMTP server's answers outside the recipients: the session (greeting, STARTTLS,
AUTH), the message's size, the reply to the message's final "." and the QUIT after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_notifier.mail import Envelope, compose
from zoomsymbl_notifier.outbox import MailKey
from zoomsymbl_notifier.report import Report

from tests.notifier.harness_smtp_faults import FaultySink, deliver_when_due, faulty_outbox, stored_email

pytestmark = pytest.mark.integration

KEY = MailKey("acme", "m/replies==", 0, "report")
ENVELOPE = Envelope("bot@zoomsymbl.test", ("host@example.com",), ("archive@example.com",))
MSG_ID = "<replies@zoomsymbl.test>"
RAW = compose(Report("Meeting summary: Sync", "text\n", "<p>html</p>"), ENVELOPE, MSG_ID)
PASSWORD = "s3cret-smtp-password"


@pytest.fixture
async def sink() -> AsyncIterator[FaultySink]:
    server = FaultySink()
    yield server
    await server.stop()


SESSION_REFUSALS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "greeting-554": ({"greeting": "554 5.7.1 mx.example.com: no SMTP service for you"}, {}),
    "starttls-554": (
        {"advertise_starttls": True, "starttls_reply": "554 5.7.3 Unable to initialize security subsystem"},
        {"smtp_security": "starttls"},
    ),
    "auth-504": (
        {"credentials": ("mailer", PASSWORD), "auth_reply": "504 5.7.4 Unrecognized authentication type"},
        {"smtp_username": "mailer", "smtp_password": SecretStr(PASSWORD)},
    ),
}


@pytest.mark.parametrize("case", list(SESSION_REFUSALS))
async def test_a_5xx_before_mail_from_is_retried_not_given_up(mongo: Mongo, sink: FaultySink, case: str) -> None:
    """Nothing was said of the message yet: a relay refusing our address, a broken STARTTLS, AUTH switched off are
    for someone to fix, and the e-mail waits for it (it was given up as if the message itself had been refused)."""
    server, settings = SESSION_REFUSALS[case]
    for name, value in server.items():
        setattr(sink, name, value)
    await sink.start()
    outbox = faulty_outbox(mongo, sink, **settings)

    assert await outbox.send(KEY, ENVELOPE, MSG_ID, RAW) == "retry_later"
    doc = await stored_email(mongo, KEY)
    assert doc["status"] == "pending" and "session refused: 5" in doc["last_error"]
    assert PASSWORD not in doc["last_error"]
    assert await deliver_when_due(outbox, KEY) == "retry_later", "due again, until the session is fixed"
    assert sink.mail_commands == 0, "no MAIL FROM: nothing sent (and never in plaintext after a failed STARTTLS)"


@pytest.mark.parametrize("how", ["advertised", "refused-at-mail"])
async def test_a_message_over_the_servers_size_limit_is_given_up_with_its_reason(
    mongo: Mongo, sink: FaultySink, how: str
) -> None:
    """RFC 1870: a 552 to MAIL FROM's SIZE is for good (it was retried as a refused sender, for ever)."""
    if how == "advertised":
        sink.size_limit = len(RAW) // 2
    else:
        sink.mail_reply = "552 5.3.4 Message size exceeds fixed maximum message size"
    await sink.start()
    outbox = faulty_outbox(mongo, sink)

    assert await outbox.send(KEY, ENVELOPE, MSG_ID, RAW) == "rejected"

    doc = await stored_email(mongo, KEY)
    assert doc["status"] == "rejected" and await outbox.due(10) == []
    if how == "advertised":
        assert f"over the server's SIZE limit of {len(RAW) // 2}" in doc["last_error"]
        assert sink.mail_commands == 0, "refused before MAIL FROM: nothing of the message sent"
    else:
        assert "552" in doc["last_error"] and "maximum message size" in doc["last_error"]
    assert sink.messages == []


async def test_a_quit_answered_421_after_the_message_was_taken_is_no_failure(mongo: Mongo, sink: FaultySink) -> None:
    """A relay shutting down answers QUIT 421 (RFC 5321 3.8): the message has its 250, a retry was a second copy."""
    sink.quit_reply = "421 4.3.2 Service shutting down, closing transmission channel"
    await sink.start()
    outbox = faulty_outbox(mongo, sink)

    assert await outbox.send(KEY, ENVELOPE, MSG_ID, RAW) == "sent"

    assert (await stored_email(mongo, KEY))["status"] == "sent"
    assert await outbox.due(10) == [] and await outbox.deliver(KEY) == "already_sent"
    assert [m["Message-ID"] for m in sink.messages] == [MSG_ID]


async def test_a_reply_to_the_message_slower_than_one_step_is_awaited(mongo: Mongo, sink: FaultySink) -> None:
    """RFC 5321 4.5.3.2.6 gives the reply to the final "." 10 minutes (a relay's filters at work): giving up after
    one step's timeout resent a message the server had taken, on every attempt."""
    sink.after_data, sink.reply_delay = "slow", 1.5
    await sink.start()
    outbox = faulty_outbox(mongo, sink, smtp_timeout_seconds=0.5)

    assert await outbox.send(KEY, ENVELOPE, MSG_ID, RAW) == "sent"

    assert await outbox.due(10) == [] and await outbox.deliver(KEY) == "already_sent"
    assert [m["Message-ID"] for m in sink.messages] == [MSG_ID]


async def test_no_reply_to_the_message_sends_it_once_more_at_most_and_says_so(mongo: Mongo, sink: FaultySink) -> None:
    """The connection drops after the final "." (RFC 5321 6.1: the message may have arrived): sent once more, not
    for ever, each such attempt recorded; at most one duplicate, under one Message-ID."""
    sink.after_data = "drop"
    await sink.start()
    outbox = faulty_outbox(mongo, sink)

    assert await outbox.send(KEY, ENVELOPE, MSG_ID, RAW) == "retry_later"
    doc = await stored_email(mongo, KEY)
    assert doc["status"] == "pending" and doc["unconfirmed"] == 1 and "may have arrived" in doc["last_error"]

    assert await deliver_when_due(outbox, KEY) == "sent"
    doc = await stored_email(mongo, KEY)
    assert doc["status"] == "sent" and doc["unconfirmed"] == 2 and "taken as delivered" in doc["last_error"]
    assert await outbox.due(10) == [] and await outbox.deliver(KEY) == "already_sent"
    assert [m["Message-ID"] for m in sink.messages] == [MSG_ID, MSG_ID]


async def test_a_reply_after_an_unconfirmed_attempt_settles_the_e_mail(mongo: Mongo, sink: FaultySink) -> None:
    sink.after_data = "drop"
    await sink.start()
    outbox = faulty_outbox(mongo, sink)
    assert await outbox.send(KEY, ENVELOPE, MSG_ID, RAW) == "retry_later"
    sink.after_data = "answer"

    assert await deliver_when_due(outbox, KEY) == "sent"
    doc = await stored_email(mongo, KEY)
    assert doc["status"] == "sent" and doc["unconfirmed"] == 1
    assert await outbox.due(10) == []
    assert len(sink.messages) == 2
