"""What one send attempt of the outbox makes of its e-mail (:class:`Endings`): sent, recipients refused, retried later
(:class:`Backoff`: the delays, and the e-mail's lifetime), or given up. The rules are pure functions
(:mod:`zoomsymbl_notifier.ending_rules`: what a give-up settles, refusals sorted, the reasons); :class:`Endings` (the
outbox's base) records and counts what they decide.

Whatever gives an e-mail up (its lifetime, or :data:`MAX_UNEXPECTED_ERRORS` unexpected errors of the transport), who
has the message stays on record. So does every recipient of an e-mail taken as delivered after its second send
without a reply, once some were settled apart (:func:`~zoomsymbl_notifier.ending_rules.unanswered`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pymongo.asynchronous.collection import AsyncCollection
from zoomsymbl_common.clock import Clock
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.mongo import Document, guarded
from zoomsymbl_common.records import Email, EmailStatus

from zoomsymbl_notifier.ending_rules import (
    REASON_MAX,
    give_up,
    lifetime_reason,
    refusal_reason,
    sorted_refusals,
    unanswered,
    unexpected_reason,
)
from zoomsymbl_notifier.metrics import Counted, MailMetrics
from zoomsymbl_notifier.settings import GIVE_UP_AFTER_SECONDS, Settings
from zoomsymbl_notifier.smtp import DeliveryUnconfirmed, MailRejected, RecipientsRefused, SmtpUnavailable

if TYPE_CHECKING:
    from zoomsymbl_notifier.outbox import MailKey, Outcome

log = logging.getLogger("zoomsymbl.notifier.outbox")

# Unexpected errors of the transport (not an outage, not a refusal) an e-mail meets before it is given up,
# counted in its document under _UNEXPECTED (a field the Email model ignores when read).
MAX_UNEXPECTED_ERRORS = 10
_UNEXPECTED = "unexpected_errors"
# Sends of an e-mail whose whole message went out without a reply to it, before it is taken as delivered.
_MAX_UNCONFIRMED = 2


@dataclass(frozen=True)
class Backoff:
    """Delays between attempts of one e-mail: doubling from ``base`` up to ``ceiling`` seconds; what still fails
    for now ``give_up`` seconds after the e-mail was recorded is given up."""

    base: float
    ceiling: float
    lease: float
    give_up: float = GIVE_UP_AFTER_SECONDS

    @classmethod
    def of(cls, settings: Settings) -> Backoff:
        """The notifier's e-mail retry settings (``mail_retry_*``, ``mail_lease_seconds``, ``mail_give_up_after_*``)."""
        return cls(
            settings.mail_retry_base_seconds,
            settings.mail_retry_max_seconds,
            settings.mail_lease_seconds,
            settings.mail_give_up_after_seconds,
        )

    def after(self, attempts: int) -> timedelta:
        """The wait after ``attempts`` failed attempts."""
        doublings = max(0, attempts - 1)
        # Past the ceiling before 2 ** doublings is computed: a float times 2 ** 1024 raises OverflowError (the
        # 1,026th attempt of a long outage), and a tiny base needs more than a thousand doublings to get there.
        if doublings >= math.log2(self.ceiling) - math.log2(self.base):
            return timedelta(seconds=self.ceiling)
        return timedelta(seconds=min(self.ceiling, math.ldexp(self.base, doublings)))

    def expired(self, created_at: datetime, now: datetime) -> bool:
        """An e-mail recorded at ``created_at`` is past its lifetime: a failure for now ends it."""
        # In seconds, not as a timedelta: a lifetime of "never" (inf, 1e15) is more than a timedelta holds.
        return (now - created_at).total_seconds() > self.give_up


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


def log_fields(key: MailKey) -> dict[str, object]:
    """The fields of every log line about the e-mail ``key``."""
    return {"tenant": key.tenant, "meeting_uuid": key.meeting_uuid, "generation": key.generation, "kind": key.kind}
