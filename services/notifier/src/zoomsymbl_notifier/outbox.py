"""The ``emails`` outbox: the intent to send is recorded before sending, the send right after.

One document per (tenant, meeting, generation, kind), guarded by the unique index ``email_unique``:
a second intent is a ``DuplicateKeyError`` and sends nothing. Each later send attempt is claimed by
inserting ``{_id: <e-mail key>|<attempt number>}`` into ``email_claims``: of two replicas, or a handler
and the sweeper, that read the same due e-mail only the one whose insert succeeds talks to the SMTP
server. (A conditional ``find_one_and_update`` would do on MongoDB, but FerretDB 1.x as released does
not isolate concurrent conditional updates, and a unique insert is the stronger contract anyway.)
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
and one that succeeds late still sends. What each attempt makes of the e-mail (and its count in :class:`MailMetrics`)
is decided and recorded in :mod:`zoomsymbl_notifier.endings`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError
from zoomsymbl_common.clock import Clock
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Document, Mongo, guarded
from zoomsymbl_common.records import EMAIL_CLAIMS, EMAILS, Email, EmailClaim, email_key

from zoomsymbl_notifier.endings import Backoff, Endings, log_fields
from zoomsymbl_notifier.mail import Envelope, MailKind
from zoomsymbl_notifier.metrics import MailMetrics
from zoomsymbl_notifier.smtp import DeliveryUnconfirmed, MailRejected, RecipientsRefused, SmtpTransport, SmtpUnavailable

__all__ = ["Backoff", "MailKey", "Outbox", "Outcome"]  # Backoff: built with the outbox (app, tests), defined in endings

log = logging.getLogger("zoomsymbl.notifier.outbox")
# Claims inserted by deliverers that died before marking the e-mail, skipped before giving up.
_MAX_ORPHANED_CLAIMS = 20
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


class Outbox(Endings):
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
        super().__init__(mongo.db[EMAILS], backoff, clock, metrics)
        self._claims: AsyncCollection[Document] = mongo.db[EMAIL_CLAIMS]
        self._transport = transport

    async def exists(self, key: MailKey) -> bool:
        """An intent (in any state) is recorded for ``key``."""
        return await self.recorded(key) is not None

    async def recorded(self, key: MailKey, *fields: str) -> Document | None:
        """The intent recorded for ``key``, only its ``_id`` and ``fields``; None when there is none."""
        return await guarded(self._col.find_one(key.query(), dict.fromkeys(("_id", *fields), 1)))

    async def record(self, key: MailKey, envelope: Envelope, msg_id: str, raw: bytes | None) -> bool:
        """Record the intent to send ``raw`` (sent by :meth:`deliver`); False when one was recorded before
        (nothing changes)."""
        return await self._insert(_intent(key, envelope, msg_id, raw, self._now()))

    async def send(
        self, key: MailKey, envelope: Envelope, msg_id: str, raw: bytes | None, *, extra: Document | None = None
    ) -> Outcome:
        """Record the intent to send ``raw`` and send it now; when one was recorded before, :meth:`deliver` it.
        ``extra``: fields of the flow's own stored with the intent (the :class:`Email` model ignores them).

        The intent is inserted claimed for its first attempt (``sending``, attempt 1, leased): two round
        trips for a first send (the insert, the outcome) instead of a record, a read, a claim and a mark.
        """
        email = _intent(key, envelope, msg_id, raw, self._now())
        if email.status == "pending":
            lease_until = self._now() + timedelta(seconds=self._backoff.lease)
            email = email.model_copy(update={"status": "sending", "attempts": 1, "lease_until": lease_until})
        if not await self._insert(email, extra):
            return await self.deliver(key)
        return await self._attempt(key, email) if email.status == "sending" else "skipped"

    async def deliver(self, key: MailKey) -> Outcome:
        """Send the recorded e-mail if it is due and not sent or claimed by someone else."""
        email = await self._claim(key)
        if email is None:
            return await self._settled(key)
        return await self._attempt(key, email)

    async def _insert(self, email: Email, extra: Document | None = None) -> bool:
        doc = {**(extra or {}), **email.to_document()}
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
            return await self._unconfirmed(key, email, to, exc)
        except SmtpUnavailable as exc:
            return await self._unavailable(key, email, to, exc)
        except MailRejected as exc:
            return await self._rejected(key, email, exc)
        except Exception as exc:  # a bug, or what the transport does not classify: never left ``sending``
            return await self._failed(key, email, to, exc)
        return await self._sent(key, email, to, settled_apart=bool(done))

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
            log.warning("e-mail changed since it was read due, not sent", extra={**log_fields(key), "attempt": attempt})
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
        log.error("too many orphaned send claims", extra={**log_fields(key), "attempt": attempt})
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


def _claimable(now: datetime) -> Document:
    return {
        "$or": [
            {"status": "pending", "next_attempt_at": {"$lte": now}},
            {"status": "sending", "lease_until": {"$lt": now}},
        ]
    }
