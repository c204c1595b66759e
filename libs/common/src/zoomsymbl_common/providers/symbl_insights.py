"""Pure parsers of Symbl conversation answers into the provider-neutral insight types.

Symbl's answers vary between API versions (``timeOffset``/``duration`` in seconds on newer
messages, only ISO ``startTime``/``endTime`` on older ones; ``from.userId`` holding the e-mail), so
every field is read defensively and a malformed entry is skipped rather than failing the meeting.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from zoomsymbl_common.providers.base import InsightItem, TranscriptMessage


def _iso(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _email(person: dict[str, Any]) -> str | None:
    for key in ("email", "userId"):
        value = person.get(key)
        if isinstance(value, str) and "@" in value:
            return value
    return None


def _times(raw: dict[str, Any], origin: datetime | None) -> tuple[float, float]:
    """Start and end in seconds from the conversation's start."""
    start = _number(raw.get("timeOffset"))
    duration = _number(raw.get("duration"))
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
    entries = [m for m in raw if isinstance(m, dict) and isinstance(m.get("text"), str)]
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
    return tuple(sorted(messages, key=lambda m: m.start_seconds))


def parse_items(raw: object) -> tuple[InsightItem, ...]:
    """Topics, questions, action items or follow-ups → insight items."""
    if not isinstance(raw, list):
        return ()
    items = []
    for entry in raw:
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), str):
            continue
        assignee = entry.get("assignee") if isinstance(entry.get("assignee"), dict) else {}
        assert isinstance(assignee, dict)
        name = assignee.get("name") or assignee.get("email")
        due = entry.get("dueBy")
        items.append(
            InsightItem(
                text=entry["text"],
                assignee=str(name) if name else None,
                due=due if isinstance(due, str) and due else None,
                score=_number(entry.get("score")),
            )
        )
    return tuple(items)


def parse_summary(raw: object) -> tuple[str, ...]:
    """``GET /v1/conversations/{id}/summary`` → summary lines."""
    if isinstance(raw, str):
        return (raw,) if raw.strip() else ()
    if not isinstance(raw, list):
        return ()
    return tuple(e["text"] for e in raw if isinstance(e, dict) and isinstance(e.get("text"), str) and e["text"])
