"""Addressing and composing a MIME message and handing it to an SMTP server (stdlib smtplib in a worker thread).

The Message-ID is derived from (tenant, meeting, generation, kind), so the rare repeat SMTP cannot
rule out (a crash between the server's 250 and our record of it, or a reply to the message's final
"." that never came: RFC 5321 6.1) carries the same Message-ID and mail clients fold the two copies
into one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import smtplib
import socket
import ssl
import threading
import unicodedata
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, EmailPolicy
from email.utils import format_datetime, parseaddr
from typing import TYPE_CHECKING, Literal

from opentelemetry.trace import SpanKind
from zoomsymbl_common.errors import InfrastructureUnavailable, ZoomsymblError
from zoomsymbl_common.events import stable_id, utcnow
from zoomsymbl_common.logs import REDACTED, scrub
from zoomsymbl_common.page_tokens import PAGE_PATH
from zoomsymbl_common.telemetry import tracer
from zoomsymbl_common.tenants import TenantConfig

from zoomsymbl_notifier.meetings import MeetingFacts
from zoomsymbl_notifier.report import Report
from zoomsymbl_notifier.settings import Settings

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

MailKind = Literal["report", "failure", "digest"]
log = logging.getLogger("zoomsymbl.notifier.mail")
_REPORTED_MAX = 1000
_DETAIL_MAX = 500  # of an SMTP server's reply kept in an error
_SEND_STEPS = 12  # socket steps of one send, at most (see longest_send)
_LEASE_SHARE = 0.9  # of the outbox's lease a send may take (the rest: ending the thread, recording the outcome)
# A page link quoted without its scheme (``pages.example.com/m/<token>``), which scrub() takes for words.
_PAGE_LINK = re.compile(re.escape(PAGE_PATH) + r"[^\s'\"<>]+")
_ADDRESS_HEADERS = frozenset({"to", "cc"})
_SMTP_LINE_MAX = 998  # octets of one line SMTP carries (RFC 5321 4.5.3.1.6)
_REFUSED_HERE = 0  # MailRejected.code of a message refused before any server reply (no SMTP code is 0)
_reported: set[str] = set()


class MailRejected(ZoomsymblError):
    """The SMTP server refused the message for good (every recipient or the content): do not retry."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"smtp rejected the message: {code!r} {detail!r}")
        self.code = code
        self.detail = detail


class SmtpUnavailable(InfrastructureUnavailable):
    """The SMTP server could not be reached or failed temporarily: retry later."""

    def __init__(self, detail: str) -> None:
        super().__init__("smtp", detail)


class DeliveryUnconfirmed(SmtpUnavailable):
    """The whole message went out but no reply to it came (a drop, a timeout): it may have been delivered."""


@dataclass(frozen=True)
class Refusal:
    """One recipient the server refused at ``RCPT TO``: its reply code and text (scrubbed)."""

    address: str
    code: int
    detail: str

    @property
    def final(self) -> bool:
        """Refused for good: a 5xx, except 552 (RFC 5321 4.5.3.1.10: "too many recipients", try later)
        and refused authentication (an operator's fix)."""
        return 500 <= self.code < 600 and self.code not in (530, 534, 535, 538, 552)


class RecipientsRefused(ZoomsymblError):
    """The server refused ``refusals`` at ``RCPT TO``; the message went to the ``accepted`` others (maybe none)."""

    def __init__(self, refusals: tuple[Refusal, ...], accepted: tuple[str, ...]) -> None:
        codes = sorted({r.code for r in refusals})
        super().__init__(f"smtp refused {len(refusals)!r} recipient(s) ({codes!r}), took {len(accepted)!r}")
        self.refusals = refusals
        self.accepted = accepted


def message_id(tenant: str, meeting_uuid: str, generation: int, kind: MailKind, domain: str) -> str:
    """The deterministic Message-ID of one e-mail of one meeting generation."""
    return f"<{stable_id('mail', tenant, meeting_uuid, str(generation), kind)}@{domain}>"


def mail_domain(mail_from: str) -> str:
    """The domain part of the sender address (the Message-ID's right-hand side)."""
    _, at, domain = parseaddr(mail_from)[1].rpartition("@")
    return domain if at and domain else "zoomsymbl.invalid"


