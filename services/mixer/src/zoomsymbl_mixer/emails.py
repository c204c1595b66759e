"""Participants' e-mails for the mix's channels, from Zoom's past-meeting participants report, with a defined outcome.

The report can name an action item's owner by address, but a meeting is not held back for it. A retryable answer
(5xx, a broken connection, a 429) is tried again within a small budget (:data:`EMAILS_POLICY`: a few seconds, a 429's
``Retry-After`` at most 30 s, never a wait for Zoom's daily reset); an answer repeating will not fix (no scope, 4xx)
is taken at once. Then the meeting is mixed without them, and that is recorded on the meeting
(:data:`EMAILS_UNAVAILABLE`: the reason, scrubbed) and logged; a later mix that gets them removes the note. An outage
of our own servers (the shared Zoom quota in MongoDB) is raised: the consumer waits it out, and the meeting needs
MongoDB next anyway.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from pymongo.asynchronous.database import AsyncDatabase
from zoomsymbl_common.errors import InfrastructureUnavailable, RetryableError
from zoomsymbl_common.events import RecordingCompleted, utcnow
from zoomsymbl_common.kafka import RetryPolicy
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.mongo import Document, guarded
from zoomsymbl_common.records import MEETINGS, meeting_key
from zoomsymbl_common.zoom_answers import ZoomApiError
from zoomsymbl_common.zoom_retries import call_with_retries

from zoomsymbl_mixer.channels import MixPlan, with_emails
from zoomsymbl_mixer.credentials import RecordingsApi

log = logging.getLogger("zoomsymbl.mixer")
EMAILS_UNAVAILABLE: Final = "participant_emails_unavailable"
"""``{"reason", "at"}`` on the meeting: its mix went without participants' e-mails Zoom would not give now."""
EMAILS_POLICY: Final = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=10.0, max_rate_limit_wait=30.0)
RATE_LIMITED_MAX: Final = 3
REASON_MAX: Final = 200


class EmailNotes:
    """Writes of :data:`EMAILS_UNAVAILABLE` (part of :class:`~zoomsymbl_mixer.state.MeetingState`)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def note_emails(self, event: RecordingCompleted, unavailable: str | None) -> None:
        """Record why the mix went without e-mails (``unavailable``), or that it did not (the note goes)."""
        query = {**meeting_key(event.tenant, event.meeting_uuid), "generation": {"$not": {"$gt": event.generation}}}
        update: Document = (
            {"$set": {EMAILS_UNAVAILABLE: {"reason": unavailable, "at": utcnow()}}}
            if unavailable is not None
            else {"$unset": {EMAILS_UNAVAILABLE: ""}}
        )
        await guarded(self.db[MEETINGS].update_one(query, update))


class ParticipantEmails:
    """Adds Zoom's participants' e-mails to a plan's unshared channels that have none."""

    def __init__(
        self,
        notes: EmailNotes,
        *,
        policy: RetryPolicy = EMAILS_POLICY,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.notes = notes
        self.policy = policy
        self.sleep = sleep

    async def add(self, plan: MixPlan, event: RecordingCompleted, api: RecordingsApi | None) -> MixPlan:
        """``plan`` with the e-mails Zoom gave; unchanged (and noted on the meeting) when it would not give them."""
        if api is None or all(c.email or c.mixed for c in plan.channels):
            return plan
        try:
            people = await call_with_retries(
                lambda: api.past_meeting_participants(event.meeting_uuid),
                policy=self.policy,
                sleep=self.sleep,
                max_rate_limited=RATE_LIMITED_MAX,
                max_daily_waits=0,
            )
        except InfrastructureUnavailable:
            raise
        except (ZoomApiError, RetryableError) as exc:
            reason = scrub(str(exc), REASON_MAX)
            fields = {"tenant": event.tenant, "meeting_uuid": event.meeting_uuid, "event_id": event.event_id}
            log.warning("participant e-mails not available, mixed without them", extra={**fields, "reason": reason})
            await self.notes.note_emails(event, reason)
            return plan
        await self.notes.note_emails(event, None)
        return with_emails(plan, people)
