"""Zoom's transcript of a recording stopped and started again: one transcript file per stretch, each timed from its
own start, joined on the mix's clock. The Zoom sandbox (a two-stretch recording), the real MongoDB and S3, ffmpeg."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.zoom_transcript import transcript_key
from zoomsymbl_common.records import MEETINGS, Meeting
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.webvtt import parse
from zoomsymbl_sandbox.zoom import MeetingSpec, ParticipantSpec
from zoomsymbl_sandbox.zoom_audio import LEAD_IN_S

from tests.mixer.conftest import Rig
from tests.mixer.test_transcripts import read, sandbox_rig, transcripts_only, wired

pytestmark = pytest.mark.integration
UUID = "mixer/Stretches//uuid=="
RESTARTED_AT = 20
SPEC = MeetingSpec(
    uuid=UUID,
    participants=(
        ParticipantSpec(name="Elisa L", start_offset_s=0, duration_s=8, speech="Hello everyone, first part."),
        ParticipantSpec(name="Jean-Luc Pérez", start_offset_s=RESTARTED_AT, duration_s=8, speech="Back again now."),
    ),
    separate_audio=False,
    include_video=False,
    transcript=True,
    captions=True,
    stretches=((0, 10), (RESTARTED_AT, RESTARTED_AT + 8)),
)


@pytest.fixture
async def rig(mongo: Mongo, store: ObjectStore, tmp_path: Path) -> AsyncIterator[Rig]:
    async with sandbox_rig(SPEC, mongo, store, tmp_path) as made:
        yield made


async def cues_of(rig: Rig, key: str) -> list[tuple[float, str | None]]:
    return [(c.start, c.speaker) for c in parse(await read(rig.store, key))]


async def test_every_stretchs_transcript_is_read_at_its_place_in_the_mix(rig: Rig) -> None:
    event = await rig.event(UUID)
    assert len([f for f in event.fallback_files if f.file_type == "TRANSCRIPT"]) == 2  # the sandbox's stretches

    mixed = await wired(rig).on_recording_completed(event)

    assert mixed is not None and mixed.duration_seconds == pytest.approx(RESTARTED_AT + 8, abs=0.2)
    assert [t.kind for t in mixed.transcripts] == ["transcript", "cc"]
    key = transcript_key("acme", UUID, mixed.transcripts)  # what the zoom source reads
    assert key is not None
    # Before: the first stretch's file alone, at 0; Jean-Luc's words (in the second file, at 0.5 s) never read.
    expected = [(LEAD_IN_S, "Elisa L"), (RESTARTED_AT + LEAD_IN_S, "Jean-Luc Pérez")]
    assert await cues_of(rig, key) == expected
    assert await cues_of(rig, mixed.transcripts[1].key) == expected  # the captions too
    doc = await rig.mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": UUID})
    assert doc is not None
    meeting = Meeting.from_document(doc)  # what the notifier's fallback reads
    assert transcript_key("acme", UUID, meeting.transcripts) == key

    again = await wired(rig).on_recording_completed(event)  # a redelivery: the same join, the same event
    assert again is not None and again.event_id == mixed.event_id and again.transcripts == mixed.transcripts


async def test_a_late_transcript_of_two_stretches_is_joined_on_the_mix_made_before(rig: Rig) -> None:
    rig.tenant = rig.tenant.model_copy(update={"provider": "zoom"})
    event = await rig.event(UUID)
    audio = tuple(f for f in event.fallback_files if f.file_type not in ("TRANSCRIPT", "CC"))
    first = await wired(rig).on_recording_completed(event.model_copy(update={"fallback_files": audio}))
    assert first is not None and first.transcripts == ()

    again = await wired(rig).on_recording_completed(transcripts_only(event))

    assert again is not None and again.input_hash == first.input_hash
    key = transcript_key("acme", UUID, again.transcripts)
    assert key is not None
    assert await cues_of(rig, key) == [(LEAD_IN_S, "Elisa L"), (RESTARTED_AT + LEAD_IN_S, "Jean-Luc Pérez")]
