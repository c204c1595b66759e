"""How a provider conversation's insights are stored in ``insights`` (``StoredInsights.insights``), read back,
shifted to meeting time and merged across the parts of a split recording. Pure.

Written by the notifier, read by the notifier (the e-mail) and the web service (the meeting page). The
transcript is most of a conversation's bytes (a 4-hour meeting: ~10,000 utterances, ~1 MB as BSON
sub-documents); it is stored as one zlib-compressed JSON array of ``[speaker, text, start, end, email,
channel]`` rows in ``messages_z`` (~7× smaller), because the MongoDB-wire server this project runs on
(FerretDB) spends ~0.5 s returning 10,000 sub-documents and ~20 ms returning the same as one binary
(measured 2026-12-03, docs/performance.md). Everything else stays plain fields. Documents written before
(``messages`` as sub-documents) are read as they are. What is read is validated field by field: a
malformed entry becomes empty text or no time, never an exception, and the inflated transcript is bounded.
"""

from __future__ import annotations

import dataclasses
import json
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from itertools import islice
from typing import Any, Final

from bson import Binary

from zoomsymbl_common.logs import scrub
from zoomsymbl_common.providers.base import (
    MAX_MESSAGES,
    InsightItem,
    Insights,
    SummaryTopic,
    TranscriptMessage,
    encodable,
    finite_number,
)

ITEM_KINDS: Final = ("topics", "questions", "action_items", "follow_ups", "decisions")
MAX_TRANSCRIPT_BYTES: Final = 64 * 1024 * 1024
"""Most bytes a stored transcript may inflate to (a 24-hour meeting is ~6 MB): more is treated as empty."""
MAX_NUMBER: Final = 1e7
"""Largest time or score read back (115 days: no meeting is that long)."""
_ITEM_FIELDS: Final = frozenset(f.name for f in dataclasses.fields(InsightItem))


MAX_REASON_CHARS: Final = 2400
"""Longest text kept in ``extra`` and ``unavailable`` (what the page and the e-mail show of a reason)."""


def encode(insights: Insights) -> dict[str, Any]:
    """The BSON document of ``insights``: the transcript compressed in ``messages_z``, the rest as fields.

    The texts of ``extra`` and ``unavailable`` (why a section is missing or incomplete: a provider's or the insights
    engine's words) are stored scrubbed (:func:`~zoomsymbl_common.logs.scrub`: the secrets this process registered,
    URLs cut to their host): the meeting page shows them from a process that may hold none of the tenant's keys
    (``tenantsPerComponent``), so a key a provider quoted back must not reach the document."""
    doc = dataclasses.asdict(insights)
    for name in ("extra", "unavailable"):
        doc[name] = {k: scrub(v, MAX_REASON_CHARS) for k, v in doc[name].items()}
    rows = [[m.speaker, m.text, m.start_seconds, m.end_seconds, m.email, m.channel] for m in insights.messages]
    del doc["messages"]
    doc["messages_z"] = Binary(zlib.compress(json.dumps(rows, ensure_ascii=False).encode("utf-8"), 6))
    return doc


def decode(doc: Mapping[str, Any]) -> Insights:
    """The :class:`Insights` of a stored document (either shape)."""
    items = {kind: tuple(_item(i) for i in _dicts(doc.get(kind))) for kind in ITEM_KINDS}
    # A null value in ``extra`` or a null reason in ``unavailable`` is no text, not "None"; the key stays (a
    # section with a null reason is still unavailable, its reason not recorded).
    extra, unavailable = (
        {str(k): "" if v is None else str(v) for k, v in _mapping(doc.get(name)).items()}
        for name in ("extra", "unavailable")
    )
    return Insights(
        messages=_messages(doc),
        summary=tuple(str(s) for s in _list(doc.get("summary"))),
        summary_url=_text(doc.get("summary_url")),
        extra=extra,
        summary_topics=tuple(_topic(t) for t in _dicts(doc.get("summary_topics"))),
        unavailable=unavailable,
        **items,
    )


