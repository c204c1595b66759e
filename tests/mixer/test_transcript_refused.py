"""A Zoom transcript file Zoom takes no token for (:class:`NoCredentials`) or whose object S3 refuses
(:class:`ObjectRejected`): for a tenant whose report is its provider's it costs only that file, recorded as missing
as when Zoom does not serve it (``test_transcript_unserved.py``); a ``zoom``-source meeting needs it and is failed.

Real MongoDB, S3, ffmpeg and the Zoom sandbox; the consumer policy as deployed on the in-memory broker (2 attempts).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from zoomsymbl_common.errors import ObjectRejected
from zoomsymbl_common.records import CONVERSATIONS, MEETINGS
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_mixer.tracks import raw_key
from zoomsymbl_mixer.transcript_records import MISSING_TRANSCRIPTS
from zoomsymbl_sandbox.zoom import Fault

from tests.mixer.conftest import Rig
from tests.mixer.test_give_up_announced import Outcome
from tests.mixer.test_transcripts import UUID, consume, rig, transcripts_only

pytestmark = pytest.mark.integration
__all__ = ["rig"]  # the fixture: a sandbox whose meeting has Zoom's transcript and captions


def no_token_taken(rig: Rig, file_id: str) -> None:
    """Zoom answers 401 for the file whatever the token (the webhook's, then OAuth's): :class:`NoCredentials`."""
    rig.sandbox.faults.add(Fault(route="download", kind="status", status=401, file_id=file_id, count=1000))


def s3_refusing(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    put = ObjectStore.put_stream

    async def refusing(self: ObjectStore, target: str, chunks: AsyncIterator[bytes], **kwargs: Any) -> int:
        if target == key:
            raise ObjectRejected(self.bucket, target, "AccessDenied", "bucket policy")
        return await put(self, target, chunks, **kwargs)

    monkeypatch.setattr(ObjectStore, "put_stream", refusing)


async def _costs_only_the_file(rig: Rig, transcript: str, outcome: Outcome) -> None:
    assert outcome.failures == [] and outcome.letters == []  # before: both attempts failed, the meeting failed
    [mixed] = rig.published
    assert mixed.channels == 3 and [t.kind for t in mixed.transcripts] == ["cc"]
    meeting = await rig.mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": UUID})
    assert meeting is not None and meeting["stage"] == "mixed" and meeting[MISSING_TRANSCRIPTS] == [transcript]
    archived = await rig.mongo.db[CONVERSATIONS].find_one({"tenant": "acme", "meeting_uuid": UUID})
    assert archived is not None and archived["missing_files"] == [transcript]


async def test_a_transcript_zoom_takes_no_token_for_costs_only_itself_when_the_report_is_the_providers(
    rig: Rig,
) -> None:
    event, outcome = await rig.event(UUID), Outcome()
    [transcript] = [f.file_id for f in event.fallback_files if f.file_type == "TRANSCRIPT"]
    no_token_taken(rig, transcript)

    await consume(rig, event, outcome)  # an assemblyai tenant

    await _costs_only_the_file(rig, transcript, outcome)
    rig.sandbox.faults.clear()
    await consume(rig, transcripts_only(event), outcome)  # Zoom's recording.transcript_completed fetches it
    meeting = await rig.mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": UUID})
    assert meeting is not None and MISSING_TRANSCRIPTS not in meeting and len(meeting["transcripts"]) == 2


async def test_a_transcript_s3_refuses_costs_only_itself_when_the_report_is_the_providers(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    event, outcome = await rig.event(UUID), Outcome()
    [file] = [f for f in event.fallback_files if f.file_type == "TRANSCRIPT"]
    s3_refusing(monkeypatch, raw_key("acme", UUID, file))

    await consume(rig, event, outcome)

    await _costs_only_the_file(rig, file.file_id, outcome)


async def test_a_late_transcript_event_zoom_takes_no_token_for_does_not_dead_letter(rig: Rig) -> None:
    event, outcome = await rig.event(UUID), Outcome()
    [transcript] = [f.file_id for f in event.fallback_files if f.file_type == "TRANSCRIPT"]
    no_token_taken(rig, transcript)
    await consume(rig, event, outcome)  # mixed without the transcript

    await consume(rig, transcripts_only(event), outcome)

    assert outcome.letters == [] and outcome.failures == []  # before: dead-lettered after 2 attempts
    meeting = await rig.mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": UUID})
    assert meeting is not None and meeting[MISSING_TRANSCRIPTS] == [transcript]


@pytest.mark.parametrize(("refusal", "stage"), [("token", "auth"), ("s3", "download")])
async def test_a_zoom_source_meeting_needs_the_transcript_and_is_failed(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, refusal: str, stage: str
) -> None:
    rig.tenant = rig.tenant.model_copy(update={"provider": "zoom"})  # its report is Zoom's transcript
    event, outcome = await rig.event(UUID), Outcome()
    [file] = [f for f in event.fallback_files if f.file_type == "TRANSCRIPT"]
    if refusal == "token":
        no_token_taken(rig, file.file_id)
    else:
        s3_refusing(monkeypatch, raw_key("acme", UUID, file))

    await consume(rig, event, outcome)

    assert rig.published == []
    [failed] = outcome.failures
    assert (failed.service, failed.stage) == ("mixer", stage)
