"""Pure readers of AssemblyAI's ``speech_understanding.response``: topic summaries and action items.

Documented at https://www.assemblyai.com/docs/speech-understanding/migration-guides/summarization (the
summary moved from the top-level ``summary`` to ``speech_understanding.response.summarization.summary``:
a list of topics, each with ``headline``, ``text``, ``start`` and ``end`` in milliseconds) and announced
at https://www.assemblyai.com/blog/summarization-action-items-update (2026-08-11: action items with
timestamps and a quote). Every field is provider input: read defensively, bounded, lone surrogates replaced
(:func:`~zoomsymbl_common.providers.base.encodable`), a malformed entry is skipped; a section whose ``status``
is not ``completed`` is reported as unavailable with that status.
"""

from __future__ import annotations

from typing import Any

from zoomsymbl_common.providers.base import InsightItem, SummaryTopic, encodable, finite_number

MAX_ITEMS = 200
MAX_TEXT = 2_000


def _ms(value: object) -> float | None:
    # JSON's integers are unbounded (10**400 overflows a float) and its parser takes Infinity: both are absent.
    number = finite_number(value)
    return number / 1000.0 if number is not None and number >= 0 else None


def _text(value: object, limit: int = MAX_TEXT) -> str:
    return encodable(value.strip()[:limit]) if isinstance(value, str) else ""


def _section(response: object, name: str) -> tuple[dict[str, Any] | None, str | None]:
    """(section, why it is unavailable); a missing section is neither present nor an error."""
    if not isinstance(response, dict):
        return None, None
    section = response.get(name)
    if section is None:
        return None, None
    if not isinstance(section, dict):
        return None, f"assemblyai answered a malformed {name} section"
    status = section.get("status", "completed")
    if status != "completed":
        return None, f"assemblyai {name} is {_text(status, 40) or 'unknown'!r}"
    return section, None


def _entries(section: dict[str, Any], *keys: str) -> list[dict[str, Any]]:
    for key in keys:
        value = section.get(key)
        if isinstance(value, list):
            return [e for e in value[:MAX_ITEMS] if isinstance(e, dict)]
    return []


def summary_topics(understanding: object) -> tuple[tuple[SummaryTopic, ...], str | None]:
    """``response.summarization.summary`` → topics in meeting order, and why it is missing if it is."""
    response = understanding.get("response") if isinstance(understanding, dict) else None
    section, why = _section(response, "summarization")
    if section is None:
        return (), why
    topics = []
    for entry in _entries(section, "summary", "topics"):
        headline, text = _text(entry.get("headline"), 300), _text(entry.get("text") or entry.get("summary"))
        if headline or text:
            topics.append(SummaryTopic(headline, text, _ms(entry.get("start")), _ms(entry.get("end"))))
    topics.sort(key=lambda t: t.start_seconds if t.start_seconds is not None else float("inf"))
    return tuple(topics), None


def action_items(understanding: object) -> tuple[tuple[InsightItem, ...], str | None]:
    """``response.action_items`` → items with their time and quote, and why it is missing if it is."""
    response = understanding.get("response") if isinstance(understanding, dict) else None
    section, why = _section(response, "action_items")
    if section is None:
        return (), why
    items = []
    for entry in _entries(section, "action_items", "items"):
        text = _text(entry.get("text") or entry.get("action_item"), 500)
        if not text:
            continue
        owner = _text(entry.get("assignee") or entry.get("owner") or entry.get("speaker"), 200) or None
        items.append(
            InsightItem(
                text=text,
                assignee=owner,
                speaker=_text(entry.get("speaker"), 200) or None,
                start_seconds=_ms(entry.get("start")),
                quote=_text(entry.get("quote"), 500) or None,
                due=_text(entry.get("due"), 64) or None,
            )
        )
    return tuple(items), None
