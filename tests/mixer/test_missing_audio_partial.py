"""A rejoiner (two files, one participant) whose one file Zoom no longer had: the meeting's line says part of their
audio is missing, not all their words. The notifier's e-mail and the web page both write :func:`missing_line`. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import escape

from zoomsymbl_common.events import ChannelAssignment, RecordingCompleted, RecordingFile
from zoomsymbl_common.records import Meeting, MissingAudio, missing_line
from zoomsymbl_mixer.mix_record import MixRecord, missing_of

T0 = datetime(2025, 3, 1, 9, 0, 0, tzinfo=UTC)


def rec(file_id: str, name: str, *, start: float = 0.0, email: str | None = None) -> RecordingFile:
    return RecordingFile(
        file_id=file_id,
        participant_name=name,
        participant_email=email,
        recording_start=T0 + timedelta(seconds=start),
        file_size=100,
        file_type="M4A",
        file_extension="M4A",
        download_url=f"https://zoom.us/rec/download/{file_id}",
        status="completed",
    )


def record(missing: tuple[str, ...], channels: dict[str, tuple[str, ...]]) -> MixRecord:
    return MixRecord(
        input_hash="h",
        input_kind="participants",
        bucket="b",
        object_key="mixed/acme/x.flac",
        format="flac",
        channels=len(channels),
        duration_seconds=60.0,
        size_bytes=1,
        channel_map=tuple(
            ChannelAssignment(channel=i + 1, participant_name=name, file_ids=ids, offset_seconds=0.0)
            for i, (name, ids) in enumerate(channels.items())
        ),
        missing_files=missing,
    )


def event(*tracks: RecordingFile) -> RecordingCompleted:
    return RecordingCompleted(event_id="e1", tenant="acme", meeting_uuid="u1", participant_tracks=tracks)


def line(missing: MissingAudio) -> str:
    return missing_line(missing, str, str, "in this report")


def test_a_rejoiner_with_one_of_two_files_missing_lost_part_of_their_audio() -> None:
    mix = record(("bo2",), {"Ana Lee": ("ana",), "Bo Chen": ("bo1",)})
    found = missing_of(event(rec("ana", "Ana Lee"), rec("bo1", "Bo Chen"), rec("bo2", "Bo Chen", start=300)), mix)

    assert found == MissingAudio(names=["Bo Chen"], partial=["Bo Chen"])
    assert line(found) == (
        "Incomplete: Zoom no longer had part of the audio of Bo Chen; those words are not in this report."
    )


def test_a_rejoiner_is_known_by_e_mail_as_the_channel_plan_groups_them() -> None:
    files = (rec("a1", "Ann", email="ann@example.com"), rec("a2", "Ann (phone)", start=90, email="ANN@example.com"))
    found = missing_of(event(*files), record(("a2",), {"Ann": ("a1",)}))

    assert found is not None and (found.names, found.partial) == (["Ann (phone)"], ["Ann (phone)"])
    assert "part of the audio of Ann (phone)" in line(found)


def test_a_participant_wholly_missing_and_a_rejoiner_are_told_apart() -> None:
    files = (rec("ana", "Ana Lee"), rec("bo1", "Bo Chen"), rec("bo2", "Bo Chen", start=300), rec("cy", "Cy"))
    found = missing_of(event(*files), record(("ana", "bo2"), {"Bo Chen": ("bo1",), "Cy": ("cy",)}))

    assert found is not None and found.partial == ["Bo Chen"]
    assert line(found) == (
        "Incomplete: Zoom no longer had the audio of Ana Lee, and part of the audio of Bo Chen; those words are not "
        "in this report."
    )


def test_a_participant_whose_every_file_is_missing_reads_as_before() -> None:
    files = (rec("ana", "Ana Lee"), rec("bo1", "Bo Chen"), rec("bo2", "Bo Chen", start=300))
    found = missing_of(event(*files), record(("bo1", "bo2"), {"Ana Lee": ("ana",)}))

    assert found == MissingAudio(names=["Bo Chen"])
    assert line(found) == "Incomplete: Zoom no longer had the audio of Bo Chen; their words are not in this report."


def test_the_page_escapes_the_partial_line_and_a_stored_note_reads_back() -> None:
    doc = {"tenant": "acme", "meeting_uuid": "m", "missing_audio": {"names": ["<b>Bo</b>"], "partial": ["<b>Bo</b>"]}}
    missing = Meeting.from_document(doc).missing()

    assert missing == MissingAudio(names=["<b>Bo</b>"], partial=["<b>Bo</b>"])
    page = missing_line(missing, lambda n: f"<bdi>{escape(n)}</bdi>", escape, "on this page")
    assert page == (
        "Incomplete: Zoom no longer had part of the audio of <bdi>&lt;b&gt;Bo&lt;/b&gt;</bdi>; those words are not on "
        "this page."
    )
