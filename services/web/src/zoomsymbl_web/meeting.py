"""What one meeting's page shows, read from MongoDB through the typed records (``meetings``,
``conversations``, ``insights``, and ``jobs`` for a generation submitted twice: :mod:`zoomsymbl_web.plans`); the
presentation is :mod:`zoomsymbl_web.render`'s.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from zoomsymbl_common import stored_insights
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.mongo import Document, Mongo, guarded
from zoomsymbl_common.providers.base import Insights
from zoomsymbl_common.records import (
    CONVERSATIONS,
    INSIGHTS,
    JOBS,
    MEETINGS,
    ConversationMetadata,
    Job,
    MalformedRecord,
    Meeting,
    MissingAudio,
    StoredInsights,
    StoredObject,
)
from zoomsymbl_common.stages import stage_text

from zoomsymbl_web import plans
from zoomsymbl_web.timeline import Speaker

_PROVIDER_NAMES = {
    "assemblyai": "AssemblyAI",
    "symbl": "Symbl.ai",
    "whisper": "self-hosted Whisper",
    "zoom": "Zoom transcript",
}
_READY_STAGES = frozenset({"completed", "notified"})
MAX_PARTS = 1000
"""Most parts of one recording read for a page (a split 30-hour meeting has a handful)."""
SOURCE_MAX = 500
"""Most characters of the stored source line shown (the e-mail's bound)."""
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class MeetingView:
    """One processed meeting, everything the page and the downloads need."""

    tenant: str
    meeting_uuid: str
    topic: str
    host: str
    start_time: datetime | None
    duration_seconds: float
    source: str
    insights: Insights
    speakers: tuple[Speaker, ...]
    audio: StoredObject | None
    generation: int = 0
    media_seconds: float = 0.0
    """The mixed file's length (0: not known): the player's time axis, which the words' times are in."""
    missing: MissingAudio | None = None
    """Participant audio the mix went without (Zoom no longer had it): the page says whose, as the e-mail does."""

    @property
    def axis_seconds(self) -> float:
        """The speaker timeline's length: the mixed file's, else the meeting's. A recording started after the
        meeting did (or stopped before it ended) is shorter than the meeting: scaled to the meeting, every bar was
        drawn compressed, away from where the player's scrubber is at that moment."""
        return self.media_seconds or self.duration_seconds


@dataclass(frozen=True)
class NotReady:
    """A meeting we know, whose transcript and insights are not there yet; a failed one says where and why, as
    the host's failure e-mail does (``where``: the stage in words, blank when not recorded; ``reason``: as stored,
    scrubbed again, blank when not recorded)."""

    topic: str
    stage: str
    failed: bool
    where: str = ""
    reason: str = ""


Lookup = MeetingView | NotReady | None
"""The view, or :class:`NotReady`, or None: no such meeting."""


@dataclass(frozen=True)
class Playable:
    """A meeting whose page is ready: its mixed audio (None when it has none)."""

    audio: StoredObject | None


AudioLookup = Playable | NotReady | None
"""What the audio route needs: :class:`Playable` where :data:`Lookup` has the view."""


def playable_of(found: Lookup) -> AudioLookup:
    """The audio route's answer from a page's: the view's audio, the rest as it is."""
    return Playable(found.audio) if isinstance(found, MeetingView) else found


def source_of(insights: Insights, provider: str | None) -> str:
    """Where the transcript came from, in words: the notifier's ``extra.source`` else the provider's name.

    Stored text: one line of at most :data:`SOURCE_MAX` characters, as the e-mail shows it."""
    source = " ".join(_CONTROLS.sub(" ", insights.extra.get("source", "")[: SOURCE_MAX * 8]).split())[:SOURCE_MAX]
    if source:
        return source
    return _PROVIDER_NAMES.get(provider or "", provider or "")


def _measured(seconds: float | None) -> float | None:
    """A stored length of time fit to show, else None (not measured).

    The records take infinity (it passes ``ge=0``) and 1e300: ``clock`` raised on the one (every visit a 500), printed
    300 digits for the other, and the JSON download said ``Infinity``."""
    ok = seconds is not None and math.isfinite(seconds) and seconds <= stored_insights.MAX_NUMBER
    return seconds if ok else None


def speakers_of(meeting: Meeting, conversation: ConversationMetadata | None) -> tuple[Speaker, ...]:
    """The participants: the mixer's per-speaker metrics, else its channel map and talk times."""
    if conversation is not None and conversation.speakers:
        return tuple(
            Speaker(s.name, s.channel, _measured(s.talk_seconds), s.silence_ratio, s.talk_over_ratio)
            for s in sorted(conversation.speakers, key=lambda s: s.channel)
        )
    talk = meeting.talk_seconds()
    return tuple(
        Speaker(c.participant_name, c.channel, _measured(talk.get(c.channel)))
        for c in sorted(meeting.channel_map, key=lambda c: c.channel)
    )


def duration_of(meeting: Meeting, conversation: ConversationMetadata | None, insights: Insights) -> float:
    """The meeting's length: Zoom's, the archive's, the mixed file's, else the last word's end."""
    candidates = [
        meeting.duration_seconds,
        conversation.duration_seconds if conversation is not None else None,
        conversation.media.length_seconds if conversation is not None else None,
    ]
    measured = next((c for c in candidates if c and math.isfinite(c) and c <= stored_insights.MAX_NUMBER), None)
    last = max((m.end_seconds for m in insights.messages), default=0.0)
    return max(measured or 0.0, last)


def media_seconds_of(conversation: ConversationMetadata | None, insights: Insights) -> float:
    """The mixed file's length as the archive measured it (0 when not: older records, a number out of range), at
    least the last word's end."""
    length = conversation.media.length_seconds if conversation is not None else 0.0
    if not (length and math.isfinite(length) and length <= stored_insights.MAX_NUMBER):
        return 0.0
    return max(length, max((m.end_seconds for m in insights.messages), default=0.0))


def host_of(meeting: Meeting, conversation: ConversationMetadata | None) -> str:
    """The host (recorded user) by name and e-mail, as far as known."""
    if conversation is not None:
        user = conversation.recorded_user
        if user.name and user.user:
            return f"{user.name} <{user.user}>"
        if user.name or user.user:
            return user.name or user.user
    return meeting.host_email or ""


def view_of(
    meeting: Meeting, conversation: ConversationMetadata | None, stored: list[StoredInsights]
) -> MeetingView | NotReady:
    """The page of ``meeting`` from its documents (pure); :class:`NotReady` until its insights are stored."""
    topic = meeting.topic or (conversation.topic if conversation is not None else "")
    current = [s for s in stored if s.generation == meeting.generation]
    if not _ready(meeting, bool(current)):
        return _not_ready(meeting, topic)
    insights = stored_insights.merge([(s.part_offset_seconds, stored_insights.decode(s.insights)) for s in current])
    return MeetingView(
        tenant=meeting.tenant,
        meeting_uuid=meeting.meeting_uuid,
        topic=topic,
        host=host_of(meeting, conversation),
        start_time=meeting.start_time or (conversation.start_time if conversation is not None else None),
        duration_seconds=duration_of(meeting, conversation, insights),
        source=source_of(insights, current[0].provider or meeting.provider),
        insights=insights,
        speakers=speakers_of(meeting, conversation),
        audio=meeting.objects.mixed,
        generation=meeting.generation,
        media_seconds=media_seconds_of(conversation, insights),
        missing=meeting.missing(),
    )


def _ready(meeting: Meeting, has_insights: bool) -> bool:
    """The page shows once the generation's insights are stored and the meeting got that far (no stage: older
    documents, ready with their insights)."""
    return has_insights and (meeting.stage in _READY_STAGES or meeting.stage is None)


def _not_ready(meeting: Meeting, topic: str) -> NotReady:
    failure = meeting.failure if meeting.stage == "failed" else None
    if failure is None:
        return NotReady(topic, meeting.stage or "received", meeting.stage == "failed")
    # Stored reasons are scrubbed when written (Failure.build); again here, as the e-mail does: the page leaves
    # our hands like the e-mail, and a document may predate or bypass the writer's scrub.
    where = stage_text(failure.service, failure.stage)
    return NotReady(topic, "failed", True, where=where, reason=scrub(failure.reason))


class MeetingPages:
    """Reads a meeting's documents (three indexed finds; a fourth, of its jobs, when a generation was submitted
    twice) and keeps the last few pages' data in memory.

    The transcript and insights of a 4-hour meeting are megabytes that the database takes most of a
    page's time to hand over; they do not change within a generation once the meeting is completed,
    so a page reloaded, or its downloads, reuse them. The small meeting document is read every time:
    a replay (new generation) or any later write to the meeting (its ``updated_at``) misses the cache.
    """

    def __init__(self, mongo: Mongo, *, cache_size: int = 8) -> None:
        self._db = mongo.db
        self._cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str, int], tuple[object, MeetingView]] = OrderedDict()

    async def lookup(self, tenant: str, meeting_uuid: str) -> Lookup:
        """The page of ``tenant``'s meeting ``meeting_uuid`` (None when there is no such meeting)."""
        key = {"tenant": tenant, "meeting_uuid": meeting_uuid}
        meeting = await self._meeting(key)
        if meeting is None:
            return None
        cached = self._cached(meeting)
        if cached is not None:
            return cached
        conv_doc = await guarded(self._db[CONVERSATIONS].find_one(key))
        conversation = ConversationMetadata.from_document(conv_doc) if conv_doc is not None else None
        stored = await guarded(self._parts(key, meeting))
        view = view_of(meeting, conversation, stored)
        if isinstance(view, MeetingView) and self._cache_size > 0:
            slot = (tenant, meeting_uuid, meeting.generation)
            self._cache[slot] = ((meeting.stage, meeting.updated_at), view)
            self._cache.move_to_end(slot)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return view

    async def audio_of(self, tenant: str, meeting_uuid: str) -> AudioLookup:
        """The meeting's audio once its page is ready, as :meth:`lookup` decides, without reading its transcript.

        A player sends one range request per seek and the page's downloads go on in parallel: when the page was not
        in memory (more meetings viewed than ``cache_size``, another replica), each request read and decoded the whole
        transcript and insights only to find where the audio is. The meeting document and whether an insights
        document of its generation exists (an id, by the index) are enough.
        """
        key = {"tenant": tenant, "meeting_uuid": meeting_uuid}
        meeting = await self._meeting(key)
        if meeting is None:
            return None
        cached = self._cached(meeting)
        if cached is not None:
            return Playable(cached.audio)
        query = {**key, "generation": meeting.generation}
        stored = await guarded(self._db[INSIGHTS].find_one(query, {"_id": 1}))
        if not _ready(meeting, stored is not None):
            return _not_ready(meeting, meeting.topic or "")
        return Playable(meeting.objects.mixed)

    async def _meeting(self, key: dict[str, str]) -> Meeting | None:
        """The meeting document of ``key``; None when there is none, or it was erased (``zoomsymbl forget`` or
        ``retention``): then no copy of its transcript is kept here either."""
        doc = await guarded(self._db[MEETINGS].find_one(key))
        if doc is None:
            for slot in [s for s in self._cache if s[:2] == (key["tenant"], key["meeting_uuid"])]:
                del self._cache[slot]
            return None
        return Meeting.from_document(doc)

    def _cached(self, meeting: Meeting) -> MeetingView | None:
        """The page kept for ``meeting``'s generation while the meeting is unchanged (its stage and ``updated_at``)."""
        slot = (meeting.tenant, meeting.meeting_uuid, meeting.generation)
        cached = self._cache.get(slot)
        if cached is None or cached[0] != (meeting.stage, meeting.updated_at):
            return None
        self._cache.move_to_end(slot)
        return cached[1]

    async def _parts(self, key: dict[str, str], meeting: Meeting) -> list[StoredInsights]:
        """The stored insights of each part of the meeting's generation that its report joined, in order (at most
        :data:`MAX_PARTS`): one submission's, the generation's jobs read only when it may hold two
        (:mod:`zoomsymbl_web.plans`)."""
        query = {**key, "generation": meeting.generation}
        cursor = self._db[INSIGHTS].find(query).sort("part_index", 1).limit(MAX_PARTS)
        stored = [StoredInsights.from_document(d) async for d in cursor]
        if plans.of_one_plan(stored):
            return stored
        jobs = (_job_or_none(d) async for d in self._db[JOBS].find(query).limit(MAX_PARTS))
        return plans.shown(meeting, stored, [job async for job in jobs if job is not None])


def _job_or_none(doc: Document) -> Job | None:
    """``doc`` as a job; None when it does not validate (an older release's, one edited by hand): not joined."""
    try:
        return Job.from_document(doc)
    except MalformedRecord:
        return None