def _later(value: float | None, offset: float) -> float | None:
    return None if value is None else value + offset


def shift(insights: Insights, offset_seconds: float) -> Insights:
    """``insights`` with every time in it (messages, items, summary topics) moved ``offset_seconds`` later."""
    if not offset_seconds:
        return insights
    messages = tuple(
        dataclasses.replace(
            m, start_seconds=m.start_seconds + offset_seconds, end_seconds=m.end_seconds + offset_seconds
        )
        for m in insights.messages
    )
    moved: dict[str, tuple[InsightItem, ...]] = {
        kind: tuple(
            dataclasses.replace(i, start_seconds=_later(i.start_seconds, offset_seconds))
            for i in getattr(insights, kind)
        )
        for kind in ITEM_KINDS
    }
    topics = tuple(
        dataclasses.replace(
            t, start_seconds=_later(t.start_seconds, offset_seconds), end_seconds=_later(t.end_seconds, offset_seconds)
        )
        for t in insights.summary_topics
    )
    return dataclasses.replace(insights, messages=messages, summary_topics=topics, **moved)  # type: ignore[arg-type]


def merge(parts: Sequence[tuple[float, Insights]]) -> Insights:
    """One meeting's insights from its parts (offset in the meeting, the part's insights): messages in time
    order, topics once (a split recording has one conversation per part whose times start at 0)."""
    shifted = [shift(ins, offset) for offset, ins in sorted(parts, key=lambda p: p[0])]
    topics: dict[str, InsightItem] = {}
    for ins in shifted:
        for topic in ins.topics:
            topics.setdefault(topic.text.strip().lower(), topic)
    messages = sorted((m for ins in shifted for m in ins.messages), key=lambda m: (m.start_seconds, m.end_seconds))
    return Insights(
        messages=tuple(messages),
        topics=tuple(topics.values()),
        questions=tuple(q for ins in shifted for q in ins.questions),
        action_items=tuple(a for ins in shifted for a in ins.action_items),
        follow_ups=tuple(f for ins in shifted for f in ins.follow_ups),
        decisions=tuple(d for ins in shifted for d in ins.decisions),
        summary=tuple(s for ins in shifted for s in ins.summary),
        summary_topics=_summary_topics(shifted),
        summary_url=next((ins.summary_url for ins in shifted if ins.summary_url), None),
        extra={k: v for ins in shifted for k, v in ins.extra.items()},
        unavailable={k: v for ins in shifted for k, v in ins.unavailable.items()},
    )


def _summary_topics(parts: Sequence[Insights]) -> tuple[SummaryTopic, ...]:
    """Every part's summary by topic, in part order; a part summarised in plain lines only (the insights
    engine stood in for one part, not another) has them as topics of its own, since a reader shows the
    lines only when there are no topics at all: they would be lost."""
    topics = tuple(t for ins in parts for t in ins.summary_topics)
    if not topics:
        return ()
    return tuple(t for ins in parts for t in ins.summary_topics or tuple(SummaryTopic("", s) for s in ins.summary))


def _messages(doc: Mapping[str, Any]) -> tuple[TranscriptMessage, ...]:
    packed = doc.get("messages_z")
    if isinstance(packed, bytes | bytearray):
        return tuple(_row(r) for r in _inflate(bytes(packed)) if isinstance(r, list))
    return tuple(_message(m) for m in islice(_dicts(doc.get("messages")), MAX_MESSAGES))


def _inflate(packed: bytes) -> list[Any]:
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(packed, MAX_TRANSCRIPT_BYTES)
        if inflater.unconsumed_tail:
            return []  # larger than any meeting: not ours to trust
        return _first_rows(raw.decode("utf-8"), MAX_MESSAGES)
    except (zlib.error, ValueError):
        return []


