"""Raw storage keys and the tee that sends one download to S3 and to scratch disk."""

from __future__ import annotations

import base64
import math
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from zoomsymbl_common.events import RecordingFile
from zoomsymbl_common.storage_keys import meeting_key, meeting_uuid_from_key
from zoomsymbl_mixer.errors import TrackInvalid
from zoomsymbl_mixer.preparation import probe_file
from zoomsymbl_mixer.tracks import raw_key, tee_to_file, track_hours


def file(file_id: str, ext: str = "M4A") -> RecordingFile:
    return RecordingFile(file_id=file_id, file_extension=ext, download_url="https://zoom.us/x")


def test_raw_keys_encode_the_meeting_and_keep_plain_file_ids() -> None:
    key = raw_key("acme", "/abc//def==", file("a1b2-c3"))
    _, tenant, encoded, name = key.split("/")
    assert (tenant, name) == ("acme", "a1b2-c3.m4a")
    assert meeting_uuid_from_key(encoded) == "/abc//def=="
    assert encoded == meeting_key("/abc//def==")


@pytest.mark.parametrize("odd", ["../../etc/passwd", "..", "a/b", "id with space"])
def test_odd_file_ids_are_encoded_not_stripped(odd: str) -> None:
    name = raw_key("acme", "m", file(odd)).split("/")[-1]
    assert name.startswith("b64-") and "/" not in name
    encoded = name.removeprefix("b64-").removesuffix(".m4a")
    assert base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode() == odd


async def chunks(*parts: bytes) -> AsyncGenerator[bytes, None]:
    for part in parts:
        yield part


async def test_the_tee_writes_what_it_passes_on_in_larger_pieces(tmp_path: Path) -> None:
    parts = [bytes([i]) * 300 for i in range(10)]
    target = tmp_path / "t.m4a"
    passed = [piece async for piece in tee_to_file(chunks(*parts), target, coalesce=1000)]
    assert b"".join(passed) == b"".join(parts) == target.read_bytes()
    assert [len(p) for p in passed] == [1200, 1200, 600]


async def test_a_file_that_is_not_audio_is_an_invalid_track(tmp_path: Path) -> None:
    page = tmp_path / "page.m4a"
    page.write_bytes(b"<!DOCTYPE html><html><title>Error - Zoom</title></html>")
    with pytest.raises(TrackInvalid, match="'f1' is unusable: ffprobe") as caught:
        await probe_file(page, "f1", timeout=30)
    assert caught.value.stage == "verify"


def test_track_hours_add_up_each_file_and_are_unbounded_without_zoom_times() -> None:
    start = datetime(2026, 12, 4, 9, tzinfo=UTC)

    def timed(file_id: str, minutes: float) -> RecordingFile:
        end = start + timedelta(minutes=minutes)
        return file(file_id).model_copy(update={"recording_start": start, "recording_end": end})

    # Eight one-hour tracks: 8 track-hours, whatever their overlap (ffmpeg indexes each file's frames).
    assert track_hours([timed(f"t{i}", 60) for i in range(8)]) == pytest.approx(8.0)
    assert track_hours([timed("a", 30), timed("b", 90)]) == pytest.approx(2.0)
    assert track_hours([]) == 0.0
    # One file without times: its length is unknown, so the meeting counts as long (copied to ADTS).
    assert track_hours([timed("a", 30), file("b")]) == math.inf
