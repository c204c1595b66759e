"""Two notifier replicas racing on one recorded e-mail still send it once (real MongoDB-wire server).

Each test forces one interleaving: a replica is paused at a chosen call (an event the test controls) while
the other one works, and the clock the outboxes are given is moved by the test instead of waited for.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import EMAILS
from zoomsymbl_notifier.mail import Envelope
from zoomsymbl_notifier.outbox import Backoff, MailKey, Outbox
from zoomsymbl_notifier.smtp import SmtpTransport, SmtpUnavailable

pytestmark = pytest.mark.integration

KEY = MailKey("acme", "race==", 0, "report")
ENVELOPE = Envelope("bot@zoomsymbl.test", ("host@example.com",))
RAW = b"Message-ID: <race@zoomsymbl.test>\r\n\r\nbody"
LEASE = 60.0
BACKOFF = Backoff(base=1, ceiling=5, lease=LEASE)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class Transport(SmtpTransport):
    """One replica's SMTP client: appends to the shared ``delivered`` list; may fail, or hold until ``go``."""

    def __init__(self, delivered: list[str], name: str, *, fail: bool = False, hold: bool = False) -> None:
        self.delivered = delivered
        self.name = name
        self.fail = fail
        self.hold = hold
        self.entered = asyncio.Event()
        self.go = asyncio.Event()

    async def send(self, sender: str, recipients: tuple[str, ...], raw: bytes) -> None:
        self.entered.set()
        if self.hold:
            await self.go.wait()
        if self.fail:
            raise SmtpUnavailable("connection refused")
        self.delivered.append(self.name)


class Paused:
    """A collection whose first call of ``method`` matching ``when`` stops after (or before) reaching MongoDB."""

    def __init__(self, col: Any, method: str, when: Any, *, before: bool = False) -> None:
        self._col, self._method, self._when, self._before = col, method, when, before
        self.reached = asyncio.Event()
        self.go = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._col, name)
        if name != self._method:
            return real

        async def paused(*args: Any, **kwargs: Any) -> Any:
            if self.reached.is_set() or not self._when(*args):
                return await real(*args, **kwargs)
            if self._before:
                self.reached.set()
                await self.go.wait()
                return await real(*args, **kwargs)
            result = await real(*args, **kwargs)
            self.reached.set()
            await self.go.wait()
            return result

        return paused


async def test_a_replica_that_read_the_e_mail_due_long_ago_does_not_send_it_again(
    mongo: Mongo, clock: FakeClock
) -> None:
    """B reads the e-mail due, stalls past a lease while A sends it, then resumes: its read is stale."""
    delivered: list[str] = []
    a = Outbox(mongo, Transport(delivered, "a"), BACKOFF, clock=clock)
    b = Outbox(mongo, Transport(delivered, "b"), BACKOFF, clock=clock)
    assert await a.record(KEY, ENVELOPE, "<race@zoomsymbl.test>", RAW)
    stall = Paused(b._col, "find_one", lambda query: "$or" in query)
    b._col = stall  # type: ignore[assignment]

    b_delivers = asyncio.create_task(b.deliver(KEY))
    await stall.reached.wait()  # B has read it due (pending, no attempt yet)
    assert await a.deliver(KEY) == "sent"
    clock.advance(LEASE + 1)  # B's stall outlasts A's claim
    stall.go.set()

    assert await b_delivers == "already_sent"
    assert delivered == ["a"]
    doc = await mongo.db[EMAILS].find_one(KEY.query())
    assert doc is not None and doc["status"] == "sent" and doc["attempts"] == 1


async def test_a_late_outcome_of_an_overtaken_attempt_does_not_free_the_e_mail_under_its_new_sender(
    mongo: Mongo, clock: FakeClock
) -> None:
    """A's attempt fails but is recorded only after its lease ran out and B took the e-mail over; A's late
    ``pending`` must not end B's lease, or C sends again while B's send goes through."""
    delivered: list[str] = []
    a = Outbox(mongo, Transport(delivered, "a", fail=True), BACKOFF, clock=clock)
    b_transport = Transport(delivered, "b", hold=True)
    b = Outbox(mongo, b_transport, BACKOFF, clock=clock)
    c = Outbox(mongo, Transport(delivered, "c"), BACKOFF, clock=clock)
    assert await a.record(KEY, ENVELOPE, "<race@zoomsymbl.test>", RAW)
    late = Paused(
        a._col, "update_one", lambda _q, update: update.get("$set", {}).get("status") == "pending", before=True
    )
    a._col = late  # type: ignore[assignment]

    a_delivers = asyncio.create_task(a.deliver(KEY))
    await late.reached.wait()  # A's send failed; its outcome is not recorded yet
    clock.advance(LEASE + 1)  # ... until after its lease
    b_delivers = asyncio.create_task(b.deliver(KEY))
    await b_transport.entered.wait()  # B took the e-mail over (attempt 2) and is talking to SMTP
    late.go.set()
    assert await a_delivers == "retry_later"
    clock.advance(BACKOFF.ceiling + 1)  # past any retry time A may have written

    c_outcome = await c.deliver(KEY)
    b_transport.go.set()
    assert await b_delivers == "sent"
    assert c_outcome == "busy", "B holds the e-mail until its own outcome is recorded"
    assert delivered == ["b"]