def valid_address(value: str) -> str | None:
    """``value`` as one plain ASCII addr-spec, or None when it is not one (or tries to smuggle headers).

    Our SMTP client speaks no SMTPUTF8: a domain in Unicode (``joe@exämple.com``) is IDNA-encoded
    (``joe@xn--exmple-cua.com``), a local part in Unicode is refused, and so is a domain IDNA refuses or
    would turn into another one (``straße.de`` is not ``strasse.de``). Nothing is dropped in passing: an
    address holding a control, format or line-separator character (``a@b.com`` U+2028 ``x``, which the
    email package reads as ``a@b.comx``) is refused, not altered.

    Never raises: one typo among a tenant's extra recipients (``x@y.com@evil.com`` makes the email
    package raise ``HeaderParseError``) must cost that address only, not every e-mail of the tenant.
    """
    if not value or any(c in value for c in '\r\n\0,;<>"') or len(value) > 320:
        return None
    spec = value.strip(" ")
    try:
        address = Address(addr_spec=spec)
    except (ValueError, IndexError, HeaderParseError):
        _report_invalid(value)
        return None
    if not (address.domain and address.username):
        return None
    # The parser drops some characters (U+2028) and quotes odd local parts: only what it read as written passes.
    domain = None if _hidden(value) or address.addr_spec != spec else _ascii_domain(address.domain)
    plain = f"{spec.rpartition('@')[0]}@{domain}"
    if domain is None or not plain.isascii() or len(plain) > 320:
        _report_invalid(value)
        return None
    return plain


def _hidden(value: str) -> bool:
    """``value`` holds a character not seen, or dropped on the way: control, format, separator, unassigned."""
    return any(c != " " and unicodedata.category(c)[0] in "CZ" for c in value)


def _ascii_domain(domain: str) -> str | None:
    """``domain`` as SMTP can carry it (IDNA for a Unicode one); None when IDNA refuses or changes it.

    Python's IDNA codec maps before it encodes (``ß`` to ``ss``, full-width letters to ASCII): the result
    must decode back to ``domain`` itself, up to case, or it names another domain than the one written.
    """
    if domain.isascii():
        return domain
    try:
        encoded = domain.encode("idna")
        back = encoded.decode("idna")
    except UnicodeError:
        return None
    return encoded.decode("ascii") if back.lower() == unicodedata.normalize("NFC", domain).lower() else None


def _report_invalid(value: str) -> None:
    """Log an unparsable address once per process (it comes back with every e-mail of its tenant)."""
    if value in _reported or len(_reported) >= _REPORTED_MAX:
        return
    _reported.add(value)
    log.warning("invalid e-mail address left out", extra={"address": value[:320]})


