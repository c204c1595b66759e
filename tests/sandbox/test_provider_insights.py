"""Symbl-shaped insights are a deterministic function of segments and channel metadata."""

from __future__ import annotations

from datetime import UTC, datetime

from zoomsymbl_sandbox import provider_insights as insights
from zoomsymbl_sandbox.provider_audio import Segment
from zoomsymbl_sandbox.provider_insights import Speaker

START = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
SEGMENTS = [Segment(1, 0.5, 1.5), Segment(2, 2.0, 4.0), Segment(1, 4.5, 5.0)]
SPEAKERS = {1: Speaker("Elisa L", "elisa@example.com"), 2: Speaker("Bob K", "bob@example.com")}


def test_messages_follow_channels_and_number_per_channel() -> None:
    messages = insights.attribute("c1", SEGMENTS, SPEAKERS)
    assert [(m.speaker.name, m.text) for m in messages] == [
        ("Elisa L", "Segment 1 on channel 1 (1.0 s)"),
        ("Bob K", "Segment 1 on channel 2 (2.0 s)"),
        ("Elisa L", "Segment 2 on channel 1 (0.5 s)"),
    ]
    body = insights.message_json(messages[1], "c1", START)
    assert (body["startTime"], body["endTime"], body["timeOffset"]) == (
        "2025-03-01T10:00:02.000Z",
        "2025-03-01T10:00:04.000Z",
        2.0,
    )
    assert insights.attribute("c1", SEGMENTS, SPEAKERS)[0].id == messages[0].id  # stable ids


def test_without_channel_metadata_speakers_alternate() -> None:
    messages = insights.attribute("c1", SEGMENTS, {}, diarization_count=2)
    assert [m.speaker.name for m in messages] == ["Speaker 1", "Speaker 2", "Speaker 1"]


def test_insights_are_derived_per_speaker() -> None:
    messages = insights.attribute("c1", SEGMENTS, SPEAKERS)
    actions = insights.action_items("c1", messages, START)
    assert [a["text"] for a in actions] == [
        "Elisa L to review Segment 1 on channel 1 (1.0 s)",
        "Bob K to review Segment 1 on channel 2 (2.0 s)",
    ]
    assert actions[0]["dueBy"] == "2025-03-08T10:00:00.000Z"
    assert [t["score"] for t in insights.topics("c1", messages)] == [0.429, 0.571]
    assert insights.follow_ups("c1", messages, START)[0]["assignee"] == {
        "id": SPEAKERS[1].id,
        "name": "Elisa L",
        "email": "elisa@example.com",
    }
    assert [s["text"] for s in insights.summary("c1", messages)] == [
        "Elisa L spoke for 1.5 s in 2 segments.",
        "Bob K spoke for 2.0 s in 1 segments.",
    ]
