"""A meeting's stored insights, one document per provider conversation, put together in meeting time. Pure.

A split recording has one conversation per part whose times start at 0: the part's offset is added
before the parts are joined (as the notifier does for its e-mail).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from zoomsymbl_common.providers.base import InsightItem, Insights, SummaryTopic, TranscriptMessage

ITEM_KINDS = ("topics", "questions", "action_items", "follow_ups", "decisions")
_ITEM_FIELDS = frozenset(f.name for f in dataclasses.fields(InsightItem))


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _message(raw: Mapping[str, Any], offset: float) -> TranscriptMessage:
    start = (_number(raw.get("start_seconds")) or 0.0) + offset
    end = max(start, (_number(raw.get("end_seconds")) or 0.0) + offset)
    channel = raw.get("channel")
    return TranscriptMessage(
        speaker=str(raw.get("speaker") or ""),
        text=str(raw.get("text") or ""),
        start_seconds=start,
        end_seconds=end,
        email=_text(raw.get("email")),
        channel=channel if isinstance(channel, int) and not isinstance(channel, bool) else None,
    )


def _item(raw: Mapping[str, Any], offset: float) -> InsightItem:
    fields = {k: v for k, v in raw.items() if k in _ITEM_FIELDS}
    start = _number(fields.get("start_seconds"))
    return InsightItem(
        text=str(fields.get("text") or ""),
        assignee=_text(fields.get("assignee")),
        due=_text(fields.get("due")),
        score=_number(fields.get("score")),
        speaker=_text(fields.get("speaker")),
        start_seconds=None if start is None else start + offset,
        quote=_text(fields.get("quote")),
        assignee_email=_text(fields.get("assignee_email")),
    )


def _topic(raw: Mapping[str, Any], offset: float) -> SummaryTopic:
    start, end = _number(raw.get("start_seconds")), _number(raw.get("end_seconds"))
    return SummaryTopic(
        headline=str(raw.get("headline") or ""),
        text=str(raw.get("text") or ""),
        start_seconds=None if start is None else start + offset,
        end_seconds=None if end is None else end + offset,
    )


def insights_of(doc: Mapping[str, Any], offset: float = 0.0) -> Insights:
    """The :class:`Insights` the notifier stored (``StoredInsights.insights``), every time ``offset`` s later."""
    items = {kind: tuple(_item(i, offset) for i in _dicts(doc.get(kind))) for kind in ITEM_KINDS}
    return Insights(
        messages=tuple(_message(m, offset) for m in _dicts(doc.get("messages"))),
        summary=tuple(str(s) for s in doc.get("summary") or ()),
        summary_url=_text(doc.get("summary_url")),
        extra={str(k): str(v) for k, v in (doc.get("extra") or {}).items()},
        summary_topics=tuple(_topic(t, offset) for t in _dicts(doc.get("summary_topics"))),
        unavailable={str(k): str(v) for k, v in (doc.get("unavailable") or {}).items()},
        **items,
    )


def _dicts(value: object) -> Iterable[Mapping[str, Any]]:
    if not isinstance(value, list | tuple):
        return ()
    return (v for v in value if isinstance(v, Mapping))


def merged(parts: Sequence[tuple[float, Mapping[str, Any]]]) -> Insights:
    """One meeting's insights from its parts (offset, stored dump): messages in time order, topics once."""
    shifted = [insights_of(doc, offset) for offset, doc in sorted(parts, key=lambda p: p[0])]
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
        summary_topics=tuple(t for ins in shifted for t in ins.summary_topics),
        summary_url=next((ins.summary_url for ins in shifted if ins.summary_url), None),
        extra={k: v for ins in shifted for k, v in ins.extra.items()},
        unavailable={k: v for ins in shifted for k, v in ins.unavailable.items()},
    )
