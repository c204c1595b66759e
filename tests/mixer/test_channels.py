"""Which files are mixed and where each lands: delays, stable order, shared and overflow channels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from zoomsymbl_common.events import RecordingCompleted, RecordingFile
from zoomsymbl_mixer.channels import (
    CALL_AUDIO,
    CALL_SIDES,
    MEETING_AUDIO,
    OTHERS,
    Track,
    overflowed,
    per_track,
    plan_mix,
    split_stereo,
)
from zoomsymbl_mixer.selection import extension, input_hash, selections

T0 = datetime(2025, 3, 1, 9, 0, 0, tzinfo=UTC)


def rec(
    file_id: str,
    name: str | None = None,
    *,
    start: float | None = 0.0,
    email: str | None = None,
    kind: str = "",
    file_type: str = "M4A",
    status: str = "completed",
) -> RecordingFile:
    return RecordingFile(
        file_id=file_id,
        participant_name=name,
        participant_email=email,
        recording_start=None if start is None else T0 + timedelta(seconds=start),
        file_size=100,
        file_type=file_type,
        file_extension=file_type,
        recording_type=kind,
        download_url=f"https://zoom.us/rec/download/{file_id}",
        status=status,
    )


def track(file: RecordingFile, duration: float = 10.0) -> Track:
    return Track(file=file, path=f"/scratch/{file.file_id}.m4a", duration=duration)


def event(tracks: tuple[RecordingFile, ...] = (), fallback: tuple[RecordingFile, ...] = ()) -> RecordingCompleted:
    return RecordingCompleted(
        event_id="e1", tenant="acme", meeting_uuid="u1", participant_tracks=tracks, fallback_files=fallback
    )


def test_participant_tracks_come_first_then_audio_only_then_video() -> None:
    found = selections(
        event(
            (rec("p1", "Ann"), rec("p2", "Bob", status="processing")),
            (
                rec("v", file_type="MP4", kind="shared_screen_with_speaker_view"),
                rec("a", file_type="M4A", kind="audio_only"),
                rec("chat", file_type="CHAT"),
            ),
        )
    )
    assert [(s.kind, [f.file_id for f in s.files]) for s in found] == [
        ("participants", ["p1"]),
        ("audio_only", ["a"]),
        ("video", ["v"]),
    ]
    assert [s.diarization for s in found] == [False, True, True]


def test_a_recording_without_audio_has_no_selection() -> None:
    assert selections(event((), (rec("chat", file_type="CHAT"), rec("t", file_type="TRANSCRIPT")))) == []


def test_each_track_is_delayed_by_its_start_after_the_earliest() -> None:
    files = [rec("late", "Late Larry", start=1200.25), rec("first", "Ann", start=0), rec("mid", "Bob", start=30)]
    plan = plan_mix([track(f) for f in files], max_channels=32)
    assert plan.delays_ms == (1200250, 0, 30000)
    assert [c.participant_name for c in plan.assignments()] == ["Ann", "Bob", "Late Larry"]
    assert [c.offset_seconds for c in plan.assignments()] == [0.0, 30.0, 1200.25]
    assert plan.total_seconds == pytest.approx(1210.25)


def test_the_channel_order_does_not_depend_on_the_event_order() -> None:
    files = [rec("b", "Bob"), rec("a", "Ann"), rec("c", "Zoë 🎧 Ng", start=5), rec("d", "Jean-Luc Pérez", start=5)]
    first = plan_mix([track(f) for f in files], max_channels=32).assignments()
    second = plan_mix([track(f) for f in reversed(files)], max_channels=32).assignments()
    assert first == second
    assert [c.participant_name for c in first] == ["Ann", "Bob", "Jean-Luc Pérez", "Zoë 🎧 Ng"]


def test_a_participant_who_rejoined_keeps_one_channel() -> None:
    files = [
        rec("s1", "Ann", start=0, email="ann@example.com"),
        rec("s2", "Ann (phone)", start=100, email="ANN@example.com"),
        rec("b", "Bob", start=0),
    ]
    plan = plan_mix([track(f, duration=50) for f in files], max_channels=32)
    ann = plan.assignments()[0]
    assert (ann.participant_name, ann.participant_email, ann.file_ids) == ("Ann", "ann@example.com", ("s1", "s2"))
    assert not ann.mixed
    assert len(plan.channels) == 2


def test_two_people_with_the_same_name_at_the_same_time_get_two_channels() -> None:
    plan = plan_mix([track(rec("x", "iPhone")), track(rec("y", "iPhone"))], max_channels=32)
    assert [c.file_ids for c in plan.assignments()] == [("x",), ("y",)]


def test_above_max_channels_the_most_talkative_keep_their_channels() -> None:
    files = [rec(f"f{i}", f"Speaker {i}", start=i) for i in range(5)]
    talk = {"f0": 1.0, "f1": 50.0, "f2": 0.0, "f3": 30.0, "f4": 40.0}
    plan = plan_mix([track(f) for f in files], max_channels=3, talk_seconds=talk)
    names = [(c.participant_name, c.file_ids, c.mixed) for c in plan.assignments()]
    assert names == [
        ("Speaker 1", ("f1",), False),
        ("Speaker 4", ("f4",), False),
        (OTHERS, ("f0", "f2", "f3"), True),
    ]
    assert overflowed(plan)
    assert plan.assignments()[2].offset_seconds == 0.0


def test_at_max_channels_nobody_shares() -> None:
    plan = plan_mix([track(rec(f"f{i}", f"S{i}")) for i in range(3)], max_channels=3)
    assert not overflowed(plan)
    assert all(not c.mixed for c in plan.assignments())


def test_the_audio_only_fallback_is_one_shared_channel() -> None:
    plan = plan_mix([track(rec("a", None, kind="audio_only"))], max_channels=32, kind="audio_only")
    [only] = plan.assignments()
    assert (only.participant_name, only.mixed, only.file_ids) == (MEETING_AUDIO, True, ("a",))


def test_tracks_without_start_times_are_not_delayed() -> None:
    plan = plan_mix([track(rec("a", "A", start=None)), track(rec("b", "B", start=None), 20)], max_channels=8)
    assert plan.delays_ms == (0, 0)
    assert plan.total_seconds == 20


def test_per_track_gives_each_track_its_own_channel() -> None:
    files = [rec("s1", "Ann", start=0), rec("s2", "Ann", start=100)]
    plan = plan_mix([track(f, 50) for f in files], max_channels=8)
    assert len(plan.channels) == 1
    assert [c.members for c in per_track(plan).channels] == [(0,), (1,)]


def test_input_hash_ignores_order_and_urls_but_not_files_or_settings() -> None:
    a, b = rec("a", "A"), rec("b", "B")
    moved = a.model_copy(update={"download_url": "https://zoom.us/rec/download/other"})
    base = input_hash([a, b], {"format": "auto"})
    assert input_hash([b, moved], {"format": "auto"}) == base
    assert input_hash([a], {"format": "auto"}) != base
    assert input_hash([a, b], {"format": "wav"}) != base


def test_extensions_are_safe_for_storage_keys() -> None:
    assert extension(rec("a", file_type="M4A")) == "m4a"
    assert extension(rec("a", file_type="../x")) == "bin"


def test_emails_fill_unshared_channels_by_name_and_ambiguous_names_get_none() -> None:
    from zoomsymbl_mixer.channels import Channel, MixPlan, with_emails

    plan = MixPlan(
        tracks=(),
        delays_ms=(),
        channels=(
            Channel("Elisa L", None, (0,), False),
            Channel("Bob", None, (1,), False),
            Channel("Known", "known@x.test", (2,), False),
            Channel("Others", None, (3, 4), True),
        ),
        total_seconds=1.0,
    )
    people = [("elisa l", "elisa@x.test"), ("Bob", "bob1@x.test"), ("Bob", "bob2@x.test"), ("Known", "other@x.test")]
    assert [c.email for c in with_emails(plan, people).channels] == ["elisa@x.test", None, "known@x.test", None]


def test_a_phone_call_is_its_one_mp3_and_a_stereo_one_keeps_two_sides() -> None:
    mp3 = RecordingFile(file_id="rec1", file_type="MP3", file_extension="mp3", download_url="https://zoom.us/x")
    event = RecordingCompleted(
        event_id="e", tenant="acme", meeting_uuid="phone:rec1", fallback_files=(mp3,), platform="zoom_phone"
    )
    [choice] = selections(event)
    assert (choice.kind, choice.files) == ("phone", (mp3,))
    mono = Track(mp3, "/tmp/rec1.mp3", 10.0, 48_000, channels=1)
    plan = plan_mix(split_stereo(mono), max_channels=2, kind="phone")
    assert [(c.name, c.mixed) for c in plan.channels] == [(CALL_AUDIO, True)]
    stereo = Track(mp3, "/tmp/rec1.mp3", 10.0, 48_000, channels=2)
    sides = split_stereo(stereo)
    assert [t.source_channel for t in sides] == [0, 1]
    plan = plan_mix(sides, max_channels=2, kind="phone")
    assert [(c.name, c.mixed, c.members) for c in plan.channels] == [
        (CALL_SIDES[0], False, (0,)),
        (CALL_SIDES[1], False, (1,)),
    ]


def test_every_stretch_of_a_recording_stopped_and_started_again_is_chosen_and_no_interpreter() -> None:
    # Zoom makes a new set of files each time the recording starts again (a pause makes none); the files of a
    # stretch share its recording_start, an MP4 per layout. An interpreter's audio is an M4A too.
    found = selections(
        event(
            (),
            (
                rec("interp", file_type="M4A", kind="audio_interpretation"),
                rec("a2", file_type="M4A", kind="audio_only", start=1800),
                rec("v1-gallery", file_type="MP4", kind="gallery_view"),
                rec("a1", file_type="M4A", kind="audio_only"),
                rec("v1-speaker", file_type="MP4", kind="shared_screen_with_speaker_view"),
                rec("v2", file_type="MP4", kind="shared_screen_with_speaker_view", start=1800),
                rec("sign", file_type="MP4", kind="sign_interpretation", start=900),
            ),
        )
    )
    assert [(s.kind, [f.file_id for f in s.files]) for s in found] == [
        ("audio_only", ["a1", "a2"]),
        ("video", ["v1-gallery", "v2"]),
    ]


def test_a_file_starting_inside_the_stretch_before_is_no_stretch_of_its_own() -> None:
    whole = rec("whole", file_type="M4A", kind="audio_only").model_copy(
        update={"recording_end": T0 + timedelta(seconds=600)}
    )
    inside = rec("inside", file_type="M4A", kind="audio_only", start=300)
    later = rec("later", file_type="M4A", kind="audio_only", start=600)
    [choice] = selections(event((), (inside, later, whole)))
    assert [f.file_id for f in choice.files] == ["whole", "later"]


def test_without_zoom_times_only_the_first_audio_only_file_is_mixed() -> None:
    files = (rec("a", file_type="M4A", kind="audio_only", start=None), rec("b", kind="audio_only", start=None))
    [choice] = selections(event((), files))
    assert [f.file_id for f in choice.files] == ["a"]


def test_the_stretches_of_one_recording_share_one_channel_each_at_its_start() -> None:
    stretches = [rec("a2", kind="audio_only", start=1800), rec("a1", kind="audio_only")]
    plan = plan_mix([track(f, duration=600) for f in stretches], max_channels=32, kind="audio_only")
    [only] = plan.assignments()
    assert (only.participant_name, only.mixed, only.file_ids) == (MEETING_AUDIO, True, ("a1", "a2"))
    assert plan.delays_ms == (1_800_000, 0)
    assert plan.total_seconds == 2400


def test_a_file_id_listed_twice_is_one_file_the_first_entry(caplog: pytest.LogCaptureFixture) -> None:
    first, again = rec("p1", "Ann"), rec("p1", "Ann (forged)", start=5.0)
    found = selections(event((first, rec("p2", "Bob"), again), (rec("a", kind="audio_only"), rec("p2", "Bob"))))

    assert [(s.kind, [f.file_id for f in s.files]) for s in found] == [
        ("participants", ["p1", "p2"]),  # before: p1 twice, two channels of one person
        ("audio_only", ["a"]),
    ]
    assert found[0].files[0] == first
    assert [r.getMessage() for r in caplog.records].count("file listed twice in the recording, left out") == 2


def test_a_rejoin_overlapping_by_up_to_zooms_one_second_keeps_one_channel() -> None:
    # Zoom's times are whole seconds and an AAC length runs a frame long: the first file "ends" after the second began.
    files = [rec("s1", "Ann", start=0), rec("s2", "Ann", start=50), rec("b", "Bob", start=0)]
    plan = plan_mix([track(files[0], duration=50.9), track(files[1]), track(files[2], duration=60)], max_channels=32)
    assert [c.file_ids for c in plan.assignments()] == [("s1", "s2"), ("b",)]  # before: Ann on two channels

    apart = [rec("x", "iPhone", start=0), rec("y", "iPhone", start=48)]  # 2 s at once: two people, one name
    plan = plan_mix([track(apart[0], duration=50), track(apart[1])], max_channels=32)
    assert [c.file_ids for c in plan.assignments()] == [("x",), ("y",)]


_KINDS = st.sampled_from(["", "M4A", "MP4", "M4V", "MP3", "WAV", "TRANSCRIPT", "CC", "CHAT", "TIMELINE"])
_FILES = st.builds(
    lambda n, kind, ext, rtype, status: RecordingFile(
        file_id=f"f{n}", file_type=kind, file_extension=ext, recording_type=rtype, status=status,
        download_url=f"https://zoom.us/rec/download/f{n}",
    ),
    st.integers(0, 5), _KINDS, st.sampled_from(["", "m4a", "mp4", "vtt"]),
    st.sampled_from(["", "audio_only", "shared_screen_with_speaker_view", "audio_interpretation", "audio_transcript"]),
    st.sampled_from(["completed", "processing"]),
)  # fmt: skip


@given(st.lists(_FILES, max_size=4), st.lists(_FILES, max_size=4), st.sampled_from(["zoom_meeting", "zoom_phone"]))
def test_an_event_carries_audio_exactly_when_the_mixer_has_something_to_mix(
    tracks: list[RecordingFile], files: list[RecordingFile], platform: str
) -> None:
    """Ingest (which cannot import the mixer) tells a recording with audio from Zoom's transcript alone by the event's
    ``carries_audio``: it must say what the mixer's own choice of inputs says (each file id once, as Zoom lists)."""
    tracks = [f.model_copy(update={"file_id": f"t{n}"}) for n, f in enumerate(tracks)]
    files = [f.model_copy(update={"file_id": f"f{n}"}) for n, f in enumerate(files)]
    event = RecordingCompleted(
        event_id="e1", tenant="acme", meeting_uuid="m1", participant_tracks=tuple(tracks), fallback_files=tuple(files),
        platform=platform,
    )  # fmt: skip
    assert event.carries_audio == bool(selections(event))
