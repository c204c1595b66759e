"""What one send attempt of the outbox makes of its e-mail (:class:`Endings`): sent, recipients refused, retried later
(:class:`Backoff`: the delays, and the e-mail's lifetime), or given up. The rules are pure functions (:func:`give_up`,
:func:`sorted_refusals`, the reasons); :class:`Endings` (the outbox's base) records and counts what they decide.

A give-up ends an e-mail as an MTA bounces one past its queue lifetime: ``rejected``, or ``sent`` when some recipients
have it already (``delivered_to``), the others recorded in ``refused`` (code 0, the reason). Whatever gives it up (its
lifetime, or :data:`MAX_UNEXPECTED_ERRORS` unexpected errors of the transport), who has the message stays on record.
So does every recipient of an e-mail taken as delivered after its second send without a reply, once some were
settled apart (:func:`unanswered`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from pymongo.asynchronous.collection import AsyncCollection
from zoomsymbl_common.clock import Clock
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.mongo import Document, guarded
from zoomsymbl_common.records import Email, EmailStatus
from zoomsymbl_common.records.mail import RecipientRefusal

from zoomsymbl_notifier.metrics import Counted, MailMetrics
from zoomsymbl_notifier.settings import GIVE_UP_AFTER_SECONDS
from zoomsymbl_notifier.smtp import DeliveryUnconfirmed, MailRejected, RecipientsRefused, Refusal, SmtpUnavailable

if TYPE_CHECKING:
    from zoomsymbl_notifier.outbox import MailKey, Outcome

log = logging.getLogger("zoomsymbl.notifier.outbox")

# Unexpected errors of the transport (not an outage, not a refusal) an e-mail meets before it is given up,
# counted in its document under _UNEXPECTED (a field the Email model ignores when read).
MAX_UNEXPECTED_ERRORS = 10
_UNEXPECTED = "unexpected_errors"
# Sends of an e-mail whose whole message went out without a reply to it, before it is taken as delivered.
_MAX_UNCONFIRMED = 2
REASON_MAX = 1000  # of a stored last_error
# RecipientRefusal.code of a recipient given up, or taken as delivered, without a reply of its own (no SMTP code is 0)
NO_REPLY = 0
# An address in a server's reply: a given-up reason names none (it is logged, and shown by zoomsymbl status).
_ADDRESS = re.compile(r"[^\s<>()\[\]'\",;:]+@[^\s<>()\[\]'\",;:]+")
Ending = Literal["sent", "rejected"]


@dataclass(frozen=True)
class Backoff:
    """Delays between attempts of one e-mail: doubling from ``base`` up to ``ceiling`` seconds; what still fails
    for now ``give_up`` seconds after the e-mail was recorded is given up."""

    base: float
    ceiling: float
    lease: float
    give_up: float = GIVE_UP_AFTER_SECONDS

    def after(self, attempts: int) -> timedelta:
        """The wait after ``attempts`` failed attempts."""
        return timedelta(seconds=min(self.ceiling, self.base * 2 ** max(0, attempts - 1)))

    def expired(self, created_at: datetime, now: datetime) -> bool:
        """An e-mail recorded at ``created_at`` is past its lifetime: a failure for now ends it."""
        return now - created_at > timedelta(seconds=self.give_up)


@dataclass(frozen=True)
class GiveUp:
    """An e-mail given up: its last status, and the recipients it settles (``$push``), if any."""

    status: Ending
    push: Document | None


class Endings:
    """Records what one send attempt made of its e-mail: sent, recipients refused, retried later, given up. Each
    attempt is counted once in :class:`MailMetrics`, before it is recorded (a MongoDB outage loses no count).

    The base of :class:`~zoomsymbl_notifier.outbox.Outbox`, which claims and sends: one ``emails`` collection,
    one clock and one backoff for both halves."""

    def __init__(
        self, emails: AsyncCollection[Document], backoff: Backoff, clock: Clock, metrics: MailMetrics | None
    ) -> None:
        self._col = emails
        self._backoff = backoff
        self._now = clock
        self._metrics = metrics

    async def _sent(self, key: MailKey, email: Email, to: Sequence[str], *, settled_apart: bool) -> Outcome:
        """The server took the message for ``to``."""
        self._count("sent")
        # Once some recipients were settled apart, the record names them all: who got it, who was refused.
        push = {"delivered_to": {"$each": list(to)}} if settled_apart else None
        await self._finish(key, email.attempts, "sent", push, sent_at=self._now())
        log.info("e-mail sent", extra={**log_fields(key), "message_id": email.message_id})
        return "sent"

    async def _rejected(self, key: MailKey, email: Email, exc: MailRejected) -> Outcome:
        """The server (or the transport, before any reply) refused the message for good."""
        self._count("rejected")
        await self._finish(key, email.attempts, "rejected", last_error=str(exc))
        log.error("e-mail rejected by the smtp server", extra={**log_fields(key), "error": str(exc)})
        return "rejected"

    async def _unavailable(self, key: MailKey, email: Email, to: Sequence[str], exc: SmtpUnavailable) -> Outcome:
        """The whole transaction failed for now (the relay out of reach, a 4xx to MAIL FROM or DATA, the session
        refused): retried with backoff, until the e-mail is past its lifetime."""
        now = self._now()
        if self._backoff.expired(email.created_at, now):
            reason = lifetime_reason(self._backoff.give_up, str(exc), email.unconfirmed)
            return await self._give_up(key, email, to, reason, now, "e-mail given up after its lifetime")
        self._count("unavailable")
        wait = self._backoff.after(email.attempts)
        await self._finish(key, email.attempts, "pending", next_attempt_at=now + wait, last_error=str(exc))
        log.warning("e-mail not sent, will retry", extra={**log_fields(key), "error": str(exc), "retry_in": str(wait)})
        return "retry_later"

    async def _give_up(
        self,
        key: MailKey,
        email: Email,
        to: Sequence[str],
        reason: str,
        now: datetime,
        message: str,
        *,
        exc: Exception | None = None,
        errors: int | None = None,
    ) -> Outcome:
        """End an e-mail for ``reason`` (past its lifetime, or after too many unexpected errors): ``rejected``, or
        ``sent`` when some recipients have it already, ``to`` recorded in ``refused`` (:func:`give_up`). ``errors``:
        the unexpected errors it met, when one of them ended it."""
        self._count("rejected")
        ending = give_up(email, to, reason)
        fields: dict[str, object] = {} if errors is None else {_UNEXPECTED: errors}
        if ending.status == "sent":
            fields["sent_at"] = now
        await self._finish(key, email.attempts, ending.status, ending.push, last_error=reason, **fields)
        log.error(message, extra={**log_fields(key), "error": reason}, exc_info=exc)
        return ending.status

    async def _refused(self, key: MailKey, email: Email, exc: RecipientsRefused) -> Outcome:
        """Record who has the message and who was refused for good; retry the ones refused for now, alone."""
        now = self._now()
        refused = sorted_refusals(exc, self._backoff.expired(email.created_at, now), self._backoff.give_up)
        final, waiting, push = refused.final, refused.waiting, refused.push
        self._count("sent" if exc.accepted else "unavailable" if waiting else "rejected")
        ids = {**log_fields(key), "accepted": len(exc.accepted), "codes": sorted({r.code for r in exc.refusals})}
        if waiting:
            wait = self._backoff.after(email.attempts)
            reason = refusal_reason(f"{len(waiting)} recipient(s) refused for now, retried alone", waiting)
            await self._finish(key, email.attempts, "pending", push, next_attempt_at=now + wait, last_error=reason)
            log.warning("e-mail refused for some recipients, will retry them", extra={**ids, "retry_in": str(wait)})
            return "retry_later"
        reason = refusal_reason(f"{len(final)} recipient(s) refused", final)
        if exc.accepted or email.delivered_to:
            await self._finish(key, email.attempts, "sent", push, sent_at=now, last_error=reason)
            log.warning("e-mail sent, some recipients refused", extra=ids)
            return "sent"
        await self._finish(key, email.attempts, "rejected", push, last_error=reason)
        log.error("e-mail rejected by the smtp server", extra={**ids, "error": reason})
        return "rejected"

    async def _unconfirmed(self, key: MailKey, email: Email, to: Sequence[str], exc: DeliveryUnconfirmed) -> Outcome:
        """No reply to the whole message: it may have arrived. Sent once more; a second time, taken as delivered
        (the server got it twice without answering: both copies most likely arrived, under one Message-ID), ``to``
        recorded as :func:`unanswered` says."""
        self._count("unavailable")
        count = email.unconfirmed + 1
        if count >= _MAX_UNCONFIRMED:
            reason = f"{exc}, {count} times: taken as delivered (each may have arrived)"
            push = unanswered(email, to, reason)
            await self._finish(
                key, email.attempts, "sent", push, sent_at=self._now(), last_error=reason, unconfirmed=count
            )
            log.warning("e-mail taken as delivered without a reply", extra={**log_fields(key), "error": reason})
            return "sent"
        wait = self._backoff.after(email.attempts)
        reason = f"{exc}: it may have arrived, sent once more"
        await self._finish(
            key, email.attempts, "pending", next_attempt_at=self._now() + wait, last_error=reason, unconfirmed=count
        )
        log.warning("e-mail maybe sent, will send it once more", extra={**log_fields(key), "error": reason})
        return "retry_later"

    async def _failed(self, key: MailKey, email: Email, to: Sequence[str], exc: Exception) -> Outcome:
        """Record an unexpected error of the transport as a failed attempt: retried with backoff like an
        outage, until the e-mail has met ``MAX_UNEXPECTED_ERRORS`` of them (or its lifetime is over); then it is
        given up with the reason, as at the end of its lifetime (``sent`` if some recipients have it already).
        Outages between them (``SmtpUnavailable``) do not count.

        Left ``sending``, the e-mail would be due again after every lease, first of its round, for ever.
        """
        reason = scrub(f"{type(exc).__name__}: {exc}", REASON_MAX)  # stored and logged: its text may quote a URL
        doc = await guarded(self._col.find_one(key.query(), {_UNEXPECTED: 1}))
        errors = int((doc or {}).get(_UNEXPECTED, 0)) + 1
        now = self._now()
        if errors >= MAX_UNEXPECTED_ERRORS:
            reason = unexpected_reason(errors, reason)
            message = "e-mail given up after unexpected errors"
            return await self._give_up(key, email, to, reason, now, message, exc=exc, errors=errors)
        if self._backoff.expired(email.created_at, now):
            reason = lifetime_reason(self._backoff.give_up, reason, email.unconfirmed)
            message = "e-mail given up after its lifetime"
            return await self._give_up(key, email, to, reason, now, message, errors=errors)
        self._count("unavailable")
        wait = self._backoff.after(email.attempts)
        await self._finish(
            key, email.attempts, "pending", next_attempt_at=now + wait, last_error=reason, **{_UNEXPECTED: errors}
        )
        log.error(
            "e-mail not sent: unexpected error, will retry",
            extra={**log_fields(key), "error": reason, "retry_in": str(wait), "errors": errors},
            exc_info=exc,
        )
        return "retry_later"

    def _count(self, outcome: Counted) -> None:
        """Count one attempt's outcome, once, before it is recorded (a MongoDB outage loses no count)."""
        if self._metrics is not None:
            self._metrics.count(outcome)

    async def _finish(
        self, key: MailKey, attempt: int, status: EmailStatus, push: Document | None = None, /, **fields: object
    ) -> None:
        """Record the outcome of send attempt ``attempt`` (``push``: recipients it settled). A failure is dropped
        when the e-mail was taken over since (the lease ran out first): a newer attempt is under way, and its own
        outcome counts. A success counts whatever attempt is under way or due: another send could only be a
        second copy."""
        update: Document = {"$set": {"status": status, **fields}, "$unset": {"lease_until": ""}}
        if push:
            update["$push"] = push
        if status == "sent":
            mine = {**key.query(), "status": {"$in": ["sending", "pending"]}}
        else:
            mine = {**key.query(), "status": "sending", "attempts": attempt}
        if (await guarded(self._col.update_one(mine, update))).matched_count != 1:
            log.warning(
                "outcome of an overtaken send attempt not recorded", extra={**log_fields(key), "attempt": attempt}
            )


