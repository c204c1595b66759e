"""A slow SMTP server never costs a second copy: the outbox records what the send thread really did."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import EMAILS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_notifier.outbox import Backoff, Outbox
from zoomsymbl_notifier.smtp import SmtpTransport, longest_send
from zoomsymbl_notifier.smtp_connection import Watchdog

from tests.notifier.harness import make_settings
from tests.notifier.harness_smtp import SmtpSink
from tests.notifier.test_outbox import ENVELOPE, KEY, MSG_ID, RAW
from tests.support.eventually import eventually

pytestmark = pytest.mark.integration

SLOW = "smtp server slow, waiting for the outcome"


class SlowSink(SmtpSink):
    """Holds its reply to DATA until the test lets it answer (within the client's socket timeout)."""

    def __init__(self) -> None:
        super().__init__()
        self.data_arrived = asyncio.Event()
        self.answer = asyncio.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.data_arrived.set()
        await self.answer.wait()
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
async def slow_smtp() -> AsyncIterator[SlowSink]:
    sink = SlowSink()
    await sink.start()
    yield sink
    sink.answer.set()
    await sink.stop()


def _outbox(mongo: Mongo, sink: SmtpSink) -> Outbox:
    # Slow after 50 ms, while each socket step may take 5 s: the reply to DATA comes in between.
    transport = SmtpTransport(make_settings(InfraSettings(), sink.port), patience=0.05)
    return Outbox(mongo, transport, Backoff(base=0.1, ceiling=0.2, lease=60))


async def test_a_reply_to_data_slower_than_the_patience_is_awaited_and_the_e_mail_sent_once(
    mongo: Mongo, slow_smtp: SlowSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="zoomsymbl.notifier.mail")
    outbox = _outbox(mongo, slow_smtp)
    sending = asyncio.create_task(outbox.send(KEY, ENVELOPE, MSG_ID, RAW))
    await slow_smtp.data_arrived.wait()

    async def past_the_patience() -> bool:
        doc = await mongo.db[EMAILS].find_one(KEY.query())
        given_up = doc is not None and doc["status"] != "sending"
        return given_up or any(r.getMessage() == SLOW for r in caplog.records)

    await eventually(past_the_patience, what="the send to outlast its patience")
    slow_smtp.answer.set()

    assert await sending == "sent"
    doc = await mongo.db[EMAILS].find_one(KEY.query())
    assert doc is not None and doc["status"] == "sent" and doc["attempts"] == 1
    assert await outbox.due(10) == [], "nothing left to retry"
    assert await outbox.deliver(KEY) == "already_sent"
    assert [m["Message-ID"] for m in slow_smtp.messages] == [MSG_ID]


async def test_a_send_cancelled_mid_data_stays_claimed_while_its_thread_delivers(
    mongo: Mongo, slow_smtp: SlowSink
) -> None:
    outbox = _outbox(mongo, slow_smtp)
    sending = asyncio.create_task(outbox.send(KEY, ENVELOPE, MSG_ID, RAW))
    await slow_smtp.data_arrived.wait()
    sending.cancel()  # shutdown: the worker thread cannot be stopped and goes on
    with pytest.raises(asyncio.CancelledError):
        await sending

    doc = await mongo.db[EMAILS].find_one(KEY.query())
    assert doc is not None and doc["status"] == "sending" and "lease_until" in doc
    slow_smtp.answer.set()

    async def delivered() -> int:
        return len(slow_smtp.messages)

    await eventually(delivered, what="the thread to complete DATA")
    assert await outbox.deliver(KEY) == "busy", "no second send under the lease"
    assert await outbox.due(10) == []
    assert [m["Message-ID"] for m in slow_smtp.messages] == [MSG_ID]


def test_the_watchdog_cuts_a_connection_that_outlives_the_bound() -> None:
    """A server trickling its replies cannot hold the send thread past :func:`longest_send`."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.settimeout(10)  # a safety net only: the cut comes first
        with Watchdog(0.01) as watchdog:
            watchdog.watch(ours)
            assert ours.recv(1) == b"", "the blocked read ends: the connection is cut"


@pytest.mark.parametrize(("lease", "step", "longest"), [(120.0, 20.0, 108.0), (900.0, 20.0, 240.0), (3.0, 20.0, 2.7)])
def test_a_send_ends_within_the_outbox_lease(lease: float, step: float, longest: float) -> None:
    """While a send's thread may still deliver, its lease keeps every other deliverer off the e-mail."""
    settings = make_settings(InfraSettings(), 25, mail_lease_seconds=lease, smtp_timeout_seconds=step)
    assert longest_send(settings) == pytest.approx(longest)
    assert longest_send(settings) < settings.mail_lease_seconds
