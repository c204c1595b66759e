"""SANDBOX Symbl-shaped conversation intelligence derived deterministically from speech segments.

Nothing here is language understanding: every message, question, action item and summary line is a
pure function of the detected segments and the channel->speaker metadata, so a test can predict it
and a wrongly mixed file (wrong channel order, missing speaker) shows up as wrong names and times.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from zoomsymbl_sandbox.provider_audio import Segment

Json = dict[str, object]
_NAMESPACE = uuid.UUID("6f1c9d2e-6a57-4c43-9a55-3f1d1f0e5a11")


@dataclass(frozen=True)
class Speaker:
    name: str
    email: str = ""

    @property
    def id(self) -> str:
        return str(uuid.uuid5(_NAMESPACE, self.email or self.name))


@dataclass(frozen=True)
class Message:
    """A segment with its speaker and stable id; ``number`` counts the speaker channel's segments."""

    id: str
    segment: Segment
    speaker: Speaker
    number: int

    @property
    def text(self) -> str:
        seg = self.segment
        return f"Segment {self.number} on channel {seg.channel} ({seg.duration_s:.1f} s)"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def attribute(
    conversation_id: str, segments: list[Segment], speakers: Mapping[int, Speaker], diarization_count: int = 1
) -> list[Message]:
    """Pair segments with speakers: by channel, or round-robin over ``diarization_count`` speakers when
    the file was analysed as one combined channel (no channel metadata to go by)."""
    messages: list[Message] = []
    per_channel: dict[int, int] = {}
    for index, seg in enumerate(segments):
        label = seg.channel if speakers else index % max(1, diarization_count) + 1
        speaker = speakers.get(label, Speaker(f"Speaker {label}"))
        per_channel[seg.channel] = per_channel.get(seg.channel, 0) + 1
        message_id = str(uuid.uuid5(_NAMESPACE, f"{conversation_id}/message/{index}"))
        messages.append(Message(message_id, seg, speaker, per_channel[seg.channel]))
    return messages


def _from(speaker: Speaker) -> Json:
    return {"id": speaker.id, "name": speaker.name, "userId": speaker.email}


def _assignee(speaker: Speaker) -> Json:
    return {"id": speaker.id, "name": speaker.name, "email": speaker.email}


def message_json(msg: Message, conversation_id: str, started_at: datetime) -> Json:
    seg = msg.segment
    return {
        "id": msg.id,
        "text": msg.text,
        "from": _from(msg.speaker),
        "startTime": iso(started_at + timedelta(seconds=seg.start_s)),
        "endTime": iso(started_at + timedelta(seconds=seg.end_s)),
        "timeOffset": seg.start_s,
        "duration": round(seg.duration_s, 3),
        "conversationId": conversation_id,
        "phrases": [],
        "sentiment": {"polarity": {"score": 0.0}, "suggested": "neutral"},
    }


def by_speaker(messages: list[Message]) -> dict[Speaker, list[Message]]:
    groups: dict[Speaker, list[Message]] = {}
    for msg in messages:
        groups.setdefault(msg.speaker, []).append(msg)
    return groups


def _item_id(conversation_id: str, kind: str, index: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{conversation_id}/{kind}/{index}"))


def topics(conversation_id: str, messages: list[Message]) -> list[Json]:
    total = sum(m.segment.duration_s for m in messages) or 1.0
    return [
        {
            "id": _item_id(conversation_id, "topic", index),
            "text": f"{speaker.name} talk",
            "type": "topic",
            "score": round(sum(m.segment.duration_s for m in group) / total, 3),
            "messageIds": [m.id for m in group],
            "parentRefs": [],
        }
        for index, (speaker, group) in enumerate(by_speaker(messages).items())
    ]


def _insight(conversation_id: str, kind: str, index: int, text: str, msg: Message, due: datetime | None) -> Json:
    item: Json = {
        "id": _item_id(conversation_id, kind, index),
        "text": text,
        "type": kind,
        "score": 0.9,
        "messageIds": [msg.id],
        "from": _from(msg.speaker),
        "assignee": _assignee(msg.speaker),
        "phrases": [],
        "entities": [],
    }
    if due is not None:
        item["dueBy"] = iso(due)
    return item


def questions(conversation_id: str, messages: list[Message]) -> list[Json]:
    """One question per speaker: their first segment."""
    firsts = [group[0] for group in by_speaker(messages).values()]
    return [
        _insight(conversation_id, "question", i, f"Did {m.speaker.name} finish segment {m.number}?", m, None)
        for i, m in enumerate(firsts)
    ]


def action_items(conversation_id: str, messages: list[Message], started_at: datetime) -> list[Json]:
    """One action item per speaker, on their longest segment, due a week after the meeting."""
    longest = [max(g, key=lambda m: m.segment.duration_s) for g in by_speaker(messages).values()]
    due = started_at + timedelta(days=7)
    return [
        _insight(conversation_id, "action_item", i, f"{m.speaker.name} to review {m.text}", m, due)
        for i, m in enumerate(longest)
    ]


def follow_ups(conversation_id: str, messages: list[Message], started_at: datetime) -> list[Json]:
    """The speaker of the last segment sends a recap."""
    if not messages:
        return []
    last = messages[-1]
    due = started_at + timedelta(days=1)
    text = f"{last.speaker.name} to send a recap"
    return [_insight(conversation_id, "follow_up", 0, text, last, due)]


def summary(conversation_id: str, messages: list[Message]) -> list[Json]:
    groups = by_speaker(messages)
    items: list[Json] = []
    for index, (speaker, group) in enumerate(groups.items()):
        talk = sum(m.segment.duration_s for m in group)
        items.append(
            {
                "id": _item_id(conversation_id, "summary", index),
                "text": f"{speaker.name} spoke for {talk:.1f} s in {len(group)} segments.",
                "messageIds": [m.id for m in group],
            }
        )
    return items


def members(messages: list[Message]) -> list[Json]:
    return [_assignee(speaker) for speaker in by_speaker(messages)]
