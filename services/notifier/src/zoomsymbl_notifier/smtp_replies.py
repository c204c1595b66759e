"""What an SMTP server's replies mean to the outbox: retry (:class:`SmtpUnavailable`), stop (:class:`MailRejected`),
settle recipients one by one (:class:`RecipientsRefused`), or record a message that may have arrived
(:class:`DeliveryUnconfirmed`). :class:`~zoomsymbl_notifier.smtp.SmtpTransport` raises them; the outbox acts on
them (``outbox.py``, ``endings.py``). Every reply text kept in one is scrubbed here, once. Pure.
"""

from __future__ import annotations

import re
import smtplib
from dataclasses import dataclass

from zoomsymbl_common.errors import InfrastructureUnavailable, ZoomsymblError
from zoomsymbl_common.logs import REDACTED, scrub
from zoomsymbl_common.page_tokens import PAGE_PATH

REFUSED_HERE = 0
"""The code of a message or recipient refused before any server reply (no SMTP code is 0)."""
_DETAIL_MAX = 500  # of an SMTP server's reply kept in an error
# A page link quoted without its scheme (``pages.example.com/m/<token>``), which scrub() takes for words.
_PAGE_LINK = re.compile(re.escape(PAGE_PATH) + r"[^\s'\"<>]+")


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
        """Refused for good: here, before any reply (code 0: a Unicode local part and no SMTPUTF8), or a 5xx, except
        552 (RFC 5321 4.5.3.1.10: "too many recipients", try later) and refused authentication (an operator's fix)."""
        if self.code == REFUSED_HERE:
            return True
        return 500 <= self.code < 600 and self.code not in (530, 534, 535, 538, 552)


class RecipientsRefused(ZoomsymblError):
    """The server refused ``refusals`` at ``RCPT TO``; the message went to the ``accepted`` others (maybe none)."""

    def __init__(self, refusals: tuple[Refusal, ...], accepted: tuple[str, ...]) -> None:
        codes = sorted({r.code for r in refusals})
        super().__init__(f"smtp refused {len(refusals)!r} recipient(s) ({codes!r}), took {len(accepted)!r}")
        self.refusals = refusals
        self.accepted = accepted


def session_refused(exc: smtplib.SMTPResponseException) -> SmtpUnavailable:
    """A refusal before the message (greeting, STARTTLS, AUTH): about the session, so retried."""
    return SmtpUnavailable(f"session refused: {exc.smtp_code!r} {scrubbed(reply_text(exc.smtp_error))[:200]!r}")


def scrubbed(detail: str) -> str:
    """``detail`` (a server's reply) without a secret or a meeting page's token, cut to 500 characters."""
    # The server's reply may quote the message, and the e-mail links the meeting page by its token:
    # scrubbed here, once, so the stored last_error, the log line and the span's exception event all
    # get the safe text. redact() alone is not enough: after a restart the token is registered no more.
    return _PAGE_LINK.sub(PAGE_PATH + REDACTED, scrub(detail, _DETAIL_MAX))


def classified(code: int, detail: str) -> ZoomsymblError:
    """What a reply to the transaction means: :class:`MailRejected` (final) or :class:`SmtpUnavailable`."""
    detail = scrubbed(detail)
    # 5xx on the transaction (the message, its content) is final; 4xx and refused authentication may pass later.
    if 500 <= code < 600 and code not in (530, 534, 535, 538):
        return MailRejected(code, detail)
    return SmtpUnavailable(f"{code!r} {detail[:200]!r}")


def reply_text(value: bytes | str) -> str:
    """A reply's text as smtplib gives it (bytes or str), as text."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
