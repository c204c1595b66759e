"""How long a ``zoom``-source meeting waits for Zoom's transcript (``zoom_transcript_wait_seconds``), then fails.

A tenant on the ``zoom`` source has no transcript but Zoom's: the submitter submits nothing until the mixer announces
the mix again naming Zoom's ``TRANSCRIPT`` file (``recording.transcript_completed``). Zoom processes a cloud recording
in about twice its length, occasionally up to 24 hours under load (support.zoom.com, KB0062627), and sends the
transcript after it. An account without audio transcription (or a recording Zoom finds no words in) sends none: the
meeting waited at ``mixed`` for ever and its host heard nothing.

The first wait of a generation is noted on the meeting (``zoom_transcript_wait``: the generation, since when, and the
``AudioMixed`` it waits with; a redelivery keeps the first time). Every ``transcript_wait_check_seconds`` each replica
takes the notes older than the deadline (:data:`BATCH` at most, oldest first). A meeting still waiting in the noted
generation (no stage yet, or ``mixed``) fails as a give-up fails it: ``failed`` by the submitter at stage
``transcript``, then ``meeting.failed.v1``, whose failure notice tells the host; then the note goes. A publish that
fails leaves the note, and the next round publishes again (a meeting the submitter failed is failed again: the
notifier's outbox sends one notice per generation). A meeting that moved on (its transcript came), was run again, or
failed otherwise just loses its note; an unreadable note is dropped (logged). A transcript arriving after the failure
finds the meeting failed: the mixer stores the file and announces nothing; ``zoomsymbl replay`` runs the meeting again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from pydantic import ValidationError
from zoomsymbl_common.clock import utcnow
from zoomsymbl_common.events import AudioMixed, MeetingFailed, Service
from zoomsymbl_common.mongo import Document
from zoomsymbl_common.records import stages_before

from zoomsymbl_submitter.meetings import SERVICE, TRANSCRIPT_WAIT, MeetingStore
from zoomsymbl_submitter.periodic import every

log = logging.getLogger("zoomsymbl.submitter.transcript_wait")
BATCH = 100
TASK = "zoom-transcript-wait"
STAGE = "transcript"
FAILED_BY: Service = "submitter"
WAITING = tuple(stages_before("submitted"))
"""The stages of a meeting still waiting: those the submission moves on from (no stage yet after a forced replay)."""
PublishFailure = Callable[[MeetingFailed], Awaitable[None]]


def reason(wait_seconds: float) -> str:
    """Why the meeting failed, as the failure notice says it."""
    hours = round(wait_seconds / 3600, 1)
    return (
        f"Zoom sent no transcript of the recording within {hours:g} hours: turn on audio transcription for the "
        "account's cloud recordings, then run the meeting again (zoomsymbl replay)"
    )


class TranscriptWaits:
    """The periodic pass that fails ``zoom``-source meetings Zoom sent no transcript of within ``wait_seconds``."""

    def __init__(self, meetings: MeetingStore, publish: PublishFailure, wait_seconds: float, interval: float) -> None:
        self._meetings = meetings
        self._publish = publish
        self._wait = timedelta(seconds=wait_seconds)
        self.interval = interval

    async def run_forever(self) -> None:
        """A round every ``interval`` seconds (:func:`~zoomsymbl_submitter.periodic.every`)."""
        await every(self.interval, self.round, TASK, log)

    async def round(self, now: datetime | None = None) -> int:
        """Fail the meetings waiting past the deadline at ``now``; the number failed (and announced)."""
        if self._wait <= timedelta(0):
            return 0
        failed = 0
        for doc in await self._meetings.transcript_waits(((now or utcnow()) - self._wait), BATCH):
            failed += int(await self._judge(doc))
        return failed

    async def _judge(self, doc: Document) -> bool:
        note = doc.get(TRANSCRIPT_WAIT)
        try:
            event = AudioMixed.model_validate(note.get("event") if isinstance(note, dict) else None)
        except ValidationError as exc:
            # Without the stored values (the host's address, the topic).
            error = str(exc.errors(include_url=False, include_input=False)[:1])[:300]
            log.warning("unreadable zoom transcript wait dropped", extra={"error": error})
            await self._meetings.end_transcript_wait(doc)
            return False
        still = doc.get("generation", 0) == event.generation and (
            doc.get("stage") in WAITING or doc.get("failed_stage") == f"{SERVICE}:{STAGE}"
        )
        if still:
            why = reason(self._wait.total_seconds())
            if await self._meetings.mark_failed(event, STAGE, why):
                log.warning(
                    "no zoom transcript in time, meeting failed",
                    extra={"tenant": event.tenant, "meeting_uuid": event.meeting_uuid, "generation": event.generation},
                )
                await self._publish(MeetingFailed.of(event, FAILED_BY, STAGE, why))  # raises: the note stays
                await self._meetings.end_transcript_wait(doc)
                return True
        await self._meetings.end_transcript_wait(doc)
        return False
