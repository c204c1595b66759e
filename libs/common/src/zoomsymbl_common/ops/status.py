"""What an operator asks first: where is each meeting, and what happened to this one.

Documents are read through :mod:`zoomsymbl_common.records` (one shape per collection). Every text
that came from outside (topic, host e-mail, failure reason, provider messages) goes through
:func:`~zoomsymbl_common.ops.output.printable` before it is shown; a stored reason (up to
:data:`~zoomsymbl_common.records.base.REASON_LIMIT` characters, often a provider's text) is shortened for the terminal
(:data:`REASON_IN_LISTING`, :data:`REASON_IN_HISTORY`), ``--json`` keeps it whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import Field

from zoomsymbl_common.events import Provider, utcnow
from zoomsymbl_common.mongo import Mongo, guarded
from zoomsymbl_common.ops.output import moment_text, printable, shortened
from zoomsymbl_common.ops.status_progress import combined_progress, progress_line, progress_text
from zoomsymbl_common.records import (
    EMAILS,
    INSIGHTS,
    JOBS,
    LIMITER,
    MEETINGS,
    Document,
    Email,
    Job,
    LimiterSlot,
    MalformedRecord,
    Meeting,
    Record,
    meeting_key,
)

R = TypeVar("R", bound=Record)
REASON_IN_LISTING = 120
"""The most characters of a failure reason on a listing's line (one line per meeting)."""
REASON_IN_HISTORY = 400
"""The most characters of each reason (failure, provider job, e-mail) in one meeting's history."""


class InsightsSummary(Record):
    """An ``insights`` document without its payload: which conversation, of which part and generation."""

    provider: Provider
    conversation_id: str
    generation: int = Field(0, ge=0)
    part_index: int = Field(0, ge=0)
    stored_at: datetime | None = None


# Only these fields of an insights document are read: its payload may be megabytes.
SUMMARY_FIELDS: Document = {name: 1 for name in InsightsSummary.model_fields}


@dataclass
class Listing:
    """Meetings, most recently updated first, and the documents that did not fit the meeting model."""

    meetings: list[Meeting]
    malformed: list[str] = field(default_factory=list)


@dataclass
class MeetingHistory:
    """One meeting and everything linked to it."""

    meeting: Meeting
    jobs: list[Job]
    emails: list[Email]
    insights: list[InsightsSummary]
    limiter_slots: list[LimiterSlot]
    malformed: list[str] = field(default_factory=list)
    """Linked documents that do not fit their model ("<collection> <_id>: why"), shown instead of failing the rest."""

    def as_json(self) -> dict[str, Any]:
        """JSON-ready, without the e-mails' raw messages."""
        return {
            "meeting": self.meeting.model_dump(mode="json"),
            "provider_jobs": [job.model_dump(mode="json", by_alias=True) for job in self.jobs],
            "mails": [mail.model_dump(mode="json", exclude={"raw"}) for mail in self.emails],
            "conversations": [item.model_dump(mode="json") for item in self.insights],
            "limiter_slots": [slot.model_dump(mode="json", by_alias=True) for slot in self.limiter_slots],
            "malformed": self.malformed,
        }


