"""A Zoom transcript file Zoom does not serve now (5xx past the fetcher's retries) before the audio is mixed.

Real MongoDB, S3, ffmpeg and the Zoom sandbox; the consumer policy as deployed on the in-memory broker (2 attempts).
A tenant whose report is its provider's gets its audio mixed and announced, the file recorded as missing and fetched
by a later delivery; a ``zoom``-source tenant, whose report is that transcript, is tried again and failed.
"""

from __future__ import annotations

import json

import pytest
from zoomsymbl_common.records import CONVERSATIONS, MEETINGS
from zoomsymbl_mixer.metadata import metadata_key
from zoomsymbl_mixer.transcript_records import MISSING_TRANSCRIPTS
from zoomsymbl_sandbox.zoom import Fault

from tests.mixer.conftest import Rig
from tests.mixer.test_give_up_announced import Outcome
from tests.mixer.test_transcripts import UUID, consume, rig, transcripts_only

pytestmark = pytest.mark.integration
__all__ = ["rig"]  # the fixture: a sandbox whose meeting has Zoom's transcript and captions


def unserved(rig: Rig, file_id: str) -> None:
    rig.sandbox.faults.add(Fault(route="download", kind="status", status=503, file_id=file_id, count=1000))


async def test_a_transcript_zoom_does_not_serve_costs_only_itself_when_the_report_is_the_providers(rig: Rig) -> None:
    event, outcome = await rig.event(UUID), Outcome()
    [transcript] = [f.file_id for f in event.fallback_files if f.file_type == "TRANSCRIPT"]
    unserved(rig, transcript)

    await consume(rig, event, outcome)  # an assemblyai tenant

    assert outcome.failures == [] and outcome.letters == []  # before: both attempts failed, the meeting failed
    [mixed] = rig.published
    assert mixed.channels == 3 and [t.kind for t in mixed.transcripts] == ["cc"]
    meeting = await rig.mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": UUID})
    assert meeting is not None and meeting["stage"] == "mixed" and meeting[MISSING_TRANSCRIPTS] == [transcript]
    archived = await rig.mongo.db[CONVERSATIONS].find_one({"tenant": "acme", "meeting_uuid": UUID})
    assert archived is not None and archived["missing_files"] == [transcript] and archived["recording_failed"]

    rig.sandbox.faults.clear()
    await consume(rig, event, outcome)  # a later delivery (a replay): the file is fetched, the mix not made again

    assert [t.kind for t in rig.published[-1].transcripts] == ["transcript", "cc"]
    assert rig.published[-1].input_hash == mixed.input_hash
    meeting = await rig.mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": UUID})
    assert meeting is not None and MISSING_TRANSCRIPTS not in meeting and len(meeting["transcripts"]) == 2
    archived = await rig.mongo.db[CONVERSATIONS].find_one({"tenant": "acme", "meeting_uuid": UUID})
    assert archived is not None and archived["missing_files"] == [] and not archived["recording_failed"]


async def test_a_zoom_source_meeting_whose_transcript_zoom_does_not_serve_is_retried_and_failed(rig: Rig) -> None:
    rig.tenant = rig.tenant.model_copy(update={"provider": "zoom"})  # its report is Zoom's transcript
    event, outcome = await rig.event(UUID), Outcome()
    [transcript] = [f.file_id for f in event.fallback_files if f.file_type == "TRANSCRIPT"]
    unserved(rig, transcript)

    await consume(rig, event, outcome)

    assert rig.published == []
    [failed] = outcome.failures
    assert (failed.service, failed.stage) == ("mixer", "download") and transcript in failed.reason
    assert len(outcome.letters) == 1


async def test_a_transcript_fetched_by_a_later_transcript_event_leaves_the_archive_records_missing_files(
    rig: Rig,
) -> None:
    event, outcome = await rig.event(UUID), Outcome()
    [transcript] = [f.file_id for f in event.fallback_files if f.file_type == "TRANSCRIPT"]
    unserved(rig, transcript)
    await consume(rig, event, outcome)  # an assemblyai tenant: mixed, the transcript recorded as missing
    archived = await rig.mongo.db[CONVERSATIONS].find_one({"tenant": "acme", "meeting_uuid": UUID})
    assert archived is not None and archived["missing_files"] == [transcript] and archived["recording_failed"]

    rig.sandbox.faults.clear()
    await consume(rig, transcripts_only(event), outcome)  # Zoom's recording.transcript_completed

    assert len(rig.published) == 1  # nothing announced for a provider tenant, as before
    meeting = await rig.mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": UUID})
    assert meeting is not None and MISSING_TRANSCRIPTS not in meeting and len(meeting["transcripts"]) == 2
    archived = await rig.mongo.db[CONVERSATIONS].find_one({"tenant": "acme", "meeting_uuid": UUID})
    # Before: still listed as missing (and the recording as failed) until a replay of the recording.
    assert archived is not None and archived["missing_files"] == [] and not archived["recording_failed"]
    assert archived["media"]["object_key"] == rig.published[0].object_key  # the rest of the record as the mix wrote it
    copy = json.loads(b"".join([c async for c in rig.store.get_stream(metadata_key("acme", UUID))]))
    assert copy["missing_files"] == [] and not copy["recording_failed"]
