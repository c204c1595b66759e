"""The ``emails`` outbox: the intent to send is recorded before sending, the send right after.

One document per (tenant, meeting, generation, kind), guarded by the unique index ``email_unique``:
a second intent is a ``DuplicateKeyError`` and sends nothing. Each later send attempt is claimed by
inserting ``{_id: <e-mail key>|<attempt number>}`` into ``email_claims``: of two replicas, or a handler
and the sweeper, that read the same due e-mail only the one whose insert succeeds talks to the SMTP
server. (A conditional ``find_one_and_update`` would do on MongoDB, but the local MongoDB-wire server
does not isolate concurrent conditional updates, and a unique insert is the stronger contract anyway.)
The first attempt of an e-mail sent as it is recorded (:meth:`Outbox.send`) needs no claim of its own:
the insert of the intent is that unique insert, and it records the e-mail already ``sending`` under a
lease, so nobody else can have read it due. A claim whose holder died (or an intent whose recorder
died mid-send) is taken over once its lease expires, under the next attempt number.

Per recipient: a server refusing some recipients at ``RCPT TO`` delivers to the others; they are recorded
(``delivered_to``) and never sent to again, the ones refused for good (5xx) are recorded with the reply
(``refused``), and the ones refused for now (4xx: greylisting, "too many recipients") are retried alone. An attempt that
sent the whole message without a reply to it (RFC 5321 6.1: it may have arrived) is sent once more at most, counted in
``unconfirmed``: at most one duplicate, under the same Message-ID.

Like an MTA's queue lifetime, whatever fails for now (a recipient's 4xx, the whole transaction's: the relay out of
reach, a 4xx to MAIL FROM or DATA) is retried for ``Backoff.give_up`` seconds after the e-mail was recorded (its
``created_at``; 5 days, RFC 5321 4.5.4.1) and given up at its first failure after that: an attempt is always made,
and one that succeeds late still sends. Each attempt's outcome is counted in :class:`MailMetrics`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError
from zoomsymbl_common.clock import Clock
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.mongo import Document, Mongo, guarded
from zoomsymbl_common.records import EMAIL_CLAIMS, EMAILS, Email, EmailClaim, EmailStatus, email_key
from zoomsymbl_common.records.mail import RecipientRefusal

from zoomsymbl_notifier.mail import Envelope, MailKind
from zoomsymbl_notifier.metrics import Counted, MailMetrics
from zoomsymbl_notifier.settings import GIVE_UP_AFTER_SECONDS
from zoomsymbl_notifier.smtp import (
    DeliveryUnconfirmed,
    MailRejected,
    RecipientsRefused,
    Refusal,
    SmtpTransport,
    SmtpUnavailable,
)

log = logging.getLogger("zoomsymbl.notifier.outbox")
# Claims inserted by deliverers that died before marking the e-mail, skipped before giving up.
_MAX_ORPHANED_CLAIMS = 20
# Unexpected errors of the transport (not an outage, not a refusal) an e-mail meets before it is given up,
# counted in its document under _UNEXPECTED (a field the Email model ignores when read).
_MAX_UNEXPECTED_ERRORS = 10
_UNEXPECTED = "unexpected_errors"
_REASON_MAX = 1000  # of a stored last_error
_NO_REPLY = 0  # RecipientRefusal.code of a recipient given up without a reply of its own (no SMTP code is 0)
# An address in a server's reply: a given-up reason names none (it is logged, and shown by zoomsymbl status).
_ADDRESS = re.compile(r"[^\s<>()\[\]'\",;:]+@[^\s<>()\[\]'\",;:]+")
# Sends of an e-mail whose whole message went out without a reply to it, before it is taken as delivered.
_MAX_UNCONFIRMED = 2
Outcome = Literal["sent", "already_sent", "busy", "retry_later", "rejected", "skipped"]


@dataclass(frozen=True)
class MailKey:
    """Which e-mail: at most one per meeting, generation and kind."""

    tenant: str
    meeting_uuid: str
    generation: int
    kind: MailKind

    def query(self) -> Document:
        """The unique-index fields of this e-mail."""
        return email_key(self.tenant, self.meeting_uuid, self.generation, self.kind)

    @classmethod
    def from_doc(cls, doc: Document) -> MailKey:
        """The key of a stored e-mail."""
        return cls(doc["tenant"], doc["meeting_uuid"], int(doc["generation"]), doc["kind"])

    def claim_id(self, attempt: int) -> str:
        """The ``email_claims`` id of send attempt ``attempt`` (the tenant and kind hold no ``|``)."""
        return f"{self.tenant}|{self.kind}|{self.generation}|{attempt}|{self.meeting_uuid}"


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


class Outbox:
    """Records, claims and sends e-mails exactly as often as SMTP allows: once, barring a crash after 250 or a lost
    reply to the message (then twice at most)."""

    def __init__(
        self,
        mongo: Mongo,
        transport: SmtpTransport,
        backoff: Backoff,
        *,
        clock: Clock = utcnow,
        metrics: MailMetrics | None = None,
    ) -> None:
        self._col: AsyncCollection[Document] = mongo.db[EMAILS]
        self._claims: AsyncCollection[Document] = mongo.db[EMAIL_CLAIMS]
        self._transport = transport
        self._backoff = backoff
        self._now = clock
        self._metrics = metrics

    async def exists(self, key: MailKey) -> bool:
        """An intent (in any state) is recorded for ``key``."""
        return await guarded(self._col.find_one(key.query(), {"_id": 1})) is not None

    async def record(self, key: MailKey, envelope: Envelope, msg_id: str, raw: bytes | None) -> bool:
        """Record the intent to send ``raw`` (sent by :meth:`deliver`); False when one was recorded before
        (nothing changes)."""
        return await self._insert(_intent(key, envelope, msg_id, raw, self._now()))

    async def send(self, key: MailKey, envelope: Envelope, msg_id: str, raw: bytes | None) -> Outcome:
        """Record the intent to send ``raw`` and send it now; when one was recorded before, :meth:`deliver` it.

        The intent is inserted claimed for its first attempt (``sending``, attempt 1, leased): two round
        trips for a first send (the insert, the outcome) instead of a record, a read, a claim and a mark.
        """
        email = _intent(key, envelope, msg_id, raw, self._now())
        if email.status == "pending":
            lease_until = self._now() + timedelta(seconds=self._backoff.lease)
            email = email.model_copy(update={"status": "sending", "attempts": 1, "lease_until": lease_until})
        if not await self._insert(email):
            return await self.deliver(key)
        return await self._attempt(key, email) if email.status == "sending" else "skipped"

    async def deliver(self, key: MailKey) -> Outcome:
        """Send the recorded e-mail if it is due and not sent or claimed by someone else."""
        email = await self._claim(key)
        if email is None:
            return await self._settled(key)
        return await self._attempt(key, email)

    async def _insert(self, email: Email) -> bool:
        doc = email.to_document()
        for unset in ("lease_until", "sent_at", "last_error"):
            if doc[unset] is None:
                del doc[unset]  # absent until set: the claim filters and ``_finish`` rely on it
        try:
            await guarded(self._col.insert_one(doc))
        except DuplicateKeyError:
            return False
        return True

    async def _attempt(self, key: MailKey, email: Email) -> Outcome:
        """Hand ``email``, claimed by this caller, to the SMTP server and record the outcome."""
        done = {*email.delivered_to, *(r.address for r in email.refused)}
        to = tuple(r for r in email.recipients if r not in done)
        try:
            await self._transport.send(email.sender, to, email.raw or b"")
        except RecipientsRefused as exc:
            return await self._refused(key, email, exc)
        except DeliveryUnconfirmed as exc:
            self._count("unavailable")
            return await self._unconfirmed(key, email, exc)
        except SmtpUnavailable as exc:
            return await self._unavailable(key, email, to, exc)
        except MailRejected as exc:
            self._count("rejected")
            await self._finish(key, email.attempts, "rejected", last_error=str(exc))
            log.error("e-mail rejected by the smtp server", extra={**_log(key), "error": str(exc)})
            return "rejected"
        except Exception as exc:  # a bug, or what the transport does not classify: never left ``sending``
            return await self._failed(key, email, to, exc)
        self._count("sent")
        # Once some recipients were settled apart, the record names them all: who got it, who was refused.
        push = {"delivered_to": {"$each": list(to)}} if done else None
        await self._finish(key, email.attempts, "sent", push, sent_at=self._now())
        log.info("e-mail sent", extra={**_log(key), "message_id": email.message_id})
        return "sent"

    async def _unavailable(self, key: MailKey, email: Email, to: Sequence[str], exc: SmtpUnavailable) -> Outcome:
        """The whole transaction failed for now (the relay out of reach, a 4xx to MAIL FROM or DATA, the session
        refused): retried with backoff, until the e-mail is past its lifetime."""
        now = self._now()
        if self._backoff.expired(email.created_at, now):
            return await self._give_up(key, email, to, str(exc), now)
        self._count("unavailable")
        wait = self._backoff.after(email.attempts)
        await self._finish(key, email.attempts, "pending", next_attempt_at=now + wait, last_error=str(exc))
        log.warning("e-mail not sent, will retry", extra={**_log(key), "error": str(exc), "retry_in": str(wait)})
        return "retry_later"

    async def _give_up(
        self, key: MailKey, email: Email, to: Sequence[str], error: str, now: datetime, **fields: object
    ) -> Outcome:
        """End an e-mail that still fails for now past its lifetime, as an MTA bounces one past its queue lifetime:
        ``rejected``, or ``sent`` when some recipients have it already (the others recorded in ``refused``). The
        reason (``gave up after 5 days: <the last error>``) names no address: it is logged and shown."""
        self._count("rejected")
        reason = f"gave up after {_span(self._backoff.give_up)}: {_ADDRESS.sub('[address]', error)}"
        if email.unconfirmed:
            reason += f" (an earlier attempt may have arrived: {email.unconfirmed} unconfirmed)"
        reason = reason[:_REASON_MAX]
        if email.delivered_to:
            gone = [RecipientRefusal(address=a, code=_NO_REPLY, reason=reason).to_document() for a in to]
            await self._finish(
                key, email.attempts, "sent", {"refused": {"$each": gone}}, sent_at=now, last_error=reason, **fields
            )
        else:
            await self._finish(key, email.attempts, "rejected", last_error=reason, **fields)
        log.error("e-mail given up after its lifetime", extra={**_log(key), "error": reason})
        return "sent" if email.delivered_to else "rejected"

    async def _refused(self, key: MailKey, email: Email, exc: RecipientsRefused) -> Outcome:
        """Record who has the message and who was refused for good; retry the ones refused for now, alone."""
        now = self._now()
        expired = self._backoff.expired(email.created_at, now)
        final = [r for r in exc.refusals if r.final or expired]
        waiting = [r for r in exc.refusals if not (r.final or expired)]
        self._count("sent" if exc.accepted else "unavailable" if waiting else "rejected")
        span = _span(self._backoff.give_up)
        push = {
            "delivered_to": {"$each": list(exc.accepted)},
            "refused": {"$each": [_refusal(r, expired, span).to_document() for r in final]},
        }
        ids = {**_log(key), "accepted": len(exc.accepted), "codes": sorted({r.code for r in exc.refusals})}
        if waiting:
            wait = self._backoff.after(email.attempts)
            reason = _reason(f"{len(waiting)} recipient(s) refused for now, retried alone", waiting)
            await self._finish(key, email.attempts, "pending", push, next_attempt_at=now + wait, last_error=reason)
            log.warning("e-mail refused for some recipients, will retry them", extra={**ids, "retry_in": str(wait)})
            return "retry_later"
        reason = _reason(f"{len(final)} recipient(s) refused", final)
        if exc.accepted or email.delivered_to:
            await self._finish(key, email.attempts, "sent", push, sent_at=now, last_error=reason)
            log.warning("e-mail sent, some recipients refused", extra=ids)
            return "sent"
        await self._finish(key, email.attempts, "rejected", push, last_error=reason)
        log.error("e-mail rejected by the smtp server", extra={**ids, "error": reason})
        return "rejected"

    async def _unconfirmed(self, key: MailKey, email: Email, exc: DeliveryUnconfirmed) -> Outcome:
        """No reply to the whole message: it may have arrived. Sent once more; a second time, taken as delivered
        (the server got it twice without answering: both copies most likely arrived, under one Message-ID)."""
        count = email.unconfirmed + 1
        if count >= _MAX_UNCONFIRMED:
            reason = f"{exc}, {count} times: taken as delivered (each may have arrived)"
            await self._finish(key, email.attempts, "sent", sent_at=self._now(), last_error=reason, unconfirmed=count)
            log.warning("e-mail taken as delivered without a reply", extra={**_log(key), "error": reason})
            return "sent"
        wait = self._backoff.after(email.attempts)
        reason = f"{exc}: it may have arrived, sent once more"
        await self._finish(
            key, email.attempts, "pending", next_attempt_at=self._now() + wait, last_error=reason, unconfirmed=count
        )
        log.warning("e-mail maybe sent, will send it once more", extra={**_log(key), "error": reason})
        return "retry_later"

    async def _failed(self, key: MailKey, email: Email, to: Sequence[str], exc: Exception) -> Outcome:
        """Record an unexpected error of the transport as a failed attempt: retried with backoff like an
        outage, until the e-mail has met ``_MAX_UNEXPECTED_ERRORS`` of them (or its lifetime is over); then it is
        given up as ``rejected``, with the reason. Outages between them (``SmtpUnavailable``) do not count.

        Left ``sending``, the e-mail would be due again after every lease, first of its round, for ever.
        """
        reason = scrub(f"{type(exc).__name__}: {exc}", _REASON_MAX)  # stored and logged: its text may quote a URL
        doc = await guarded(self._col.find_one(key.query(), {_UNEXPECTED: 1}))
        errors = int((doc or {}).get(_UNEXPECTED, 0)) + 1
        now = self._now()
        if errors < _MAX_UNEXPECTED_ERRORS and self._backoff.expired(email.created_at, now):
            return await self._give_up(key, email, to, reason, now, **{_UNEXPECTED: errors})
        if errors >= _MAX_UNEXPECTED_ERRORS:
            self._count("rejected")
            reason = f"gave up after {errors} unexpected errors: {reason}"[:_REASON_MAX]
            await self._finish(key, email.attempts, "rejected", last_error=reason, **{_UNEXPECTED: errors})
            log.error("e-mail given up after unexpected errors", extra={**_log(key), "error": reason}, exc_info=exc)
            return "rejected"
        self._count("unavailable")
        wait = self._backoff.after(email.attempts)
        await self._finish(
            key, email.attempts, "pending", next_attempt_at=now + wait, last_error=reason, **{_UNEXPECTED: errors}
        )
        log.error(
            "e-mail not sent: unexpected error, will retry",
            extra={**_log(key), "error": reason, "retry_in": str(wait), "errors": errors},
            exc_info=exc,
        )
        return "retry_later"

    async def due(self, limit: int) -> list[MailKey]:
        """E-mails waiting for a (re)try now, oldest first."""
        cursor = self._col.find(_claimable(self._now()), {"tenant": 1, "meeting_uuid": 1, "generation": 1, "kind": 1})
        docs = await guarded(cursor.sort("next_attempt_at", 1).limit(limit).to_list(None))
        return [MailKey.from_doc(d) for d in docs]

    async def _claim(self, key: MailKey) -> Email | None:
        """The e-mail, claimed for one send attempt by this caller; None when it is not due or taken."""
        now = self._now()
        doc = await guarded(self._col.find_one({**key.query(), **_claimable(now)}))
        if doc is None:
            return None
        email = Email.from_document(doc)
        attempt = await self._claim_attempt(key, email.attempts + 1, now)
        if attempt is None:
            return None
        lease_until = now + timedelta(seconds=self._backoff.lease)
        # Only if the e-mail is still as read: a read older than a lease (a stalled replica) may be of an
        # e-mail sent since, whose claim this one merely outlived.
        as_read = {**key.query(), "status": email.status, "attempts": email.attempts}
        update = {"$set": {"status": "sending", "lease_until": lease_until, "attempts": attempt}}
        if (await guarded(self._col.update_one(as_read, update))).matched_count != 1:
            log.warning("e-mail changed since it was read due, not sent", extra={**_log(key), "attempt": attempt})
            return None
        return email.model_copy(update={"status": "sending", "lease_until": lease_until, "attempts": attempt})

    async def _claim_attempt(self, key: MailKey, attempt: int, now: datetime) -> int | None:
        """Insert the claim of ``attempt`` (or of a later one, past claims whose holder died before
        recording them on the e-mail); None while a live claim is held by someone else."""
        lease = timedelta(seconds=self._backoff.lease)
        for number in range(attempt, attempt + _MAX_ORPHANED_CLAIMS):
            try:
                claim = EmailClaim(id=key.claim_id(number), claimed_at=now)
                await guarded(self._claims.insert_one(claim.to_document()))
            except DuplicateKeyError:
                held = await guarded(self._claims.find_one({"_id": key.claim_id(number)}))
                if held is None or EmailClaim.from_document(held).claimed_at + lease > now:
                    return None  # another deliverer holds this attempt (or just finished with it)
                continue
            return number
        log.error("too many orphaned send claims", extra={**_log(key), "attempt": attempt})
        return None

    async def _settled(self, key: MailKey) -> Outcome:
        doc = await guarded(self._col.find_one(key.query(), {"status": 1}))
        status = doc.get("status") if doc else None
        settled: dict[object, Outcome] = {
            "sending": "busy",
            "pending": "retry_later",
            "sent": "already_sent",
            "rejected": "rejected",
        }
        return settled.get(status, "skipped")

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
            log.warning("outcome of an overtaken send attempt not recorded", extra={**_log(key), "attempt": attempt})


def _intent(key: MailKey, envelope: Envelope, msg_id: str, raw: bytes | None, now: datetime) -> Email:
    """A new e-mail of ``key``: due now, or ``skipped`` when there is nothing to send or nobody to send it to."""
    return Email(
        tenant=key.tenant,
        meeting_uuid=key.meeting_uuid,
        generation=key.generation,
        kind=key.kind,
        message_id=msg_id,
        sender=envelope.envelope_sender,
        recipients=list(envelope.recipients),
        raw=raw,
        status="pending" if raw is not None and envelope.recipients else "skipped",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


def _refusal(refusal: Refusal, expired: bool, span: str) -> RecipientRefusal:
    reason = f"gave up after {span}: " if expired and not refusal.final else ""
    return RecipientRefusal(address=refusal.address, code=refusal.code, reason=(reason + refusal.detail)[:_REASON_MAX])


def _reason(what: str, refusals: list[Refusal]) -> str:
    """``what``, and the first refusal's reply (the others are alike, or in ``refused``)."""
    return f"{what}: {refusals[0].code!r} {refusals[0].detail!r}"[:_REASON_MAX]


def _span(seconds: float) -> str:
    """``5 days``, ``36 hours``, ``90 s``: a lifetime as an operator would have set it."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds:g} s"


def _claimable(now: datetime) -> Document:
    return {
        "$or": [
            {"status": "pending", "next_attempt_at": {"$lte": now}},
            {"status": "sending", "lease_until": {"$lt": now}},
        ]
    }


def _log(key: MailKey) -> dict[str, object]:
    return {"tenant": key.tenant, "meeting_uuid": key.meeting_uuid, "generation": key.generation, "kind": key.kind}
