"""The lines of the meeting report: its sections (summary, topics, questions, items, decisions, talk time), the
attached transcript and a phone call's source line. Pure.

Every line is one line (a line break from a provider cannot forge one of the text part), and every word or name
from outside in it is defanged (:mod:`zoomsymbl_notifier.outside`); the report escapes it for the HTML part.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from datetime import datetime

from zoomsymbl_common.events import CallParty, PhoneCall
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.providers.base import InsightItem, Insights, TranscriptMessage
from zoomsymbl_common.shares import percentages

from zoomsymbl_notifier.meetings import MeetingFacts, Speaker
from zoomsymbl_notifier.outside import clean_line, defanged, outside_name, shown_address

LONGEST = 1e7
"""Seconds (115 days): a time or talk time past it is no measurement."""
_LINE_MAX = 10_000  # characters of one report line (an item is at most 2,000: providers/base.py)
REASON_LINE_MAX = 300
"""Most characters of a stored reason the report shows (the meeting page's ``REASON_MAX``)."""

Section = tuple[str, list[str]]
"""A section's title and its lines."""


def clock(seconds: float) -> str:
    """``h:mm:ss`` of a non-negative duration (``?:??:??`` for one no clock shows: infinite, NaN, 1e300)."""
    if not math.isfinite(seconds) or abs(seconds) > LONGEST:
        return "?:??:??"
    total = max(0, round(seconds))
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def measured(facts: MeetingFacts) -> list[Speaker]:
    """The speakers with a usable talk time (finite, at most :data:`LONGEST`): the chart and the lines."""
    return [s for s in facts.speakers if s.talk_seconds is not None and 0 <= s.talk_seconds <= LONGEST]


def speaker_name(speaker: Speaker) -> str:
    """The speaker's name as the report shows it (defanged), or its channel."""
    return outside_name(speaker.name) or f"Channel {speaker.channel}"


def transcript_text(messages: Sequence[TranscriptMessage]) -> str:
    """The transcript as plain text, one utterance a line."""
    lines = [
        f"[{clock(m.start_seconds)}] {clean_line(m.speaker, 120) or 'Speaker'}: {clean_line(m.text, len(m.text))}"
        for m in messages
    ]
    return "\n".join(lines) + "\n" if lines else "(no speech was transcribed)\n"


def due_date(value: str) -> str:
    """An ISO timestamp as its date (``2026-12-01``); other text as it is."""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        return clean_line(value, 64)


def _item_text(item: InsightItem) -> str:
    owner = outside_name(item.assignee or "")
    if owner and item.assignee_email:
        owner = f"{owner} <{shown_address(item.assignee_email)}>"
    notes = [f"owner: {owner}" if owner else "", f"due: {defanged(due_date(item.due))}" if item.due else ""]
    extra = ", ".join(n for n in notes if n)
    text = f"{defanged(item.text)} ({extra})" if extra else defanged(item.text)
    return _said(item, text)


def _said(item: InsightItem, text: str) -> str:
    """``[0:01:05] Elisa L: text`` when the item knows when (and by whom) it was said."""
    who = f"{outside_name(item.speaker)}: " if item.speaker else ""
    when = f"[{clock(item.start_seconds)}] " if item.start_seconds is not None else ""
    return f"{when}{who}{text}"


def summary_lines(insights: Insights) -> list[str]:
    """The summary by topic (``[0:00:00–0:05:10] Headline: text``), else the provider's summary lines."""
    lines = []
    for topic in insights.summary_topics:
        span = ""
        if topic.start_seconds is not None:
            end = f"–{clock(topic.end_seconds)}" if topic.end_seconds is not None else ""
            span = f"[{clock(topic.start_seconds)}{end}] "
        head = f"{clean_line(topic.headline, 300)}: " if topic.headline else ""
        lines.append(f"{span}{defanged(head)}{defanged(topic.text)}")
    return lines or [defanged(line) for line in insights.summary]


def talk_time_lines(facts: MeetingFacts) -> list[str]:
    """``Name: h:mm:ss (NN%)`` per speaker with a measured talk time; the shares add up to 100 %."""
    speakers = measured(facts)
    seconds = [s.talk_seconds or 0.0 for s in speakers]
    shown = percentages(seconds) if sum(seconds) > 0 else [None] * len(seconds)
    return [
        f"{speaker_name(s)}: {clock(v)}" + (f" ({p}%)" if p is not None else "")
        for s, v, p in zip(speakers, seconds, shown, strict=True)
    ]


def _kept(lines: list[str], keep: int | None) -> list[str]:
    """``lines`` on one line each (a line break from a provider cannot forge a line of the text part), the first
    ``keep`` of them and a line saying how many more there are."""
    cleaned = [clean_line(line, _LINE_MAX) for line in lines]
    if keep is None or len(cleaned) <= keep:
        return cleaned
    return [*cleaned[:keep], f"(and {len(cleaned) - keep} more: see the meeting page)"]


def sections(insights: Insights, facts: MeetingFacts, keep: int | None = None) -> list[Section]:
    """The report's sections in order, each with at most ``keep`` items (None: all) and, when some or all of it is
    unavailable, a last line saying why."""
    summary = summary_lines(insights)
    if not summary and insights.extra.get("summary") == "not ready":
        summary = ["The provider had not finished the summary yet; see the summary page."]
    found = [
        ("Summary", "summary", summary),
        ("Topics", "topics", [defanged(i.text) for i in insights.topics]),
        ("Questions", "questions", [_said(i, defanged(i.text)) for i in insights.questions]),
        ("Action items", "action_items", [_item_text(i) for i in insights.action_items]),
        ("Follow-ups", "follow_ups", [_item_text(i) for i in insights.follow_ups]),
        ("Decisions", "decisions", [_said(i, defanged(i.text)) for i in insights.decisions]),
        ("Talk time", "", talk_time_lines(facts)),
    ]
    return [(title, _with_note(_kept(lines, keep), insights.unavailable.get(key))) for title, key, lines in found]


def _with_note(lines: list[str], why: str | None) -> list[str]:
    """``lines``, and why the section is unavailable or, when it has lines, incomplete (a split meeting's part whose
    sections failed merged with parts whose did not): items missing unsaid read as all there were."""
    if why is None:
        return lines
    said = reason_line(why) or "no reason recorded"  # a blank or null stored reason, as the page says
    return [*lines, f"({'incomplete' if lines else 'unavailable'}: {said})"]


def reason_line(why: str, limit: int = REASON_LINE_MAX) -> str:
    """A stored reason (a section's ``unavailable``, ``insights_incomplete``) fit for the report: scrubbed
    (:func:`~zoomsymbl_common.logs.scrub`: registered secrets, URLs past their host, ``token=…`` pairs), one line of
    at most ``limit`` characters, defanged; "" when blank.

    The reasons are a provider's or the insights engine's words (``answered HTTP 400: '…'``), stored as said: they
    may quote a key or a presigned URL. The first ``8 × limit`` characters are read; when the text goes on, its last
    word there is left out (a cut inside a secret leaves a prefix the redactor no longer recognises) and the line
    ends in "…", as the meeting page's does."""
    head = why[: limit * 8]
    cut = len(why) > len(head)
    if cut:
        words = head.rsplit(None, 1)
        head = words[0] if len(words) == 2 else ""
    line = clean_line(scrub(head, sys.maxsize), sys.maxsize)
    if cut or len(line) > limit:
        line = line[: limit - 1] + "…"
    return defanged(line)


def _party(party: CallParty) -> str:
    name, number = outside_name(party.name, 256), defanged(clean_line(party.did_number or party.number, 64))
    if name and number:
        return f"{name} ({number})"
    return name or number or "unknown"


def call_line(call: PhoneCall) -> str:
    """``Source: Zoom Phone call, Jack (+1209…) → Jill (1026), inbound, 0:00:43``: which call this is."""
    parts = [f"{_party(call.caller)} → {_party(call.callee)}"]
    if call.direction != "unknown":
        parts.append(call.direction)
    if call.duration_seconds is not None:
        parts.append(clock(call.duration_seconds))
    return clean_line("Source: Zoom Phone call, " + ", ".join(parts), 500)
