"""A generation submitted whole under one provider is not submitted again under the tenant's provider of now.

The first delivery of an ``AudioMixed`` submitted every part to AssemblyAI, the meeting was marked, and the process
died before its offset was committed; the operator had switched the tenant to Symbl meanwhile. The redelivery
submitted the recording again, to Symbl (the submission key holds the provider): paid twice, and the record the
notifier's report and the meeting page join was rewritten under them. Real MongoDB, S3, ffmpeg, the Symbl sandbox.
"""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import JOBS, MEETINGS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_submitter import plan
from zoomsymbl_submitter.parts import Part

from tests.submitter.support import Completer, add_meetings, audio_mixed, upload_for
from tests.submitter.test_generations import rig, submissions

pytestmark = pytest.mark.integration
LOG = "zoomsymbl.submitter.submission"


@pytest.mark.parametrize("marked", ["assemblyai", "symbl"])
async def test_a_redelivery_under_another_provider_announces_the_stored_jobs_and_submits_nothing(
    infra: InfraSettings,
    mongo: Mongo,
    session: aiohttp.ClientSession,
    symbl: TestServer,
    completer: Completer,
    store: ObjectStore,
    tone_audio: Path,
    caplog: pytest.LogCaptureFixture,
    marked: str,
) -> None:
    submitter, published = rig(infra, mongo, session, symbl, completer)
    event = audio_mixed(70, infra, *await upload_for(store, tone_audio, 70))
    await add_meetings(mongo, [event])
    if marked == "assemblyai":  # the first delivery's job and mark, as that submitter left them
        whole = Part(0, 1, 0.0, event.duration_seconds, event.bucket, event.object_key, event.size_bytes)
        key = plan.idempotency_key(event, "assemblyai", whole)
        fields = plan.job_fields(event, "assemblyai", "assemblyai:acme", whole)
        job = {"_id": key, "idempotency_key": key, "job_ref": key, **fields, "status": "scheduled", "job_id": "aai-1",
               "conversation_id": "aai-1"}  # fmt: skip
        await mongo.db[JOBS].insert_one(job)
        await submitter.meetings.mark_submitted(event, "assemblyai", 1)

    with caplog.at_level(logging.WARNING, logger=LOG):
        await submitter.on_audio_mixed(event)

    skipped = [r for r in caplog.records if r.getMessage().startswith("generation submitted already")]
    if marked == "assemblyai":
        assert submissions(symbl) == {}, "the recording went to a second provider"
        assert [(e.provider, e.job_id) for e in published] == [("assemblyai", "aai-1")]  # announced again
        assert len(skipped) == 1
    else:  # the same provider: a first delivery, submitted as always
        assert submissions(symbl) == {"Meeting 70": 1} and not skipped
    meeting = await mongo.db[MEETINGS].find_one({"meeting_uuid": event.meeting_uuid})
    assert meeting is not None and (meeting["provider"], meeting["submitted_generation"]) == (marked, 0)
