"""Addressing and composing a MIME message (handing it to an SMTP server: :mod:`zoomsymbl_notifier.smtp`).

The Message-ID is derived from (tenant, meeting, generation, kind), so the rare repeat SMTP cannot
rule out (a crash between the server's 250 and our record of it, or a reply to the message's final
"." that never came: RFC 5321 6.1) carries the same Message-ID and mail clients fold the two copies
into one.

An address may have a Unicode local part (``zoë@example.com``, RFC 6531/6532); its domain is always the ASCII
(``xn--``) form. Such an address is written in UTF-8 in To and Cc, the only header fields :func:`compose` ever
writes in UTF-8: what a relay with or without SMTPUTF8 then gets is :mod:`zoomsymbl_notifier.smtputf8`'s.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, EmailPolicy
from email.utils import format_datetime, parseaddr

from zoomsymbl_common.events import stable_id, utcnow
from zoomsymbl_common.tenants import TenantConfig

from zoomsymbl_notifier.meetings import MeetingFacts
from zoomsymbl_notifier.report import Report
from zoomsymbl_notifier.smtputf8 import ADDRESS_FIELDS

MailKind = str
"""``report``, ``failure``, ``digest``, or ``link-<YYYY-MM-DD>`` (:mod:`~zoomsymbl_notifier.link_mail`): a name without
``|`` (outbox claim ids join fields with it)."""
log = logging.getLogger("zoomsymbl.notifier.mail")
_REPORTED_MAX = 1000
_SMTP_LINE_MAX = 998  # octets of one line SMTP carries (RFC 5321 4.5.3.1.6)
_ADDRESS_MAX = 320  # octets of an address
# Default-ignorable characters (not shown) that are letters or marks, not controls: variation selectors, the
# combining grapheme joiner, Hangul fillers, Khmer inherent vowels, Mongolian variation selectors.
_IGNORABLE = re.compile("[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\ufe00-\ufe0f\uffa0\U000e0100-\U000e01ef]")
_reported: set[str] = set()


def message_id(tenant: str, meeting_uuid: str, generation: int, kind: MailKind, domain: str) -> str:
    """The deterministic Message-ID of one e-mail of one meeting generation."""
    return f"<{stable_id('mail', tenant, meeting_uuid, str(generation), kind)}@{domain}>"


def mail_domain(mail_from: str) -> str:
    """The domain part of the sender address (the Message-ID's right-hand side)."""
    _, at, domain = parseaddr(mail_from)[1].rpartition("@")
    return domain if at and domain else "zoomsymbl.invalid"


def valid_address(value: str) -> str | None:
    """``value`` as one addr-spec SMTP can carry, or None when it is not one (or tries to smuggle headers).

    A domain in Unicode (``joe@exämple.com``) is IDNA-encoded (``joe@xn--exmple-cua.com``): every relay takes it,
    SMTPUTF8 or not (RFC 6531 3.2 allows either form, and the tenant's ``recipient_domains`` compare it so); a
    domain IDNA refuses or would turn into another one (``straße.de`` is not ``strasse.de``) is refused. A local
    part in Unicode (``zoë``, RFC 6531) is kept in NFC, the form RFC 6532 3.1 asks for (``zoe`` + U+0308 becomes
    ``zoë``: the same letters, and one address however typed); it is sent where the relay offers SMTPUTF8. Nothing
    is dropped in passing: an address holding a control, format (bidi marks), line-separator or other unseen
    character (``a@b.com`` U+2028 ``x``, which the email package reads as ``a@b.comx``) is refused, not altered,
    and so is a Unicode local part with a look-alike of ASCII (full-width ``ｊｏｅ``, ``＠``) or a mark with no
    letter to go on.

    Never raises: one typo among a tenant's extra recipients (``x@y.com@evil.com`` makes the email
    package raise ``HeaderParseError``) must cost that address only, not every e-mail of the tenant.
    """
    if not value or any(c in value for c in '\r\n\0,;<>"') or len(value) > _ADDRESS_MAX:
        return None
    spec = value.strip(" ")
    written_local, at, written_domain = spec.rpartition("@")
    local = unicodedata.normalize("NFC", written_local)
    # The email package parses no Unicode local part: it checks the same address with ASCII in its place.
    stand_in = f"{_ascii_stand_in(local)}{at}{written_domain}"
    try:
        address = Address(addr_spec=stand_in)
    except (ValueError, IndexError, HeaderParseError):
        _report_invalid(value)
        return None
    if not (address.domain and address.username):
        return None
    # The parser drops some characters (U+2028) and quotes odd local parts: only what it read as written passes.
    written = address.addr_spec == stand_in and not _hidden(value) and _plain_local(local)
    domain = _ascii_domain(address.domain) if written else None
    plain = f"{local}@{domain}"
    if domain is None or len(plain.encode()) > _ADDRESS_MAX:
        _report_invalid(value)
        return None
    return plain


def _ascii_stand_in(local: str) -> str:
    return "".join(c if c.isascii() else "x" for c in local)


def _plain_local(local: str) -> bool:
    """``local`` (in NFC) reads as written: ASCII, or Unicode without a compatibility character (a full-width
    ``ｊ`` or ``＠``, a ligature: what NFKC would change, as IDNA does in a domain) and without a combining mark
    at its start or after a dot (nothing to combine with: it would sit on the character before)."""
    if local.isascii():
        return True
    if unicodedata.normalize("NFKC", local) != local:
        return False
    return not any(unicodedata.category(atom[:1]).startswith("M") for atom in local.split("."))


def _hidden(value: str) -> bool:
    """``value`` holds a character not seen, or dropped on the way: control, format, separator, unassigned, or
    another default-ignorable one (a variation selector)."""
    return any(c != " " and unicodedata.category(c)[0] in "CZ" for c in value) or bool(_IGNORABLE.search(value))


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
    """SMTP's policy, except in To and Cc: an address with a Unicode local part is written in UTF-8 (RFC 6532; the
    email package would write ``=?utf-8?q?zo=C3=AB?=@example.com``, an encoded word no reader takes for an
    address), and one too long for a 78-character line folds at 998.

    Folding at 78, the email package (Python 3.11) writes an empty line after each address that does not fit a
    line: that empty line ends the header block, and Subject, Message-ID and the MIME headers became body text.
    """

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() not in ADDRESS_FIELDS:
            return super().fold_binary(name, value)
        policy = self.clone(utf8=True) if not str(value).isascii() else self
        if self.max_line_length:
            room = self.max_line_length - len(name) - 3  # "To: " before, "," after
            if any(len(address.strip()) > room for address in str(value).split(",")):
                policy = policy.clone(max_line_length=_SMTP_LINE_MAX)
        return super(_MailPolicy, policy).fold_binary(name, value)


_POLICY = _MailPolicy() + SMTP


def _as_written(value: str) -> str:
    """``value`` for an unstructured header that reads as written: ``=?`` starts an RFC 2047 encoded word, which
    the email package decodes on the spot (a topic ``=?utf-8?b?DQpCY2M6IGV2aWxAeA==?=`` wrote a CR LF and a
    ``Bcc:`` header of its own) and mail readers decode on display (hidden characters). ``= ?`` stays text."""
    return value.replace("=?", "= ?")


def compose(report: Report, envelope: Envelope, msg_id: str) -> bytes:
    """The message as bytes ready for SMTP: multipart text + HTML (with its inline chart), transcript attached.

    An address with a Unicode local part is written in UTF-8 in To or Cc: for a relay without SMTPUTF8 the
    transport sends :func:`~zoomsymbl_notifier.smtputf8.downgraded` instead."""
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
