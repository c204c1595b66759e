"""Participants' e-mails for the mix's channels, from Zoom's past-meeting participants report, with a defined outcome.

The report can name an action item's owner by address, but a meeting is not held back for it. A retryable answer
(5xx, a broken connection, a 429) is tried again within a small budget (:data:`EMAILS_POLICY`: a few seconds, a 429's
``Retry-After`` at most 30 s, never a wait for Zoom's daily reset); an answer repeating will not fix (no scope, 4xx)
is taken at once. Then the meeting is mixed without them, and that is recorded on the meeting
(:data:`EMAILS_UNAVAILABLE`: the reason, scrubbed) and logged; a later mix that gets them removes the note. A mix
made before and found again (a replay of the recording, a forced one among them) whose meeting carries the note is
asked again (:meth:`ParticipantEmails.add_to_record`): the new run's report can name the owners by address. An outage
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

from zoomsymbl_mixer.channels import MixPlan, assignments_with_emails, with_emails
from zoomsymbl_mixer.credentials import RecordingsApi
from zoomsymbl_mixer.mix_record import MixRecord

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

    async def emails_missed(self, event: RecordingCompleted) -> bool:
        """Whether the meeting's mix went without the e-mails Zoom would not give then (the note is there)."""
        doc = await guarded(
            self.db[MEETINGS].find_one(meeting_key(event.tenant, event.meeting_uuid), {EMAILS_UNAVAILABLE: 1})
        )
        return bool(doc and doc.get(EMAILS_UNAVAILABLE))


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
        people = await self._people(event, api)
        return plan if people is None else with_emails(plan, people)

    async def add_to_record(self, record: MixRecord, event: RecordingCompleted, api: RecordingsApi | None) -> MixRecord:
        """A mix found again (its inputs unchanged) with the e-mails its first run went without, when the meeting's
        note says Zoom would not give them then; unchanged otherwise (Zoom is not asked at every redelivery for the
        addresses of guests who have none)."""
        if api is None or all(c.participant_email or c.mixed for c in record.channel_map):
            return record
        if not await self.notes.emails_missed(event):
            return record
        people = await self._people(event, api)
        if people is None:
            return record
        return record.model_copy(update={"channel_map": assignments_with_emails(record.channel_map, people)})

    async def _people(self, event: RecordingCompleted, api: RecordingsApi) -> list[tuple[str, str]] | None:
        """Zoom's (name, e-mail) pairs of the meeting's participants; None (noted on the meeting) when it would not
        give them."""
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
            return None
        await self.notes.note_emails(event, None)
        return list(people)
