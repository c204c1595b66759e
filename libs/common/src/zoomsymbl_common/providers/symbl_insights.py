"""Pure parsers of Symbl conversation answers into the provider-neutral insight types.

Symbl's answers vary between API versions (``timeOffset``/``duration`` in seconds on newer
messages, only ISO ``startTime``/``endTime`` on older ones; ``from.userId`` holding the e-mail), so
every field is read defensively and a malformed entry is skipped rather than failing the meeting.
Every text has its lone surrogates replaced (:func:`~zoomsymbl_common.providers.base.encodable`: they are
valid JSON, not UTF-8). Every answer is also bounded (it is stored and e-mailed): items as AssemblyAI's
Speech Understanding readers bound them, the transcript by
:func:`~zoomsymbl_common.providers.base.bound_transcript`, which every transcript path shares (it lives in
:mod:`~zoomsymbl_common.providers.base`; the names stay importable here).
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice
from typing import Any

from zoomsymbl_common.providers.assemblyai_understanding import MAX_ITEMS, MAX_TEXT
from zoomsymbl_common.providers.base import (
    MAX_MESSAGES,
    MAX_NAME,
    MAX_TRANSCRIPT_BYTES,
    InsightItem,
    TranscriptMessage,
    bound_transcript,
    encodable,
    finite_number,
)

MAX_EMAIL = 320  # RFC 5321's path limit is 256; a longer value is no address
MAX_SUMMARY_TEXT = 10 * MAX_TEXT
"""A summary answered as one string (older answers) is the whole summary, not one line of it."""


def _iso(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    # One naive time among aware ones would make the subtraction below raise: read naive as UTC.
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _email(person: dict[str, Any]) -> str | None:
    for key in ("email", "userId"):
        value = person.get(key)
        if isinstance(value, str) and "@" in value and len(value) <= MAX_EMAIL:
            return value
    return None


def _times(raw: dict[str, Any], origin: datetime | None) -> tuple[float, float]:
    """Start and end in seconds from the conversation's start."""
    start = finite_number(raw.get("timeOffset"))
    duration = finite_number(raw.get("duration"))
    began, ended = _iso(raw.get("startTime")), _iso(raw.get("endTime"))
    if start is None:
        start = (began - origin).total_seconds() if began and origin else 0.0
    if duration is None:
        duration = (ended - began).total_seconds() if began and ended else 0.0
    return start, start + max(0.0, duration)


def parse_messages(raw: object) -> tuple[TranscriptMessage, ...]:
    """``GET /v1/conversations/{id}/messages`` → transcript messages in time order."""
    if not isinstance(raw, list):
        return ()
    # Symbl answers in time order: the bound is taken before the work, and the time sort keeps it.
    entries = [m for m in raw if isinstance(m, dict) and isinstance(m.get("text"), str)][:MAX_MESSAGES]
    starts = [t for t in (_iso(m.get("startTime")) for m in entries) if t is not None]
    origin = min(starts) if starts else None
    messages = []
    for entry in entries:
        person = entry.get("from") if isinstance(entry.get("from"), dict) else {}
        assert isinstance(person, dict)
        start, end = _times(entry, origin)
        channel = entry.get("channel")
        messages.append(
            TranscriptMessage(
                speaker=str(person.get("name") or "Unknown speaker"),
                text=entry["text"],
                start_seconds=start,
                end_seconds=end,
                email=_email(person),
                channel=channel if isinstance(channel, int) and not isinstance(channel, bool) else None,
            )
        )
    return bound_transcript(sorted(messages, key=lambda m: m.start_seconds))


def parse_items(raw: object) -> tuple[InsightItem, ...]:
    """Topics, questions, action items or follow-ups → insight items."""
    if not isinstance(raw, list):
        return ()
    items: list[InsightItem] = []
    for entry in raw:
        if len(items) == MAX_ITEMS:
            break
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), str):
            continue
        assignee = entry.get("assignee") if isinstance(entry.get("assignee"), dict) else {}
        assert isinstance(assignee, dict)
        name = assignee.get("name") or assignee.get("email")
        due = entry.get("dueBy")
        items.append(
            InsightItem(
                text=encodable(entry["text"][:MAX_TEXT]),
                assignee=encodable(str(name)[:MAX_NAME]) if name else None,
                due=encodable(due[:64]) if isinstance(due, str) and due else None,
                score=finite_number(entry.get("score")),
            )
        )
    return tuple(items)


def parse_summary(raw: object) -> tuple[str, ...]:
    """``GET /v1/conversations/{id}/summary`` → summary lines."""
    if isinstance(raw, str):
        return (encodable(raw[:MAX_SUMMARY_TEXT]),) if raw.strip() else ()
    if not isinstance(raw, list):
        return ()
    lines = (e["text"] for e in raw if isinstance(e, dict) and isinstance(e.get("text"), str) and e["text"])
    return tuple(encodable(line[:MAX_TEXT]) for line in islice(lines, MAX_ITEMS))


__all__ = [
    "MAX_EMAIL",
    "MAX_MESSAGES",
    "MAX_NAME",
    "MAX_SUMMARY_TEXT",
    "MAX_TRANSCRIPT_BYTES",
    "bound_transcript",
    "finite_number",
    "parse_items",
    "parse_messages",
    "parse_summary",
]
