"""The stored shape of insights: the transcript compressed, old documents still read, hostile ones bounded."""

from __future__ import annotations

import json
import zlib

import bson
from hypothesis import given
from hypothesis import strategies as st
from zoomsymbl_common.logs import register_secret
from zoomsymbl_common.providers.base import MAX_MESSAGES, InsightItem, Insights, SummaryTopic, TranscriptMessage
from zoomsymbl_common.stored_insights import MAX_TRANSCRIPT_BYTES, decode, encode, merge

INSIGHTS = Insights(
    messages=(
        TranscriptMessage("Ana", "hello <b>", 1.0, 2.5, email="ana@example.test", channel=1),
        TranscriptMessage("Bo", "Zoë 🎧 says hi", 3.0, 4.0, channel=2),
    ),
    action_items=(InsightItem("Ship it", assignee="Bo", start_seconds=3.0),),
    topics=(InsightItem("Release"),),
    summary=("A short meeting.",),
    summary_topics=(SummaryTopic("Release", "We ship.", 1.0, 4.0),),
    unavailable={"questions": "the model did not answer"},
)


def test_a_round_trip_through_bson_gives_the_same_insights_with_the_transcript_compressed() -> None:
    doc = encode(INSIGHTS)
    assert "messages" not in doc and isinstance(doc["messages_z"], bytes)
    stored = bson.decode(bson.encode({"insights": doc}))["insights"]
    assert decode(stored) == INSIGHTS


def test_documents_stored_before_the_compression_are_read_as_they_are() -> None:
    old = {
        "messages": [{"speaker": "Ana", "text": "hi", "start_seconds": 1, "end_seconds": 2, "channel": 1}],
        "questions": [{"text": "Why?", "start_seconds": 1.5}],
    }
    read = decode(old)
    assert read.messages == (TranscriptMessage("Ana", "hi", 1.0, 2.0, channel=1),)
    assert read.questions[0].start_seconds == 1.5


def test_a_compressed_transcript_larger_than_any_meeting_or_not_json_reads_as_empty() -> None:
    bomb = zlib.compress(b"[" + b" " * (MAX_TRANSCRIPT_BYTES + 10) + b"]", 9)
    assert decode({"messages_z": bomb}).messages == ()
    assert decode({"messages_z": b"not zlib"}).messages == ()
    assert decode({"messages_z": zlib.compress(b'{"a": 1}')}).messages == ()


def test_no_more_rows_are_read_than_the_writer_keeps() -> None:
    """Three million empty rows compress to ~12 KB: before, all were parsed and became messages (seconds of the web
    service's event loop and hundreds of MB, per part and per page view). Now the first MAX_MESSAGES are read, the
    rest never parsed; the older shape (a BSON list) is cut the same way."""
    bomb = zlib.compress(b"[" + b",".join([b"[]"] * 3_000_000) + b"]", 9)
    assert len(bomb) < 50_000
    assert len(decode({"messages_z": bomb}).messages) == MAX_MESSAGES
    rows = [{"speaker": "Ana", "text": str(n)} for n in range(MAX_MESSAGES + 5)]
    assert len(decode({"messages": rows}).messages) == MAX_MESSAGES
    assert decode({"messages_z": zlib.compress(b" [ ] ")}).messages == ()
    assert decode({"messages_z": zlib.compress(b'[["Ana", "a"] ["Bo", "b"]]')}).messages == (), "not an array"


def test_lone_surrogates_in_the_stored_json_read_as_replacement_characters() -> None:
    """Python's JSON parser takes an escaped lone surrogate; before, it reached the page and the downloads, whose
    UTF-8 encoding raised (a 500 on every view)."""
    packed = zlib.compress(b'[["Ana \\ud83d", "half \\ude00 an emoji", 1, 2, "a\\ud800@example.com", 1]]')
    [message] = decode({"messages_z": packed}).messages
    read = (message.speaker, message.text, message.email)
    assert read == ("Ana \ufffd", "half \ufffd an emoji", "a\ufffd@example.com")
    message.text.encode("utf-8")


def test_malformed_rows_become_empty_fields_not_errors() -> None:
    rows = [["Ana", "ok", 1, 2, None, 1], ["Bo"], [None, None, "x", True, 5, True], "not a row"]
    read = decode({"messages_z": zlib.compress(json.dumps(rows).encode())})
    assert [(m.speaker, m.text, m.start_seconds, m.channel) for m in read.messages] == [
        ("Ana", "ok", 1.0, 1),
        ("Bo", "", 0.0, None),
        ("", "", 0.0, None),
    ]


def test_parts_are_shifted_to_meeting_time_and_merged_in_order() -> None:
    second = Insights(messages=(TranscriptMessage("Bo", "later", 1.0, 2.0),), topics=(InsightItem("release"),))
    merged = merge([(7200.0, second), (0.0, INSIGHTS)])
    assert [m.start_seconds for m in merged.messages] == [1.0, 3.0, 7201.0]
    assert [t.text for t in merged.topics] == ["Release"]  # the same topic once


@given(st.dictionaries(st.text(max_size=12), st.recursive(st.none() | st.integers() | st.text(), st.lists)))
def test_any_stored_document_decodes_without_raising(doc: dict[str, object]) -> None:
    decode(doc)


def test_times_no_clock_can_show_read_as_absent() -> None:
    """``1e999`` in a provider's JSON is infinity to Python: every time format and the JSON export broke on it."""
    rows = [["Ana", "inf", 1e999, 2, None, 1], ["Bo", "nan", float("nan"), float("nan"), None, 2],
            ["Cy", "huge", 1e300, 1e306, None, 3], ["Di", "ok", 5.5, 6.5, None, 4]]  # fmt: skip
    items = [{"text": "t", "start_seconds": float("-inf"), "score": float("nan")}, {"text": "u", "start_seconds": 2.0}]
    read = decode({"messages_z": zlib.compress(json.dumps(rows).encode()), "action_items": items})
    assert [(m.start_seconds, m.end_seconds) for m in read.messages] == [(0.0, 2.0), (0.0, 0.0), (0.0, 0.0), (5.5, 6.5)]
    assert [(i.start_seconds, i.score) for i in read.action_items] == [(None, None), (2.0, None)]
    bson.encode({"i": encode(read)})  # and it stores again


def test_reasons_are_stored_without_the_secrets_this_process_knows() -> None:
    """A provider or the insights engine quoting a key back in why a section is missing: the page shows the stored
    reason from a web process that may hold none of the tenant's keys, so the document must not hold it."""
    key = "stored-reason-key-0123456789abcdef"
    register_secret(key)
    insights = Insights(
        unavailable={"summary": f"provider said: invalid key {key}"},
        extra={"insights_incomplete": f"Authorization: Bearer {key} refused at https://llm.example/v1?k={key}"},
    )
    doc = encode(insights)
    assert key not in repr(doc)
    assert doc["unavailable"]["summary"].startswith("provider said: invalid key ")
    back = decode(doc)
    assert key not in back.unavailable["summary"] and key not in back.extra["insights_incomplete"]
    assert len(encode(Insights(unavailable={"summary": "x" * 10_000}))["unavailable"]["summary"]) == 2400