def give_up(email: Email, to: Sequence[str], reason: str) -> GiveUp:
    """``rejected``, or ``sent`` when some recipients have the message already: then the others, ``to``, are
    recorded in ``refused`` with ``reason`` and code :data:`NO_REPLY`, and nobody is sent to again."""
    if not email.delivered_to:
        return GiveUp("rejected", None)
    gone = [RecipientRefusal(address=a, code=NO_REPLY, reason=reason).to_document() for a in to]
    return GiveUp("sent", {"refused": {"$each": gone}})


def unanswered(email: Email, to: Sequence[str], reason: str) -> Document | None:
    """What an e-mail taken as delivered without a reply settles: nothing while no recipient was settled apart (its
    status speaks for all, as for any e-mail sent whole); else, as :meth:`Endings._sent` names them all, ``to`` (the
    recipients of the unanswered sends) in ``refused`` with ``reason`` and code :data:`NO_REPLY`. Not in
    ``delivered_to``: that holds the recipients a server's reply confirmed, and none came for these (a refusal at
    ``RCPT TO`` is lost with the reply to the message, so the server may not even have taken them)."""
    if not (email.delivered_to or email.refused):
        return None
    unconfirmed = [RecipientRefusal(address=a, code=NO_REPLY, reason=reason[:REASON_MAX]).to_document() for a in to]
    return {"refused": {"$each": unconfirmed}}


