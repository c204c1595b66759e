"""Handing a composed message to an SMTP server (stdlib smtplib in a worker thread).

A send's outcome is always the worker thread's own (:meth:`SmtpTransport.send`); recipients are settled one by one
(:class:`RecipientsRefused`), and a message that went out without a reply to it may have arrived
(:class:`DeliveryUnconfirmed`): the outbox records each case (``outbox.py``). What each reply means is
:mod:`zoomsymbl_notifier.smtp_replies`'.

An address with a Unicode local part (``zoë@example.com``) goes out with SMTPUTF8 (RFC 6531) when the relay's EHLO
offers it; a relay without it never gets such an address, nor a UTF-8 header: those recipients are refused here,
each on its own (code 0), and the others get the message downgraded (:mod:`zoomsymbl_notifier.smtputf8`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import ssl

from opentelemetry.trace import SpanKind
from zoomsymbl_common.telemetry import tracer

from zoomsymbl_notifier.settings import Settings
from zoomsymbl_notifier.smtp_connection import Client, Resolve, TlsClient, Watchdog, system_resolve
from zoomsymbl_notifier.smtp_replies import REFUSED_HERE, classified, reply_text, scrubbed, session_refused
from zoomsymbl_notifier.smtp_replies import DeliveryUnconfirmed as DeliveryUnconfirmed
from zoomsymbl_notifier.smtp_replies import MailRejected as MailRejected
from zoomsymbl_notifier.smtp_replies import RecipientsRefused as RecipientsRefused
from zoomsymbl_notifier.smtp_replies import Refusal as Refusal
from zoomsymbl_notifier.smtp_replies import SmtpUnavailable as SmtpUnavailable
from zoomsymbl_notifier.smtputf8 import NO_SMTPUTF8, Handover, handover

log = logging.getLogger("zoomsymbl.notifier.mail")
_SEND_STEPS = 12  # socket steps of one send, at most (see longest_send)
_LEASE_SHARE = 0.9  # of the outbox's lease a send may take (the rest: ending the thread, recording the outcome)


class SmtpTransport:
    """Sends raw messages with the configured server, security and credentials."""

    def __init__(self, settings: Settings, *, patience: float | None = None, resolve: Resolve = system_resolve) -> None:
        self._settings = settings
        self._resolve = resolve  # the system resolver; a test's stand-in (one that hangs, say)
        # After this long a send is logged as slow, but still awaited: see :meth:`send`.
        self._patience = settings.smtp_timeout_seconds * 4 if patience is None else patience

    async def send(self, sender: str, recipients: tuple[str, ...], raw: bytes) -> None:
        """Deliver ``raw``; :class:`SmtpUnavailable` to retry (:class:`DeliveryUnconfirmed`: it may have arrived),
        :class:`MailRejected` to stop, :class:`RecipientsRefused` when the server refused some recipients, or a
        relay without SMTPUTF8 cannot take them (the others have the message).

        The outcome is always the worker thread's own: a thread cannot be stopped, so giving up on it
        while it may still complete DATA would have the outbox retry an e-mail that does arrive (two
        copies). It ends by itself within :func:`longest_send` (its watchdog cuts the connection then).
        Cancelled (shutdown), the thread runs on and the e-mail stays ``sending`` under its lease, which
        outlasts that bound.
        """
        attributes: dict[str, str | int] = {
            "server.address": self._settings.smtp_host,
            "server.port": self._settings.smtp_port,
        }
        with tracer().start_as_current_span("smtp send", kind=SpanKind.CLIENT, attributes=attributes):
            worker = asyncio.ensure_future(asyncio.to_thread(self._send_blocking, sender, recipients, raw))
            try:
                async with asyncio.timeout(self._patience):
                    await asyncio.shield(worker)
            except TimeoutError:
                log.warning("smtp server slow, waiting for the outcome", extra={"waited": self._patience})
                await asyncio.shield(worker)

    def _tls(self) -> ssl.SSLContext:
        # Certificates are always verified; a private CA is trusted through smtp_ca_file.
        return ssl.create_default_context(cafile=self._settings.smtp_ca_file or None)

    def _connect(self, watchdog: Watchdog) -> Client:
        s = self._settings
        if s.smtp_security == "tls":
            return TlsClient(
                s.smtp_host,
                s.smtp_port,
                timeout=s.smtp_timeout_seconds,
                context=self._tls(),
                watchdog=watchdog,
                resolve=self._resolve,
            )
        client = Client(
            s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds, watchdog=watchdog, resolve=self._resolve
        )
        if s.smtp_security == "starttls":
            try:  # never on without it: a server not offering STARTTLS raises SMTPNotSupportedError
                client.secure(self._tls())
            except BaseException:
                client.close()
                raise
        return client

    def _send_blocking(self, sender: str, recipients: tuple[str, ...], raw: bytes) -> None:
        unsendable = _unsendable(sender, recipients)
        if unsendable:
            raise MailRejected(REFUSED_HERE, unsendable)
        with Watchdog(longest_send(self._settings)) as watchdog:
            client = self._session(watchdog)
            try:
                plan = handover(
                    recipients, raw, smtputf8=client.has_extn("smtputf8"), eight_bit=client.has_extn("8bitmime")
                )
                if not plan.recipients:  # each one refused here: nothing to send
                    raise RecipientsRefused(_refused_here(plan), ())
                _fits(client, len(plan.raw))
                client.final_reply_seconds = longest_send(self._settings)
                _transaction(client, sender, plan)
            finally:
                # After the 250 to the message its QUIT may fail (a 421, a drop): the message is delivered all
                # the same, and an error here would have the outbox send it again.
                _quit(client)

    def _session(self, watchdog: Watchdog) -> Client:
        """Connected, greeted, secured and authenticated. A refusal here, 5xx or not (a 554 greeting of a relay
        that does not know our address, a 554 to STARTTLS), is about the session, not the message: nothing was
        said of the message yet, so it is retried (an operator or the relay's owner fixes it)."""
        s = self._settings
        try:
            client = self._connect(watchdog)
        except smtplib.SMTPResponseException as exc:
            raise session_refused(exc) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise SmtpUnavailable(type(exc).__name__) from None
        try:
            client.ehlo_or_helo_if_needed()
            if s.smtp_username:
                client.login(s.smtp_username, s.smtp_password.get_secret_value())
        except ValueError:  # credentials smtplib cannot encode: an operator can fix them, so retry
            _quit(client)
            raise SmtpUnavailable("credentials not sendable") from None
        except smtplib.SMTPResponseException as exc:
            _quit(client)
            raise session_refused(exc) from None
        except (smtplib.SMTPException, OSError) as exc:
            _quit(client)
            raise SmtpUnavailable(type(exc).__name__) from None
        return client


def _transaction(client: Client, sender: str, plan: Handover) -> None:
    """MAIL, RCPT for each recipient, DATA; the outcome as :meth:`SmtpTransport.send` gives it, with the
    recipients refused here among the refusals."""
    recipients = plan.recipients
    try:
        refused = client.sendmail(sender, list(recipients), plan.raw, mail_options=list(plan.options))
    except ValueError as exc:
        # smtplib writes commands in ASCII and refuses line breaks in them (UnicodeEncodeError is a
        # ValueError): an address, or a message, it cannot send now it never will. Its text quotes
        # the address, so only its class is kept.
        detail = f"not sent: an address or the message is not plain ASCII SMTP ({type(exc).__name__})"
        raise MailRejected(REFUSED_HERE, detail) from None
    except smtplib.SMTPSenderRefused as exc:
        if exc.smtp_code == 552:  # the SIZE we declared is over the server's limit (RFC 1870): it never fits
            raise MailRejected(552, scrubbed(reply_text(exc.smtp_error))) from None
        # Our own From is refused: a configuration matter that an operator can fix, so retry.
        raise SmtpUnavailable(f"sender refused: {exc.smtp_code!r}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        refused = exc.recipients
        if any(code == 421 for code, _ in refused.values()):  # the server closed the session: nothing was sent
            raise SmtpUnavailable("421 at RCPT TO") from None
    except smtplib.SMTPResponseException as exc:
        raise classified(exc.smtp_code, reply_text(exc.smtp_error)) from None
    except (smtplib.SMTPException, OSError) as exc:
        if client.body_sent:
            raise DeliveryUnconfirmed(f"no reply to the whole message ({type(exc).__name__})") from None
        raise SmtpUnavailable(type(exc).__name__) from None
    if refused or plan.refused:
        refusals = tuple(Refusal(a, code, scrubbed(reply_text(text))) for a, (code, text) in refused.items())
        raise RecipientsRefused((*_refused_here(plan), *refusals), tuple(r for r in recipients if r not in refused))


def _refused_here(plan: Handover) -> tuple[Refusal, ...]:
    return tuple(Refusal(address, REFUSED_HERE, NO_SMTPUTF8) for address in plan.refused)


def _fits(client: Client, size: int) -> None:
    """Refuse ``size`` bytes over the server's EHLO ``SIZE`` (RFC 1870) before MAIL: it would never be taken."""
    limit = client.esmtp_features.get("size", "")
    if limit.isdigit() and 0 < int(limit) < size:
        raise MailRejected(REFUSED_HERE, f"not sent: {size} bytes, over the server's SIZE limit of {int(limit)}")


def _quit(client: smtplib.SMTP) -> None:
    """QUIT and close, whatever the server answers or whether it is still there."""
    with contextlib.suppress(smtplib.SMTPException, OSError):
        client.quit()
    client.close()


def _unsendable(sender: str, recipients: tuple[str, ...]) -> str | None:
    """Why smtplib cannot send to these addresses as they are (None when it can).

    It writes commands in ASCII unless SMTPUTF8 is on, and it rewrites each address with ``parseaddr`` first:
    ``a@b.com x`` would go to ``a@b.comx``, ``a@b.com`` CR LF ``...`` to ``a@b.com``. Neither may happen to an
    address of the outbox (one recorded before :func:`valid_address` checked it): such an e-mail is refused.
    So is a Unicode domain (an older release recorded ``joe@exämple.com``; now always ``xn--``), and a sender
    that is not plain ASCII (a relay without SMTPUTF8 could take nothing from it). A recipient's Unicode local
    part is the relay's to take (:func:`handover`). The reason names no address: it is stored and logged.
    """
    if not (sender.isascii() and _sendable(sender)):
        return "not sent: the sender address is not plain ASCII SMTP"
    if not all(_sendable(r) for r in recipients):
        return "not sent: a recipient address is not plain ASCII SMTP (nor SMTPUTF8 at an ASCII domain)"
    return None


def _sendable(address: str) -> bool:
    return address.rpartition("@")[2].isascii() and smtplib.quoteaddr(address) == f"<{address}>"


def longest_send(settings: Settings) -> float:
    """How long one send's worker thread may run at most: its watchdog cuts the connection then.

    ``_SEND_STEPS`` socket steps of ``smtp_timeout_seconds`` each (name look-up and connect, greeting, EHLO, STARTTLS,
    EHLO again, AUTH in two round trips, MAIL, RCPT, DATA, the message, its final reply), and never
    as long as the outbox's lease (``mail_lease_seconds``): while the thread may still deliver, no
    other deliverer may take the e-mail over. 240 s, cut to 108 s by the default 120 s lease. The
    reply to the message's final "." may take whatever is left of it (see :class:`Client`).
    """
    return min(settings.smtp_timeout_seconds * _SEND_STEPS, settings.mail_lease_seconds * _LEASE_SHARE)