def age(moment: datetime | None, now: datetime | None = None) -> str:
    """A short human age ("3m", "2h", "5d") of ``moment``, or "?"."""
    if moment is None:
        return "?"
    seconds = max(0, int(((now or utcnow()) - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def meeting_filter(tenant: str | None, stage: str | None, failed: bool) -> Document:
    """The MongoDB filter for the listing."""
    query: Document = {}
    if tenant:
        query["tenant"] = tenant
    if failed:
        query["stage"] = "failed"
    elif stage:
        query["stage"] = stage
    return query


def parse_records(model: type[R], docs: Iterable[Document], malformed: list[str] | None = None) -> list[R]:
    """``docs`` as ``model``; a document that does not fit is noted in ``malformed`` (or raises without it)."""
    records: list[R] = []
    for doc in docs:
        try:
            records.append(model.from_document(doc))
        except MalformedRecord as exc:
            if malformed is None:
                raise
            malformed.append(f"{doc.get('_id')!s}: {exc}")
    return records


async def _find(mongo: Mongo, collection: str, query: Document, projection: Document | None = None) -> list[Document]:
    return await guarded(mongo.db[collection].find(query, projection).to_list(None))


async def list_meetings(
    mongo: Mongo, *, tenant: str | None = None, stage: str | None = None, failed: bool = False, limit: int = 50
) -> Listing:
    """Most recently updated meetings first."""
    cursor = mongo.db[MEETINGS].find(meeting_filter(tenant, stage, failed)).sort("updated_at", -1).limit(limit)
    malformed: list[str] = []
    meetings = parse_records(Meeting, await guarded(cursor.to_list(None)), malformed)
    return Listing(meetings, malformed)


async def meeting_history(mongo: Mongo, meeting_uuid: str, tenant: str | None = None) -> MeetingHistory | None:
    """The meeting and everything linked to it: jobs, insights, e-mails, limiter slots."""
    query: Document = {"meeting_uuid": meeting_uuid, **({"tenant": tenant} if tenant else {})}
    found = await guarded(mongo.db[MEETINGS].find_one(query))
    if found is None:
        return None
    meeting = Meeting.from_document(found)
    linked = meeting_key(meeting.tenant, meeting.meeting_uuid)
    malformed: list[str] = []

    async def linked_records(
        model: type[R], collection: str, query: Document, projection: Document | None = None
    ) -> list[R]:
        noted: list[str] = []
        records = parse_records(model, await _find(mongo, collection, query, projection), noted)
        malformed.extend(f"{collection} {note}" for note in noted)
        return records

    jobs = await linked_records(Job, JOBS, linked)
    refs = [job.job_ref for job in jobs]
    return MeetingHistory(
        meeting=meeting,
        jobs=jobs,
        emails=await linked_records(Email, EMAILS, linked, {"raw": 0}),
        insights=await linked_records(InsightsSummary, INSIGHTS, linked, SUMMARY_FIELDS),
        limiter_slots=await linked_records(LimiterSlot, LIMITER, {"ref": {"$in": refs}}) if refs else [],
        malformed=malformed,
    )


def _failure(meeting: Meeting) -> str:
    failure = meeting.failure
    return f"{failure.service}/{failure.stage}: {failure.reason}" if failure else ""


def stage_shown(meeting: Meeting) -> str:
    """The meeting's stage as the listing shows it. A meeting without one is waiting for its run's first stage:
    ``restarted`` after a forced replay (which clears the earlier generation's stage), ``queued`` otherwise (a forced
    replay's document of a meeting never stored before)."""
    if meeting.stage is not None:
        return meeting.stage
    return "restarted" if meeting.generation > 1 else "queued"


def format_listing(meetings: list[Meeting], now: datetime | None = None) -> str:
    """One line per meeting: tenant, stage, age, topic, UUID, failure reason (all printable)."""
    lines = [f"{'TENANT':<12} {'STAGE':<11} {'AGE':>5}  {'TOPIC':<30} MEETING"]
    for meeting in meetings:
        when = meeting.updated_at or meeting.created_at
        topic = printable(meeting.topic)[:30]
        reason = shortened(_failure(meeting), REASON_IN_LISTING)
        line = f"{printable(meeting.tenant):<12} {stage_shown(meeting):<11} {age(when, now):>5}  {topic:<30} "
        lines.append(line + printable(meeting.meeting_uuid) + (f"  ({reason})" if reason else ""))
    return "\n".join(lines)


def _meeting_lines(meeting: Meeting) -> list[str]:
    out = [f"meeting {printable(meeting.meeting_uuid)!r} of tenant {printable(meeting.tenant)!r}"]
    shown = stage_shown(meeting)
    if meeting.stage is None:
        shown += " (its run has not reached a stage yet)"
    out.append(f"  stage: {shown}  generation: {meeting.generation}")
    out += [f"  {name}: {printable(value)}" for name, value in _meeting_fields(meeting) if value]
    if meeting.stages:
        out.append("  stages: " + ", ".join(f"{stage} {moment_text(at)}" for stage, at in meeting.stages.items()))
    if meeting.failure:
        out.append(f"  failure: {shortened(_failure(meeting), REASON_IN_HISTORY)} ({moment_text(meeting.failure.at)})")
    parts = meeting.part_progress()
    if parts:  # one line per part's job: parts of a split meeting are transcribed at once
        out += _section("transcription progress", [progress_line(part) for part in parts])
        combined = combined_progress(meeting, parts)
        if combined:
            out.append(f"  transcription overall: {combined}")
    elif meeting.transcription_progress:  # an earlier release's: whichever part wrote last
        out.append(f"  transcription_progress: {printable(progress_text(meeting.transcription_progress))}")
    return out


def _meeting_fields(meeting: Meeting) -> list[tuple[str, object]]:
    return [
        ("trace_id", meeting.trace_id),
        ("topic", meeting.topic),
        ("host_email", meeting.host_email),
        ("provider", meeting.provider),
        ("start_time", meeting.start_time and moment_text(meeting.start_time)),
    ]


def format_history(history: MeetingHistory) -> str:
    """A readable, secret-free rendering of :func:`meeting_history` (all outside text printable)."""
    meeting = history.meeting
    out = _meeting_lines(meeting)
    mixed = meeting.objects.mixed
    out += _section(
        "files",
        [f"{raw.file_id}: {raw.key} ({raw.size} bytes)" for raw in meeting.objects.raw]
        + [f"{t.file_id}: {t.key} ({t.size_bytes} bytes, Zoom {t.kind})" for t in meeting.transcripts]
        + ([f"mixed: {mixed.key} ({mixed.size} bytes)"] if mixed else []),
    )
    out += _section(
        "channel map",
        [f"{c.channel}: {c.participant_name} <{c.participant_email or '-'}>" for c in meeting.channel_map],
    )
    out += _section("provider jobs", [_job_line(job) for job in history.jobs])
    out += _section(
        "e-mails",
        [f"{m.kind} generation {m.generation}: {m.status}, {m.message_id}, sent {moment_text(m.sent_at)}"
         + (f", last error: {shortened(m.last_error, REASON_IN_HISTORY)}" if m.last_error else "")
         for m in history.emails],
    )  # fmt: skip
    out += _section(
        "conversations", [f"{i.provider} {i.conversation_id} part {i.part_index + 1}" for i in history.insights]
    )
    out += _section(
        "limiter slots",
        [f"{s.account} slot {s.slot} held by {s.ref} until {moment_text(s.expires_at)}" for s in history.limiter_slots],
    )
    if history.malformed:  # unreadable linked documents: named, so the rest of the history still shows
        out += _section("unreadable documents", [shortened(note, REASON_IN_HISTORY) for note in history.malformed])
    return "\n".join(out)


def _job_line(job: Job) -> str:
    line = (
        f"part {job.part_index + 1}/{job.part_count} generation {job.generation}: {job.provider} job"
        f" {job.job_id or '-'} {job.status}, conversation {job.conversation_id or '-'}"
    )
    return line + (f", reason: {shortened(job.status_reason, REASON_IN_HISTORY)}" if job.status_reason else "")


def _section(title: str, lines: list[str]) -> list[str]:
    return [f"  {title}: {len(lines)}", *(f"    - {printable(line)}" for line in lines)]