def lifetime_reason(lifetime: float, error: str, unconfirmed: int) -> str:
    """``gave up after 5 days: <the last error>``, naming no address (it is logged and shown)."""
    reason = f"gave up after {span(lifetime)}: {_ADDRESS.sub('[address]', error)}"
    if unconfirmed:
        reason += f" (an earlier attempt may have arrived: {unconfirmed} unconfirmed)"
    return reason[:REASON_MAX]


def unexpected_reason(errors: int, error: str) -> str:
    """``gave up after 10 unexpected errors: <the last one>``."""
    return f"gave up after {errors} unexpected errors: {error}"[:REASON_MAX]


@dataclass(frozen=True)
class SortedRefusals:
    """Recipients refused at ``RCPT TO``: for good (``final``), or for now (``waiting``: retried alone), and what
    the attempt settles (``$push``: who has the message, who was refused for good)."""

    final: list[Refusal]
    waiting: list[Refusal]
    push: Document


def sorted_refusals(refused: RecipientsRefused, expired: bool, lifetime: float) -> SortedRefusals:
    """``refused`` sorted; past the e-mail's lifetime (``expired``) a refusal for now is final too."""
    final = [r for r in refused.refusals if r.final or expired]
    waiting = [r for r in refused.refusals if not (r.final or expired)]
    push = {
        "delivered_to": {"$each": list(refused.accepted)},
        "refused": {"$each": [_refusal(r, expired, span(lifetime)).to_document() for r in final]},
    }
    return SortedRefusals(final, waiting, push)


def refusal_reason(what: str, refusals: list[Refusal]) -> str:
    """``what``, and the first refusal's reply (the others are alike, or in ``refused``)."""
    return f"{what}: {refusals[0].code!r} {refusals[0].detail!r}"[:REASON_MAX]


def span(seconds: float) -> str:
    """``5 days``, ``36 hours``, ``90 s``: a lifetime as an operator would have set it."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds:g} s"


def _refusal(refusal: Refusal, expired: bool, lifetime: str) -> RecipientRefusal:
    reason = f"gave up after {lifetime}: " if expired and not refusal.final else ""
    return RecipientRefusal(address=refusal.address, code=refusal.code, reason=(reason + refusal.detail)[:REASON_MAX])


def log_fields(key: MailKey) -> dict[str, object]:
    """The fields of every log line about the e-mail ``key``."""
    return {"tenant": key.tenant, "meeting_uuid": key.meeting_uuid, "generation": key.generation, "kind": key.kind}
