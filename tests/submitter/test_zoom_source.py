"""A tenant on the ``zoom`` source: Zoom's transcript is the job, complete once submitted (MongoDB and S3)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.events import JobStatusReported, JobSubmitted, TranscriptObject
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.pool import ProviderPool
from zoomsymbl_common.records import JOBS, MEETINGS, TRANSCRIPTIONS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.storage_keys import meeting_key
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_sandbox.provider_jobs import JobTimings
from zoomsymbl_sandbox.provider_testkit import make_tone_audio

from tests.submitter.support import (
    add_meetings,
    audio_mixed,
    build_submitter,
    mixed_key,
    tenant_json,
    tenants_for,
    upload_for,
)
from tests.support.providers import ProviderSandboxes

pytestmark = pytest.mark.integration
TRANSCRIPT = (Path(__file__).parents[1] / "common" / "fixtures" / "zoom" / "transcript.vtt").read_bytes()


async def stored_transcript(store: ObjectStore, meeting_uuid: str) -> TranscriptObject:
    key = f"raw/acme/{meeting_key(meeting_uuid)}/tr-1.vtt"
    size = await store.put_stream(key, _once(TRANSCRIPT))
    return TranscriptObject(file_id="tr-1", kind="transcript", key=key, size_bytes=size)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_the_transcript_becomes_a_completed_job_once_zoom_has_sent_it(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, session: aiohttp.ClientSession, tone_audio: Path
) -> None:
    published: list[JobSubmitted] = []
    reported: list[JobStatusReported] = []
    submitter = build_submitter(
        infra, mongo, tenants_for("zoom", "http://unused.invalid"), session, "http://n", published
    )
    submitter.providers = ProviderPool(session, submit_timeout=30.0, mongo=mongo)

    async def report(event: JobStatusReported) -> None:
        reported.append(event)

    submitter.report = report
    key, size = await upload_for(store, tone_audio, 1)
    waiting = audio_mixed(1, infra, key, size)
    await add_meetings(mongo, [waiting])

    await submitter.on_audio_mixed(waiting)  # the recording came, Zoom's transcript not yet
    assert (published, reported) == ([], [])
    assert await mongo.db[JOBS].count_documents({}) == 0

    ready = waiting.model_copy(
        update={"event_id": "mixed-1-tr", "transcripts": (await stored_transcript(store, "uuid/1=="),)}
    )
    for _ in range(2):
        await submitter.on_audio_mixed(ready)

    assert {e.provider for e in published} == {"zoom"} and len({e.job_id for e in published}) == 1
    assert [(r.provider, r.reported_status, r.via) for r in reported][:1] == [("zoom", "completed", "worker")]
    assert {r.event_id for r in reported} == {reported[0].event_id}
    job = await mongo.db[TRANSCRIPTIONS].find_one({"_id": published[0].job_id})
    assert job is not None and job["status"] == "completed"
    assert [u["speaker"] for u in job["utterances"]][:2] == ["Elisa L", "Jürgen Müller"]


async def test_a_transcript_of_another_meeting_is_poison(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, session: aiohttp.ClientSession, tone_audio: Path
) -> None:
    submitter = build_submitter(infra, mongo, tenants_for("zoom", "http://unused.invalid"), session, "http://n", [])
    submitter.providers = ProviderPool(session, submit_timeout=30.0, mongo=mongo)
    key, size = await upload_for(store, tone_audio, 2)
    foreign = await stored_transcript(store, "uuid/9==")
    event = audio_mixed(2, infra, key, size, transcripts=(foreign,))
    await add_meetings(mongo, [event])

    with pytest.raises(PoisonInputError, match="not one of its own meeting"):
        await submitter.on_audio_mixed(event)


async def test_a_tenant_without_provider_credentials_falls_back_to_zoom_transcript_per_meeting(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, session: aiohttp.ClientSession, tone_audio: Path
) -> None:
    published: list[JobSubmitted] = []
    unconfigured = Tenants(
        [TenantConfig.model_validate(tenant_json("assemblyai", "http://unused.invalid") | {"assemblyai_api_key": ""})]
    )
    submitter = build_submitter(infra, mongo, unconfigured, session, "http://n", published)
    submitter.providers = ProviderPool(session, submit_timeout=30.0, mongo=mongo)
    key, size = await upload_for(store, tone_audio, 3)
    bare = audio_mixed(3, infra, key, size)
    with_transcript = bare.model_copy(
        update={"event_id": "mixed-3-tr", "transcripts": (await stored_transcript(store, "uuid/3=="),)}
    )
    await add_meetings(mongo, [bare])

    with pytest.raises(PoisonInputError, match="cannot submit"):
        await submitter.on_audio_mixed(bare)  # no provider and nothing of Zoom's: the meeting fails clearly
    await submitter.on_audio_mixed(with_transcript)

    assert [e.provider for e in published] == ["zoom"]
    job = await mongo.db[JOBS].find_one({"provider": "zoom"})
    assert job is not None and job["limiter_account_key"] == "zoom:transcript"


async def test_a_submission_the_provider_rejects_runs_on_zoom_transcript_when_there_is_one(
    infra: InfraSettings,
    mongo: Mongo,
    store: ObjectStore,
    session: aiohttp.ClientSession,
    sandboxes: ProviderSandboxes,
    tmp_path: Path,
) -> None:
    symbl = await sandboxes.symbl(timings=JobTimings(0.05, 0.05))
    published: list[JobSubmitted] = []
    reported: list[JobStatusReported] = []
    submitter = build_submitter(
        infra, mongo, tenants_for("symbl", str(symbl.make_url(""))), session, "http://n", published
    )
    submitter.providers = ProviderPool(session, submit_timeout=30.0, mongo=mongo)

    async def report(event: JobStatusReported) -> None:
        reported.append(event)

    submitter.report = report
    mono = make_tone_audio(tmp_path / "mono.flac", [[(0.5, 1.5)]], 2.0)
    key = mixed_key("uuid/6==")
    size = await store.put_file(key, str(mono))  # 2 channels named, 1 in the file: Symbl answers 400
    event = audio_mixed(6, infra, key, size, transcripts=(await stored_transcript(store, "uuid/6=="),))
    await add_meetings(mongo, [event])

    for _ in range(2):  # the redelivery finds the rejection stored and takes the same way
        await submitter.on_audio_mixed(event)

    assert [e.provider for e in published] == ["zoom", "zoom"] and len({e.job_id for e in published}) == 1
    assert {(r.provider, r.reported_status) for r in reported} == {("zoom", "completed")}
    rejected = await mongo.db[JOBS].find_one({"provider": "symbl"})
    assert rejected is not None and rejected["status"] == "rejected"
    zoom = await mongo.db[JOBS].find_one({"provider": "zoom"})
    assert zoom is not None and zoom["job_id"] == published[0].job_id
    assert zoom["fallback_reason"].startswith("symbl rejected the submission: symbl")
    assert "channelMetadata" in zoom["fallback_reason"]
    meeting = await mongo.db[MEETINGS].find_one({"meeting_uuid": "uuid/6=="})
    assert meeting is not None and (meeting["stage"], meeting["provider"]) == ("submitted", "zoom")
