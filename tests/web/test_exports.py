"""The transcript downloads: WebVTT, SRT and text; times past an hour, hostile text kept in its cue."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from zoomsymbl_common.providers.base import InsightItem, Insights, TranscriptMessage
from zoomsymbl_web import exports
from zoomsymbl_web.meeting import MeetingView
from zoomsymbl_web.timeline import Speaker

MESSAGES = (
    TranscriptMessage("Ana <b>", "Hello & welcome\n\n--> 00:00:01.000", 1.5, 3.25, channel=1),
    TranscriptMessage("", "late", 3 * 3600 + 62.0071, 3 * 3600 + 65.5, channel=2),
)


def test_timestamps_past_an_hour_and_their_separators() -> None:
    assert exports.timestamp(4 * 3600 + 5 * 60 + 6.789) == "04:05:06.789"
    assert exports.timestamp(4 * 3600 + 5 * 60 + 6.789, ",") == "04:05:06,789"
    assert exports.timestamp(-1) == "00:00:00.000"
    assert exports.timestamp(59.9996) == "00:01:00.000"


def test_vtt_escapes_text_and_never_breaks_a_cue() -> None:
    body = exports.vtt(MESSAGES)
    assert body.startswith("WEBVTT\n\n1\n00:00:01.500 --> 00:00:03.250\n")
    assert "<v Ana &lt;b&gt;>Hello &amp; welcome -&gt; 00:00:01.000\n" in body
    assert "2\n03:01:02.007 --> 03:01:05.500\n<v Speaker 2>late\n" in body
    cues = body.split("\n\n")
    assert len(cues) == 1 + len(MESSAGES)  # the header, then one block per cue
    assert body.count("-->") == len(MESSAGES)


def test_srt_uses_commas_and_names_the_speaker() -> None:
    body = exports.srt(MESSAGES)
    assert body.startswith("1\n00:00:01,500 --> 00:00:03,250\nAna <b>: Hello & welcome -> 00:00:01.000\n\n2\n")
    assert "03:01:02,007 --> 03:01:05,500\nSpeaker 2: late\n" in body
    assert "." not in body.split("\n")[1]


def test_text_has_one_line_per_utterance() -> None:
    assert exports.text(MESSAGES).splitlines() == [
        "[0:00:01] Ana <b>: Hello & welcome -> 00:00:01.000",
        "[3:01:02] Speaker 2: late",
    ]
    assert exports.text(()) == "(no speech was transcribed)\n"


def test_insights_json_holds_the_meeting_and_its_items() -> None:
    view = MeetingView(
        tenant="acme",
        meeting_uuid="u==",
        topic="Plan",
        host="Ana",
        start_time=datetime(2026, 12, 1, 9, tzinfo=UTC),
        duration_seconds=600.0,
        source="AssemblyAI",
        insights=Insights(messages=MESSAGES, action_items=(InsightItem("Ship", assignee="Bo", start_seconds=12.0),)),
        speakers=(Speaker("Ana", 1, 30.0),),
        audio=None,
    )
    doc = json.loads(exports.insights_json(view))
    assert doc["start_time"] == "2026-12-01T09:00:00+00:00"
    assert doc["insights"]["action_items"][0] == {
        **doc["insights"]["action_items"][0],
        "text": "Ship",
        "assignee": "Bo",
    }
    assert doc["speakers"][0]["talk_seconds"] == 30.0


BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


def test_no_bidi_control_reaches_a_transcript_file() -> None:
    """Plain text cannot isolate a field: U+202E in a name would reverse the rest of its line in any viewer."""
    messages = (
        TranscriptMessage("\u202eAna", "\u2067hello\u202c 10\u200f 20", 1.0, 2.0, channel=1),
        TranscriptMessage("\u061c\u200e", "-\u202e-> still one cue", 3.0, 4.0, channel=2),
    )
    for body in (exports.vtt(messages), exports.srt(messages), exports.text(messages)):
        assert not set(body) & set(BIDI_CONTROLS), body
        assert "Ana" in body and "hello 10 20" in body and "Speaker 2" in body
        assert body.count("-->") == (0 if body.startswith("[") else len(messages))


def test_insights_json_escapes_bidi_controls_and_keeps_the_strings() -> None:
    view = MeetingView(
        tenant="acme",
        meeting_uuid="u==",
        topic=f"Plan{BIDI_CONTROLS}",
        host="\u202eAna",
        start_time=None,
        duration_seconds=60.0,
        source="Zoom transcript",
        insights=Insights(messages=(TranscriptMessage("\u202eAna", "\u2067hi", 1.0, 2.0),)),
        speakers=(Speaker("\u202eAna", 1, 1.0),),
        audio=None,
    )
    body = exports.insights_json(view)
    assert not set(body) & set(BIDI_CONTROLS)
    assert "\\u202e" in body
    doc = json.loads(body)
    assert doc["topic"] == f"Plan{BIDI_CONTROLS}" and doc["host"] == "\u202eAna"
    assert doc["insights"]["messages"][0]["speaker"] == "\u202eAna" and doc["speakers"][0]["name"] == "\u202eAna"
