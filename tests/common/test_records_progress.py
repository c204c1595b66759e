"""Each part's transcription progress on the meeting, and a meeting of an earlier release (one field for all parts)."""

from __future__ import annotations

from datetime import UTC, datetime

from zoomsymbl_common.ops.status import MeetingHistory, format_history
from zoomsymbl_common.records import TRANSCRIPTION_PARTS, Meeting, progress_key

AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _shown(doc: dict[str, object]) -> str:
    meeting = Meeting.from_document({"tenant": "acme", "meeting_uuid": "m1", **doc})
    return format_history(MeetingHistory(meeting, jobs=[], emails=[], insights=[], limiter_slots=[]))


def test_each_part_is_shown_newest_generation_first_and_an_unreadable_entry_is_left_out() -> None:
    parts = {
        "whisper-b": {"job_id": "whisper-b", "percent": 40.0, "channels_done": 1, "channels": 3, "at": AT,
                      "part_index": 1, "part_count": 2, "generation": 1},
        "whisper-a": {"job_id": "whisper-a", "percent": 100.0, "channels_done": 3, "channels": 3, "at": AT,
                      "part_index": 0, "part_count": 2, "generation": 1},
        "whisper-old": {"job_id": "whisper-old", "percent": 12.5, "channels_done": 0, "channels": 3,
                        "part_index": 0, "part_count": 1, "generation": 0},
        "whisper-bad": {"job_id": "whisper-bad", "percent": 250.0},
    }  # fmt: skip
    old = {"job_id": "whisper-legacy", "percent": 5.0, "channels_done": 0, "channels": 3}
    text = _shown({TRANSCRIPTION_PARTS: parts, "transcription_progress": old})
    lines = [line.strip() for line in text.splitlines()]
    start = lines.index("transcription progress: 3")
    assert lines[start + 1 : start + 4] == [
        "- part 1/2 generation 1: 100% (3/3 channels, job whisper-a), at 2026-12-06T12:00:00+00:00",
        "- part 2/2 generation 1: 40% (1/3 channels, job whisper-b), at 2026-12-06T12:00:00+00:00",
        "- part 1/1 generation 0: 12.5% (0/3 channels, job whisper-old), at -",
    ]
    assert "whisper-bad" not in text and "whisper-legacy" not in text, "per-part entries replace the old field"


def test_an_earlier_releases_single_progress_is_still_shown() -> None:
    old = {"job_id": "whisper-1", "percent": 48.2, "channels_done": 1, "channels": 2, "at": AT}
    assert "transcription_progress: 48.2% (1/2 channels, job whisper-1)" in _shown({"transcription_progress": old})


def test_a_job_id_that_is_no_plain_field_name_gets_a_digest_key() -> None:
    assert progress_key("whisper-0f3a") == "whisper-0f3a"
    for hostile in ("a.b", "$set", "x" * 300, ""):
        key = progress_key(hostile)
        assert key.startswith("id-") and "." not in key and len(key) == 43, hostile
    assert progress_key("a.b") != progress_key("a_b")
