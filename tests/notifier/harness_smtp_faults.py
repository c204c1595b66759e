"""An aiosmtpd server that answers the way real relays sometimes do: per-recipient refusals (a 550, greylisting's
450, Postfix's "452 too many recipients"), a 554 greeting, a failing STARTTLS or AUTH, a size limit, a 4xx
to the message's final ".", a lost reply to the message, a QUIT answered 421.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any, Literal

from aiosmtpd.smtp import SMTP, Envelope, Session
from zoomsymbl_common.clock import Clock
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Document, Mongo
from zoomsymbl_common.records import EMAILS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_notifier.metrics import MailMetrics
from zoomsymbl_notifier.outbox import Backoff, MailKey, Outbox, Outcome
from zoomsymbl_notifier.smtp import SmtpTransport

from tests.notifier.harness import make_settings
from tests.notifier.harness_smtp import SmtpSink
from tests.support.eventually import eventually

AfterData = Literal["answer", "drop", "slow"]


class _FaultySmtp(SMTP):
    """aiosmtpd's protocol, with the greeting, STARTTLS, AUTH and MAIL answers the sink chooses."""

    sink: FaultySink

    async def _handle_client(self) -> None:
        if self.sink.greeting is None:
            await super()._handle_client()
            return
        await self.push(self.sink.greeting)
        assert self.transport is not None
        self.transport.close()

    async def smtp_STARTTLS(self, arg: str) -> None:  # noqa: N802
        if self.sink.starttls_reply is None:
            await super().smtp_STARTTLS(arg)
            return
        await self.push(self.sink.starttls_reply)

    async def smtp_AUTH(self, arg: str) -> None:  # noqa: N802
        if self.sink.auth_reply is None:
            await super().smtp_AUTH(arg)
            return
        await self.push(self.sink.auth_reply)

    async def smtp_MAIL(self, arg: str | None) -> None:  # noqa: N802
        self.sink.mail_commands += 1
        if self.sink.mail_reply is None:
            await super().smtp_MAIL(arg)
            return
        await self.push(self.sink.mail_reply)


class FaultySink(SmtpSink):
    """The test SMTP server (every accepted message kept), misbehaving as set."""

    def __init__(self) -> None:
        super().__init__()
        self.rcpt: dict[str, list[str]] = {}
        """Replies to ``RCPT TO`` per address, used up in order; a 250 when none is left."""
        self.max_recipients: int | None = None
        """Recipients taken per transaction; the next ones get ``too_many``."""
        self.too_many = "452 4.5.3 Error: too many recipients"
        self.greeting: str | None = None
        self.starttls_reply: str | None = None
        self.advertise_starttls = False
        self.auth_reply: str | None = None
        self.mail_reply: str | None = None
        self.quit_reply: str | None = None
        self.size_limit = 33554432
        self.after_data: AfterData = "answer"
        """``drop``: keep the message, close the connection without a reply; ``slow``: reply after ``reply_delay``."""
        self.reply_delay = 0.0
        self.data_reply: str | None = None
        """The reply to the message's final "." instead of a 250 (the message is not kept)."""
        self.mail_commands = 0

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        replies = self.rcpt.get(address)
        if replies:
            return replies.pop(0)
        if self.max_recipients is not None and len(envelope.rcpt_tos) >= self.max_recipients:
            return self.too_many
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.data_reply is not None:
            return self.data_reply
        reply = await super().handle_DATA(server, session, envelope)
        if self.after_data == "drop":
            assert server.transport is not None
            server.transport.close()
        elif self.after_data == "slow":
            await asyncio.sleep(self.reply_delay)  # a relay's content filter at work, not a wait of the test
        return reply

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        return self.quit_reply or "221 Bye"

    def _protocol(self) -> SMTP:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # AUTH without TLS, on loopback in a test
            protocol = _FaultySmtp(
                self,
                hostname="notifier-test-smtp",
                data_size_limit=self.size_limit,
                tls_context=self.starttls,
                auth_required=self.credentials is not None,
                auth_require_tls=False,
                authenticator=self._authenticate,
                enable_SMTPUTF8=self.smtputf8,
                decode_data=not self.eight_bit_mime,  # aiosmtpd offers 8BITMIME unless it decodes the data
                loop=asyncio.get_running_loop(),
            )
        protocol.sink = self
        return protocol

    async def handle_EHLO(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        if self.advertise_starttls:
            responses.insert(1, "250-STARTTLS")
        session.host_name = hostname
        return responses


def faulty_outbox(
    mongo: Mongo, sink: FaultySink, *, clock: Clock = utcnow, metrics: MailMetrics | None = None, **settings: Any
) -> Outbox:
    """An outbox sending through ``sink`` (notifier settings overridden by ``settings``), with short backoffs and
    the settings' e-mail lifetime, reading ``clock``."""
    notifier = make_settings(InfraSettings(), sink.port, **settings)
    backoff = Backoff(0.1, 0.2, lease=60, give_up=notifier.mail_give_up_after_seconds)
    return Outbox(mongo, SmtpTransport(notifier), backoff, clock=clock, metrics=metrics)


async def stored_email(mongo: Mongo, key: MailKey) -> Document:
    """The outbox's document of ``key``."""
    doc = await mongo.db[EMAILS].find_one(key.query())
    assert doc is not None
    return doc


async def deliver_when_due(outbox: Outbox, key: MailKey) -> Outcome:
    """Deliver ``key`` once its backoff has passed."""

    async def due() -> bool:
        return key in await outbox.due(10)

    await eventually(due, what="the e-mail to be due again")
    return await outbox.deliver(key)
