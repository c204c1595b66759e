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


def _part(
    job: str, index: int, percent: float, *, count: int = 3, generation: int = 1, minute: int = 0
) -> dict[str, object]:
    return {"job_id": job, "percent": percent, "channels_done": 0, "channels": 2, "part_index": index,
            "part_count": count, "generation": generation, "at": AT.replace(minute=minute)}  # fmt: skip


def _plan(durations: list[float], generation: int = 1) -> dict[str, object]:
    parts = [{"index": i, "count": len(durations), "offset_seconds": 0.0, "duration_seconds": d, "bucket": "b",
              "object_key": f"k{i}", "size_bytes": 1} for i, d in enumerate(durations)]  # fmt: skip
    return {"input_hash": "h", "generation": generation, "planned": len(durations), "count": len(durations),
            "parts": parts}  # fmt: skip


def _overall(doc: dict[str, object]) -> str | None:
    for line in _shown(doc).splitlines():
        if line.strip().startswith("transcription overall:"):
            return line.strip().removeprefix("transcription overall: ")
    return None


def test_a_split_meeting_shows_one_figure_over_its_parts_weighted_by_their_length() -> None:
    """Each part's line said how far that part was; nothing said how far the meeting was. Parts weigh by their
    length in the split plan (a 40 min part at 50 % is further than a 5 min one at 100 %); a part with no entry yet
    counts 0 %; an earlier generation's entries do not count."""
    parts = {"a": _part("a", 0, 50.0), "b": _part("b", 1, 100.0), "old": _part("old", 0, 100.0, generation=0)}
    doc = {TRANSCRIPTION_PARTS: parts, "split": _plan([2400.0, 300.0, 900.0])}
    # (50 × 2400 + 100 × 300 + 0 × 900) / 3600
    assert _overall(doc) == "41.7% of generation 1 (2/3 parts started)"


def test_without_a_plan_of_that_generation_the_parts_count_alike_and_the_latest_entry_of_a_part_counts() -> None:
    parts = {"a1": _part("a1", 0, 90.0, minute=1), "a2": _part("a2", 0, 30.0, minute=5), "b": _part("b", 1, 60.0)}
    stale_plan = _plan([10.0, 10.0, 10.0], generation=0)
    assert _overall({TRANSCRIPTION_PARTS: parts, "split": stale_plan}) == "30% of generation 1 (2/3 parts started)"
    huge = _plan([1e308, 1e308, 1e308])
    assert _overall({TRANSCRIPTION_PARTS: parts, "split": huge}) == "30% of generation 1 (2/3 parts started)"


def test_a_meeting_in_one_part_shows_no_overall_line() -> None:
    assert _overall({TRANSCRIPTION_PARTS: {"a": _part("a", 0, 40.0, count=1)}}) is None
