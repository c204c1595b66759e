"""From a provider's raw result to the report's insights: names instead of channels, and the sections
the provider does not produce derived by the insights engine.

The mixer knows who is on which channel (``channel_map``); a provider only knows channel numbers
("Channel 2"). Every utterance on a named channel gets that participant's name and e-mail; a shared
channel keeps the name the mixer gave it. The insights engine (an OpenAI-compatible endpoint) then
derives questions, follow-ups and decisions, and action items with their owners; where the provider
has action items of its own (AssemblyAI's Speech Understanding, Symbl) they are kept when the engine has
none, so a report never loses a section the provider delivered. When some windows of the transcript failed and
others answered, the engine's sections are used and ``extra[INCOMPLETE]`` says why they miss part of the meeting.
"""

from __future__ import annotations

import dataclasses

from zoomsymbl_common.insights_engine import INCOMPLETE, EngineResult, InsightsEngine, People
from zoomsymbl_common.providers.base import InsightItem, Insights, TranscriptMessage

from zoomsymbl_notifier.meetings import MeetingFacts


def people(facts: MeetingFacts) -> People:
    """The meeting's named participants with their e-mails, and its length."""
    emails = {s.name: s.email for s in facts.speakers if s.name}
    return People(emails=emails, duration_seconds=facts.duration_seconds)


def name_speakers(insights: Insights, facts: MeetingFacts) -> Insights:
    """Messages on a channel of the channel map carry its participant's name (and e-mail when known)."""
    by_channel = {s.channel: s for s in facts.speakers if s.name}
    if not by_channel:
        return insights

    def named(message: TranscriptMessage) -> TranscriptMessage:
        speaker = by_channel.get(message.channel) if message.channel is not None else None
        if speaker is None:
            return message
        return dataclasses.replace(message, speaker=speaker.name, email=message.email or speaker.email)

    return dataclasses.replace(insights, messages=tuple(named(m) for m in insights.messages))


def _with_owner_emails(items: tuple[InsightItem, ...], known: People) -> tuple[InsightItem, ...]:
    return tuple(
        dataclasses.replace(i, assignee_email=i.assignee_email or known.emails.get(i.assignee or "")) for i in items
    )


def combine(insights: Insights, derived: EngineResult, known: People) -> Insights:
    """The provider's result with the engine's sections; the provider's own items win only where the
    engine produced none, and an engine failure is reported as such for the sections it left empty."""
    unavailable = dict(insights.unavailable)
    sections: dict[str, tuple[InsightItem, ...]] = {}
    partial = False  # a section shown is the engine's, and the engine failed for some windows
    for kind in ("questions", "action_items", "follow_ups", "decisions"):
        mine: tuple[InsightItem, ...] = getattr(derived, kind)
        theirs: tuple[InsightItem, ...] = getattr(insights, kind)
        sections[kind] = _with_owner_emails(mine or theirs, known)
        partial = partial or bool(mine and kind in derived.unavailable)
        if kind in derived.unavailable and not sections[kind]:
            unavailable[kind] = derived.unavailable[kind]
        elif sections[kind]:
            unavailable.pop(kind, None)
    # A provider without summary or topics (our own transcriber) gets the engine's.
    summary_topics = insights.summary_topics or (() if insights.summary else derived.summary_topics)
    topics = insights.topics or derived.topics
    engine_summary = bool(derived.summary_topics) and not (insights.summary_topics or insights.summary)
    engine_topics = bool(derived.topics) and not insights.topics
    partial = partial or ((engine_summary or engine_topics) and bool(derived.unavailable))
    extra = insights.extra | {INCOMPLETE: next(iter(derived.unavailable.values()))} if partial else insights.extra
    for kind, have in (("summary", summary_topics or insights.summary), ("topics", topics)):
        if not have and kind in derived.unavailable:
            unavailable.setdefault(kind, derived.unavailable[kind])
        elif have and kind in derived.unavailable:
            unavailable.pop(kind, None)
    return dataclasses.replace(
        insights,
        extra=extra,
        unavailable=unavailable,
        summary_topics=summary_topics,
        topics=topics,
        questions=sections["questions"],
        action_items=sections["action_items"],
        follow_ups=sections["follow_ups"],
        decisions=sections["decisions"],
    )


async def enrich(insights: Insights, facts: MeetingFacts, engine: InsightsEngine | None) -> Insights:
    """Names applied, then the engine's sections added (when the tenant has an engine)."""
    named = name_speakers(insights, facts)
    known = people(facts)
    if engine is None:
        return dataclasses.replace(named, action_items=_with_owner_emails(named.action_items, known))
    return combine(named, await engine.derive(named.messages, known), known)