@dataclass(frozen=True)
class Envelope:
    """Who the message comes from and goes to."""

    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()

    @property
    def envelope_sender(self) -> str:
        """The bare address for SMTP ``MAIL FROM`` (``sender`` may carry a display name)."""
        return parseaddr(self.sender)[1] or self.sender

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every address the SMTP server must deliver to."""
        return tuple(dict.fromkeys((*self.to, *self.cc)))


def host_allowed(address: str, domains: tuple[str, ...]) -> bool:
    """``address`` (as :func:`valid_address` gives it: an IDNA domain) is in one of the tenant's
    ``recipient_domains``, written in Unicode or IDNA (or the tenant allows any)."""
    if not domains:
        return True
    domain = address.rpartition("@")[2].casefold()
    allowed = {(_ascii_domain(d.strip().lstrip("@")) or "").casefold() for d in domains}
    return domain in allowed - {""}


def envelope_for(mail_from: str, facts: MeetingFacts, tenant: TenantConfig) -> Envelope:
    """The host in To, the tenant's extra recipients in Cc; invalid addresses are left out.

    The host address travels in Kafka events: with ``recipient_domains`` set, a host outside them (a
    forged event's attacker address) gets nothing, and only the tenant's own recipients are mailed.
    """
    host = valid_address(facts.host_email)
    if host and not host_allowed(host, tenant.recipient_domains):
        log.warning("host address outside the tenant's recipient domains, not mailed", extra={"tenant": tenant.id})
        host = None
    to = (host,) if host else ()
    extra = tuple(a for a in (valid_address(r) for r in tenant.extra_recipients) if a and a != host)
    return Envelope(sender=mail_from, to=to or extra[:1], cc=extra if to else extra[1:])


class _MailPolicy(EmailPolicy):
    """SMTP's policy, except that a To or Cc holding an address too long for a 78-character line folds at 998.

    Folding at 78, the email package (Python 3.11) writes an empty line after each address that does not fit a
    line: that empty line ends the header block, and Subject, Message-ID and the MIME headers became body text.
    """

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() in _ADDRESS_HEADERS and self.max_line_length:
            room = self.max_line_length - len(name) - 3  # "To: " before, "," after
            if any(len(address.strip()) > room for address in str(value).split(",")):
                return super(_MailPolicy, self.clone(max_line_length=_SMTP_LINE_MAX)).fold_binary(name, value)
        return super().fold_binary(name, value)


_POLICY = _MailPolicy() + SMTP


def _as_written(value: str) -> str:
    """``value`` for an unstructured header that reads as written: ``=?`` starts an RFC 2047 encoded word, which
    the email package decodes on the spot (a topic ``=?utf-8?b?DQpCY2M6IGV2aWxAeA==?=`` wrote a CR LF and a
    ``Bcc:`` header of its own) and mail readers decode on display (hidden characters). ``= ?`` stays text."""
    return value.replace("=?", "= ?")


def compose(report: Report, envelope: Envelope, msg_id: str) -> bytes:
    """The message as bytes ready for SMTP: multipart text + HTML (with its inline chart), transcript attached."""
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = envelope.sender
    msg["To"] = ", ".join(envelope.to)
    if envelope.cc:
        msg["Cc"] = ", ".join(envelope.cc)
    msg["Subject"] = _as_written(report.subject)
    msg["Message-ID"] = msg_id
    msg["Date"] = format_datetime(utcnow())
    # Tells auto-responders and vacation replies not to answer a machine.
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(report.text)
    msg.add_alternative(report.html, subtype="html")
    if report.chart is not None:
        # multipart/related around the HTML: the chart travels with the part that shows it (cid:).
        chart, cid = report.chart.png, f"<{report.chart.cid}>"
        for part in msg.iter_parts():
            if part.get_content_type() == "text/html":
                part.add_related(chart, "image", "png", cid=cid, disposition="inline", filename="talk-time.png")
    if report.transcript is not None:
        msg.add_attachment(report.transcript, subtype="plain", filename="transcript.txt")
    return msg.as_bytes()


class SmtpTransport:
    """Sends raw messages with the configured server, security and credentials."""

    def __init__(self, settings: Settings, *, patience: float | None = None) -> None:
        self._settings = settings
        # After this long a send is logged as slow, but still awaited: see :meth:`send`.
        self._patience = settings.smtp_timeout_seconds * 4 if patience is None else patience

    async def send(self, sender: str, recipients: tuple[str, ...], raw: bytes) -> None:
        """Deliver ``raw``; :class:`SmtpUnavailable` to retry (:class:`DeliveryUnconfirmed`: it may have arrived),
        :class:`MailRejected` to stop, :class:`RecipientsRefused` when the server refused some recipients (the
        others have the message).

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

    def _connect(self) -> _Client:
        s = self._settings
        if s.smtp_security == "tls":
            return _TlsClient(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds, context=self._tls())
        client = _Client(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds)
        if s.smtp_security == "starttls":
            try:  # never on without it: a server not offering STARTTLS raises SMTPNotSupportedError
                client.starttls(context=self._tls())
            except BaseException:
                client.close()
                raise
        return client

    def _send_blocking(self, sender: str, recipients: tuple[str, ...], raw: bytes) -> None:
        unsendable = _unsendable(sender, recipients)
        if unsendable:
            raise MailRejected(_REFUSED_HERE, unsendable)
        with _Watchdog(longest_send(self._settings)) as watchdog:
            client = self._session(watchdog)
            try:
                _fits(client, len(raw))
                client.final_reply_seconds = longest_send(self._settings)
                _transaction(client, sender, recipients, raw)
            finally:
                # After the 250 to the message its QUIT may fail (a 421, a drop): the message is delivered all
                # the same, and an error here would have the outbox send it again.
                _quit(client)

    def _session(self, watchdog: _Watchdog) -> _Client:
        """Connected, greeted, secured and authenticated. A refusal here, 5xx or not (a 554 greeting of a relay
        that does not know our address, a 554 to STARTTLS), is about the session, not the message: nothing was
        said of the message yet, so it is retried (an operator or the relay's owner fixes it)."""
        s = self._settings
        try:
            client = self._connect()
        except smtplib.SMTPResponseException as exc:
            raise _session_refused(exc) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise SmtpUnavailable(type(exc).__name__) from None
        watchdog.watch(client)
        try:
            client.ehlo_or_helo_if_needed()
            if s.smtp_username:
                client.login(s.smtp_username, s.smtp_password.get_secret_value())
        except ValueError:  # credentials smtplib cannot encode: an operator can fix them, so retry
            _quit(client)
            raise SmtpUnavailable("credentials not sendable") from None
        except smtplib.SMTPResponseException as exc:
            _quit(client)
            raise _session_refused(exc) from None
        except (smtplib.SMTPException, OSError) as exc:
            _quit(client)
            raise SmtpUnavailable(type(exc).__name__) from None
        return client


class _Client(smtplib.SMTP):
    """smtplib's client, knowing when the whole message went out, and waiting longer for its reply.

    RFC 5321 4.5.3.2.6 gives the reply to the final "." 10 minutes: the server may be filtering the message,
    and a client giving up sooner "would typically result in delivery of multiple copies". It gets what is
    left of the send's bound (:func:`longest_send`), not one step's ``smtp_timeout_seconds``.
    """

    body_sent = False
    final_reply_seconds: float | None = None

    def send(self, s: ReadableBuffer | str) -> None:
        super().send(s)
        if not isinstance(s, str):  # commands are str; the message (ending CR LF "." CR LF) is the only bytes
            self.body_sent = True
            if self.sock is not None and self.final_reply_seconds is not None:
                self.sock.settimeout(self.final_reply_seconds)


class _TlsClient(_Client, smtplib.SMTP_SSL):
    """:class:`_Client` over implicit TLS."""


def _transaction(client: _Client, sender: str, recipients: tuple[str, ...], raw: bytes) -> None:
    """MAIL, RCPT for each recipient, DATA; the outcome as :meth:`SmtpTransport.send` gives it."""
    try:
        refused = client.sendmail(sender, list(recipients), raw)
    except ValueError as exc:
        # smtplib writes commands in ASCII and refuses line breaks in them (UnicodeEncodeError is a
        # ValueError): an address, or a message, it cannot send now it never will. Its text quotes
        # the address, so only its class is kept.
        detail = f"not sent: an address or the message is not plain ASCII SMTP ({type(exc).__name__})"
        raise MailRejected(_REFUSED_HERE, detail) from None
    except smtplib.SMTPSenderRefused as exc:
        if exc.smtp_code == 552:  # the SIZE we declared is over the server's limit (RFC 1870): it never fits
            raise MailRejected(552, _scrubbed(_text(exc.smtp_error))) from None
        # Our own From is refused: a configuration matter that an operator can fix, so retry.
        raise SmtpUnavailable(f"sender refused: {exc.smtp_code!r}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        refused = exc.recipients
        if any(code == 421 for code, _ in refused.values()):  # the server closed the session: nothing was sent
            raise SmtpUnavailable("421 at RCPT TO") from None
    except smtplib.SMTPResponseException as exc:
        raise _classified(exc.smtp_code, _text(exc.smtp_error)) from None
    except (smtplib.SMTPException, OSError) as exc:
        if client.body_sent:
            raise DeliveryUnconfirmed(f"no reply to the whole message ({type(exc).__name__})") from None
        raise SmtpUnavailable(type(exc).__name__) from None
    if refused:
        refusals = tuple(Refusal(a, code, _scrubbed(_text(text))) for a, (code, text) in refused.items())
        raise RecipientsRefused(refusals, tuple(r for r in recipients if r not in refused))


def _fits(client: _Client, size: int) -> None:
    """Refuse ``size`` bytes over the server's EHLO ``SIZE`` (RFC 1870) before MAIL: it would never be taken."""
    limit = client.esmtp_features.get("size", "")
    if limit.isdigit() and 0 < int(limit) < size:
        raise MailRejected(_REFUSED_HERE, f"not sent: {size} bytes, over the server's SIZE limit of {int(limit)}")


def _quit(client: smtplib.SMTP) -> None:
    """QUIT and close, whatever the server answers or whether it is still there."""
    with contextlib.suppress(smtplib.SMTPException, OSError):
        client.quit()
    client.close()


def _session_refused(exc: smtplib.SMTPResponseException) -> SmtpUnavailable:
    return SmtpUnavailable(f"session refused: {exc.smtp_code!r} {_scrubbed(_text(exc.smtp_error))[:200]!r}")


def _unsendable(sender: str, recipients: tuple[str, ...]) -> str | None:
    """Why smtplib cannot send to these addresses as they are (None when it can).

    It writes commands in ASCII (no SMTPUTF8 here), and it rewrites each address with ``parseaddr`` first:
    ``a@b.com x`` would go to ``a@b.comx``, ``a@b.com`` CR LF ``...`` to ``a@b.com``. Neither may happen to an
    address of the outbox (one recorded before :func:`valid_address` checked it): such an e-mail is refused.
    The reason names no address: it is stored and logged.
    """
    if not _sendable(sender):
        return "not sent: the sender address is not plain ASCII SMTP"
    if not all(_sendable(r) for r in recipients):
        return "not sent: a recipient address is not plain ASCII SMTP"
    return None


def _sendable(address: str) -> bool:
    return address.isascii() and smtplib.quoteaddr(address) == f"<{address}>"


def longest_send(settings: Settings) -> float:
    """How long one send's worker thread may run at most: its watchdog cuts the connection then.

    ``_SEND_STEPS`` socket steps of ``smtp_timeout_seconds`` each (connect, greeting, EHLO, STARTTLS,
    EHLO again, AUTH in two round trips, MAIL, RCPT, DATA, the message, its final reply), and never
    as long as the outbox's lease (``mail_lease_seconds``): while the thread may still deliver, no
    other deliverer may take the e-mail over. 240 s, cut to 108 s by the default 120 s lease. The
    reply to the message's final "." may take whatever is left of it (see :class:`_Client`).
    """
    return min(settings.smtp_timeout_seconds * _SEND_STEPS, settings.mail_lease_seconds * _LEASE_SHARE)


class _Watchdog:
    """Cuts the connection of a send still running after ``seconds``.

    The per-step socket timeouts alone bound no send: a server may trickle a reply line by line.
    A connection cut after the message went out may still leave a delivered copy behind (the rare
    repeat the Message-ID folds), but only past a bound no working server comes near.
    """

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._client: smtplib.SMTP | None = None
        self._expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def watch(self, client: smtplib.SMTP) -> None:
        """Cut ``client``'s connection when the time is up (now, if it is already)."""
        with self._lock:
            self._client, expired = client, self._expired
        if expired:
            _cut(client)

    def _expire(self) -> None:
        with self._lock:
            self._expired, client = True, self._client
        if client is not None:
            _cut(client)


def _cut(client: smtplib.SMTP) -> None:
    # shutdown() (not close()) wakes a recv() blocked in the worker thread at once.
    sock = client.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _scrubbed(detail: str) -> str:
    # The server's reply may quote the message, and the e-mail links the meeting page by its token:
    # scrubbed here, once, so the stored last_error, the log line and the span's exception event all
    # get the safe text. redact() alone is not enough: after a restart the token is registered no more.
    return _PAGE_LINK.sub(PAGE_PATH + REDACTED, scrub(detail, _DETAIL_MAX))


def _classified(code: int, detail: str) -> ZoomsymblError:
    detail = _scrubbed(detail)
    # 5xx on the transaction (the message, its content) is final; 4xx and refused authentication may pass later.
    if 500 <= code < 600 and code not in (530, 534, 535, 538):
        return MailRejected(code, detail)
    return SmtpUnavailable(f"{code!r} {detail[:200]!r}")


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