_SPACE = re.compile(r"[ \t\n\r]*")


def _after_space(raw: str, at: int) -> int:
    found = _SPACE.match(raw, at)
    return found.end() if found else at


def _first_rows(raw: str, most: int) -> list[Any]:
    """The first ``most`` items of the JSON array ``raw``, parsed one at a time: the rest is never parsed.

    As many rows as the writer keeps (``bound_transcript``: :data:`MAX_MESSAGES`). Parsing the whole array first
    let a few kilobytes compressed (``[],[],…``, ~1,000:1) become millions of rows: seconds of the event loop and
    hundreds of MB per part read. Raises ``ValueError`` when ``raw`` is no JSON array.
    """
    decoder = json.JSONDecoder()
    at = _after_space(raw, 0)
    if raw[at : at + 1] != "[":
        raise ValueError("not a JSON array")
    at = _after_space(raw, at + 1)
    rows: list[Any] = []
    if raw[at : at + 1] == "]":
        return rows
    while len(rows) < most:
        row, at = decoder.raw_decode(raw, at)
        rows.append(row)
        at = _after_space(raw, at)
        if raw[at : at + 1] == "]":
            break
        if raw[at : at + 1] != ",":
            raise ValueError("not a JSON array")
        at = _after_space(raw, at + 1)
    return rows


def _row(row: list[Any]) -> TranscriptMessage:
    speaker, text, start, end, email, channel = (row + [None] * 6)[:6]
    return _message(
        {"speaker": speaker, "text": text, "start_seconds": start, "end_seconds": end, "email": email,
         "channel": channel}
    )  # fmt: skip


def _message(raw: Mapping[str, Any]) -> TranscriptMessage:
    start = _number(raw.get("start_seconds")) or 0.0
    end = max(start, _number(raw.get("end_seconds")) or 0.0)
    channel = raw.get("channel")
    # Lone surrogates (an escaped "\\ud83d" in the stored JSON: half an emoji) made every UTF-8 answer of a page raise.
    return TranscriptMessage(
        speaker=encodable(str(raw.get("speaker") or "")),
        text=encodable(str(raw.get("text") or "")),
        start_seconds=start,
        end_seconds=end,
        email=encodable(_text(raw.get("email"))),
        channel=channel if isinstance(channel, int) and not isinstance(channel, bool) else None,
    )


def _item(raw: Mapping[str, Any]) -> InsightItem:
    fields = {k: v for k, v in raw.items() if k in _ITEM_FIELDS}
    start = _number(fields.get("start_seconds"))
    return InsightItem(
        text=str(fields.get("text") or ""),
        assignee=_text(fields.get("assignee")),
        due=_text(fields.get("due")),
        score=_number(fields.get("score")),
        speaker=_text(fields.get("speaker")),
        start_seconds=start,
        quote=_text(fields.get("quote")),
        assignee_email=_text(fields.get("assignee_email")),
    )


def _topic(raw: Mapping[str, Any]) -> SummaryTopic:
    return SummaryTopic(
        headline=str(raw.get("headline") or ""),
        text=str(raw.get("text") or ""),
        start_seconds=_number(raw.get("start_seconds")),
        end_seconds=_number(raw.get("end_seconds")),
    )


def _number(value: object) -> float | None:
    """A finite number within :data:`MAX_NUMBER`, else None (NaN, ±infinity or 1e300 would break every
    time format and make the JSON export invalid)."""
    number = finite_number(value)
    return number if number is not None and abs(number) <= MAX_NUMBER else None


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _list(value: object) -> Iterable[Any]:
    return value if isinstance(value, list | tuple) else ()


def _mapping(value: object) -> Mapping[Any, Any]:
    return value if isinstance(value, Mapping) else {}


def _dicts(value: object) -> Iterable[Mapping[str, Any]]:
    return (v for v in _list(value) if isinstance(v, Mapping))
