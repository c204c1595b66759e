"""The submission flow in-process against the real MongoDB and S3 and the provider sandboxes."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from zoomsymbl_common.callback_tokens import verify_callback_token
from zoomsymbl_common.errors import (
    MongoUnavailable,
    PoisonInputError,
    RateLimitedError,
    RetryableError,
    ZoomsymblError,
)
from zoomsymbl_common.events import AudioMixed, ChannelAssignment, JobSubmitted, utcnow
from zoomsymbl_common.limiter import Limiter
from zoomsymbl_common.logs import JsonFormatter
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.base import SubmitRequest, SubmittedJob
from zoomsymbl_common.providers.factory import provider_account_key
from zoomsymbl_common.providers.http import transport_errors
from zoomsymbl_common.providers.symbl import SymblProvider
from zoomsymbl_common.records import JOBS, MEETINGS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_sandbox.assemblyai import ASSEMBLYAI_STATE
from zoomsymbl_sandbox.provider_jobs import JobTimings
from zoomsymbl_sandbox.provider_testkit import make_tone_audio
from zoomsymbl_sandbox.symbl import SYMBL_STATE
from zoomsymbl_submitter import plan
from zoomsymbl_submitter.downmix import mono_object_key
from zoomsymbl_submitter.part_submission import PartSubmission
from zoomsymbl_submitter.parts import Part, SplitSettings
from zoomsymbl_submitter.submission import Submitter

from tests.submitter.support import (
    SECRET,
    SYMBL_ACCOUNT,
    Completer,
    add_meetings,
    audio_mixed,
    build_submitter,
    free_port,
    mixed_key,
    tenant_json,
    tenants_for,
    upload_for,
)
from tests.support.eventually import eventually
from tests.support.providers import CHANNELS, ProviderSandboxes, drain

pytestmark = pytest.mark.integration


Upload = Callable[[int], Awaitable[tuple[str, int]]]


@pytest.fixture
def uploaded(store: ObjectStore, tone_audio: Path) -> Upload:
    """Stores the test audio as meeting N's mixed file: ``await uploaded(N)`` → (key, size)."""

    async def upload(index: int) -> tuple[str, int]:
        return await upload_for(store, tone_audio, index)

    return upload


Rig = tuple[Submitter, list[JobSubmitted]]


@pytest.fixture
def rig(
    infra: InfraSettings, mongo: Mongo, session: aiohttp.ClientSession, symbl: TestServer, completer: Completer
) -> Rig:
    published: list[JobSubmitted] = []
    tenants = tenants_for("symbl", str(symbl.make_url("")))
    return build_submitter(infra, mongo, tenants, session, completer.base_url, published), published


def released(completer: Completer) -> Callable[[], Awaitable[list[str]]]:
    """What ``eventually`` polls: the job refs whose slots the notifier stand-in released."""

    async def refs() -> list[str]:
        return list(completer.released)

    return refs


def stats(server: TestServer) -> dict[str, Any]:
    found: dict[str, Any] = server.app[SYMBL_STATE].stats()
    return found


async def slots(mongo: Mongo, account: str = SYMBL_ACCOUNT) -> list[str]:
    return [s.ref for s in await Limiter(mongo, account).slots()]


async def test_a_meeting_is_submitted_once_however_often_it_is_delivered(
    rig: Rig, infra: InfraSettings, mongo: Mongo, symbl: TestServer, uploaded: Upload
) -> None:
    submitter, published = rig
    event = audio_mixed(1, infra, *await uploaded(1))
    await add_meetings(mongo, [event])
    for _ in range(3):
        await submitter.on_audio_mixed(event)

    assert stats(symbl)["submissions_by_name"] == {"Meeting 1": 1}
    jobs = await mongo.db[JOBS].find({}).to_list(None)
    assert len(jobs) == 1
    job = jobs[0]
    assert job["status"] == "scheduled"
    assert job["job_id"] and job["conversation_id"]
    assert (job["tenant"], job["meeting_uuid"], job["limiter_account_key"]) == ("acme", "uuid/1==", SYMBL_ACCOUNT)
    assert {e.event_id for e in published} == {published[0].event_id}
    assert published[0].job_id == job["job_id"]
    assert (published[0].part_index, published[0].part_count) == (0, 1)
    meeting = await mongo.db[MEETINGS].find_one({"meeting_uuid": "uuid/1=="})
    assert meeting is not None and meeting["stage"] == "submitted"
    assert await slots(mongo) == [job["job_ref"]]


async def test_the_callback_url_carries_a_token_for_exactly_this_job(
    rig: Rig, infra: InfraSettings, mongo: Mongo, symbl: TestServer, completer: Completer, uploaded: Upload
) -> None:
    submitter, _ = rig
    await submitter.on_audio_mixed(audio_mixed(2, infra, *await uploaded(2)))
    await eventually(released(completer), what="the job's slot to be released")
    job = await mongo.db[JOBS].find_one({})
    assert job is not None
    assert completer.released == [job["job_ref"]]
    assert completer.forged == 0
    url = stats(symbl)["callback_log"][0]["url"]
    assert verify_callback_token(SECRET, url.rsplit("/", 1)[1]) == job["job_ref"]
    assert await slots(mongo) == []


async def test_a_rejected_input_fails_the_meeting_and_frees_the_slot(
    rig: Rig, infra: InfraSettings, mongo: Mongo, symbl: TestServer, store: ObjectStore, tmp_path: Path
) -> None:
    submitter, published = rig
    mono = make_tone_audio(tmp_path / "mono.flac", [[(0.5, 1.5)]], 2.0)
    key = mixed_key("uuid/3==")
    event = audio_mixed(3, infra, key, await store.put_file(key, str(mono)))  # 2 channels named, 1 in the file: 400
    with pytest.raises(PoisonInputError, match="channelMetadata"):
        await submitter.on_audio_mixed(event)
    with pytest.raises(PoisonInputError, match="channelMetadata"):
        await submitter.on_audio_mixed(event)
    assert stats(symbl)["submit_attempts"] == 1
    assert await slots(mongo) == []
    job = await mongo.db[JOBS].find_one({})
    assert job is not None and job["status"] == "rejected"
    assert published == []


# A 503 may come from a gateway whose provider behind it accepted the job: the next submission is flagged.
@pytest.mark.parametrize(("status", "error", "flagged"), [(429, RateLimitedError, False), (503, RetryableError, True)])
async def test_a_refused_attempt_frees_the_slot_and_the_next_one_submits(
    rig: Rig,
    infra: InfraSettings,
    mongo: Mongo,
    symbl: TestServer,
    uploaded: Upload,
    status: int,
    error: type[Exception],
    flagged: bool,
) -> None:
    submitter, published = rig
    symbl.app[SYMBL_STATE].faults.update({"reject_next": 1, "reject_status": status})
    event = audio_mixed(4, infra, *await uploaded(4))
    with pytest.raises(error):
        await submitter.on_audio_mixed(event)
    assert await slots(mongo) == []
    await submitter.on_audio_mixed(event)
    assert stats(symbl)["submissions_by_name"] == {"Meeting 4": 1}
    job = await mongo.db[JOBS].find_one({})
    assert job is not None and job["submit_attempts"] == 2
    assert bool(job.get("resubmitted_after_crash")) is flagged
    assert len(published) == 1


def failing_first(
    monkeypatch: pytest.MonkeyPatch, fail: Callable[[SymblProvider, SubmitRequest], Awaitable[None]]
) -> None:
    """Symbl's client, except that its first submit ends in ``fail`` (which raises) instead of an answer."""
    real = SymblProvider.submit
    calls: list[str] = []

    async def submit(self: SymblProvider, request: SubmitRequest) -> SubmittedJob:
        calls.append(request.name)
        if len(calls) == 1:
            await fail(self, request)
            raise AssertionError("fail did not raise")
        return await real(self, request)

    monkeypatch.setattr(SymblProvider, "submit", submit)


async def accepted_then_timed_out(provider: SymblProvider, request: SubmitRequest) -> None:
    """Symbl creates the job, but its answer does not arrive in time (the client's timeout, as aiohttp raises it)."""
    await SymblProvider.submit(provider, request)
    async with transport_errors("symbl", "submit"):
        raise TimeoutError


async def connection_refused(provider: SymblProvider, request: SubmitRequest) -> None:
    """Symbl's host refuses the connection: not a byte of the request is sent."""
    async with aiohttp.ClientSession() as http, transport_errors("symbl", "submit"):
        await http.post(f"http://127.0.0.1:{free_port()}/v1/process/audio", data=b"")


async def test_a_job_the_provider_accepted_while_our_call_timed_out_is_flagged_when_submitted_again(
    rig: Rig, infra: InfraSettings, mongo: Mongo, symbl: TestServer, uploaded: Upload, monkeypatch: pytest.MonkeyPatch
) -> None:
    submitter, published = rig
    failing_first(monkeypatch, accepted_then_timed_out)
    event = audio_mixed(41, infra, *await uploaded(41))
    with pytest.raises(RetryableError, match="timed out"):
        await submitter.on_audio_mixed(event)
    released = await mongo.db[JOBS].find_one({})
    assert released is not None and (released["status"], released["maybe_submitted"]) == ("retrying", True)

    await submitter.on_audio_mixed(event)  # the redelivery

    assert stats(symbl)["submissions_by_name"] == {"Meeting 41": 2}, "two jobs at the provider"
    job = await mongo.db[JOBS].find_one({})
    assert job is not None and job["job_id"] and job["submit_attempts"] == 2
    assert job["resubmitted_after_crash"] is True, "a second job is acceptable only when flagged"
    assert "timed out" in job["maybe_submitted_reason"]
    assert any("may have created a job" in (entry.get("reason") or "") for entry in job["history"])
    assert len(published) == 1


async def test_a_submission_whose_connection_was_refused_is_not_flagged_when_submitted_again(
    rig: Rig, infra: InfraSettings, mongo: Mongo, symbl: TestServer, uploaded: Upload, monkeypatch: pytest.MonkeyPatch
) -> None:
    submitter, published = rig
    failing_first(monkeypatch, connection_refused)
    event = audio_mixed(42, infra, *await uploaded(42))
    with pytest.raises(RetryableError, match="ClientConnectorError"):
        await submitter.on_audio_mixed(event)

    await submitter.on_audio_mixed(event)

    assert stats(symbl)["submissions_by_name"] == {"Meeting 42": 1}
    job = await mongo.db[JOBS].find_one({})
    assert job is not None and job["job_id"] and job["submit_attempts"] == 2
    assert not job.get("resubmitted_after_crash")
    assert not job.get("maybe_submitted")
    assert len(published) == 1


async def test_a_claim_mongodb_failed_right_after_is_submitted_once_and_not_flagged(
    rig: Rig, infra: InfraSettings, mongo: Mongo, symbl: TestServer, uploaded: Upload, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MongoDB fails between the claim and the provider call: nothing reached the provider, so the redelivery's
    submission (once the claim's lease ran out) is the first job, not a possible duplicate (flagged before)."""
    submitter, published = rig
    real = PartSubmission._check_generation
    calls: list[str] = []

    async def mongo_away_once(self: PartSubmission, event: AudioMixed, target: Any, key: str) -> None:
        calls.append(key)
        if len(calls) == 1:
            raise MongoUnavailable("AutoReconnect")
        await real(self, event, target, key)

    monkeypatch.setattr(PartSubmission, "_check_generation", mongo_away_once)
    event = audio_mixed(43, infra, *await uploaded(43))
    with pytest.raises(MongoUnavailable):
        await submitter.on_audio_mixed(event)
    claimed = await mongo.db[JOBS].find_one({})
    assert claimed is not None and claimed["status"] == "submitting"
    # The claim's lease runs out (the lease itself is tested on a fake clock in test_jobs.py).
    await mongo.db[JOBS].update_one({}, {"$set": {"claimed_until": utcnow() - timedelta(seconds=1)}})

    await submitter.on_audio_mixed(event)  # the redelivery

    assert stats(symbl)["submissions_by_name"] == {"Meeting 43": 1}
    job = await mongo.db[JOBS].find_one({})
    assert job is not None and job["job_id"] and job["submit_attempts"] == 2
    assert not job.get("resubmitted_after_crash")
    assert len(published) == 1


async def test_a_crash_mid_submit_is_resubmitted_once_after_the_claim_expires(
    rig: Rig, infra: InfraSettings, mongo: Mongo, symbl: TestServer, uploaded: Upload
) -> None:
    submitter, _ = rig
    stored = await uploaded(5)
    event = audio_mixed(5, infra, *stored)
    part = Part(0, 1, 0.0, 3.5, infra.s3_bucket, *stored)
    key = plan.idempotency_key(event, "symbl", part)
    # What a replica that died between claiming and the provider's answer leaves behind:
    await Limiter(mongo, SYMBL_ACCOUNT, 50, 50, 5, 60).acquire(key, timeout=5)
    fields = plan.job_fields(event, "symbl", SYMBL_ACCOUNT, part)
    doc = {**fields, "_id": key, "idempotency_key": key, "job_ref": key, "status": "submitting", "job_id": None}
    # Its claim has run out (the claim lease itself is tested on a fake clock in test_jobs.py).
    doc |= {"claim_owner": "dead-replica", "claimed_until": utcnow() - timedelta(seconds=1), "submit_attempts": 1}
    await mongo.db[JOBS].insert_one(doc)

    await submitter.on_audio_mixed(event)

    assert stats(symbl)["submissions_by_name"] == {"Meeting 5": 1}
    job = await mongo.db[JOBS].find_one({"_id": key})
    assert job is not None and job["job_id"] and job["resubmitted_after_crash"] is True
    assert await slots(mongo) == [key]


async def test_a_live_claim_of_another_replica_is_waited_for_not_duplicated(
    rig: Rig, infra: InfraSettings, mongo: Mongo, symbl: TestServer, uploaded: Upload
) -> None:
    submitter, published = rig
    stored = await uploaded(6)
    event = audio_mixed(6, infra, *stored)
    part = Part(0, 1, 0.0, 3.5, infra.s3_bucket, *stored)
    key = plan.idempotency_key(event, "symbl", part)
    doc = {**plan.job_fields(event, "symbl", SYMBL_ACCOUNT, part), "_id": key, "idempotency_key": key, "job_ref": key}
    doc |= {"status": "submitting", "job_id": None}
    doc |= {"claim_owner": "busy-replica", "claimed_until": utcnow() + timedelta(seconds=30), "submit_attempts": 1}
    await mongo.db[JOBS].insert_one(doc)

    async def other_replica_finishes() -> None:
        await asyncio.sleep(0.5)
        await mongo.db[JOBS].update_one({"_id": key}, {"$set": {"status": "scheduled", "job_id": "j-1"}})

    finisher = asyncio.create_task(other_replica_finishes())
    await asyncio.wait_for(submitter.on_audio_mixed(event), 15)
    await finisher
    assert stats(symbl)["submit_attempts"] == 0
    assert [e.job_id for e in published] == ["j-1"]


async def test_a_long_recording_is_split_and_each_part_submitted(
    infra: InfraSettings,
    mongo: Mongo,
    session: aiohttp.ClientSession,
    symbl: TestServer,
    completer: Completer,
    store: ObjectStore,
    tmp_path: Path,
) -> None:
    long = make_tone_audio(tmp_path / "long.flac", [[(1, 2), (9, 10), (15, 16)], [(4, 5), (12, 13)]], 18.0)
    key = mixed_key("uuid/7==")
    size = await store.put_file(key, str(long))
    published: list[JobSubmitted] = []
    tenants = tenants_for("symbl", str(symbl.make_url("")))
    split = SplitSettings(max_part_seconds=8.0, margin_seconds=1.0, search_seconds=2.0)
    submitter = build_submitter(infra, mongo, tenants, session, completer.base_url, published, split=split)
    event = audio_mixed(7, infra, key, size, duration=18.0)

    await submitter.on_audio_mixed(event)
    await submitter.on_audio_mixed(event)

    assert stats(symbl)["submissions_by_name"] == {f"Meeting 7 (part {n} of 3)": 1 for n in (1, 2, 3)}
    events = sorted({e.event_id: e for e in published}.values(), key=lambda e: e.part_index)
    assert [(e.part_index, e.part_count) for e in events] == [(0, 3), (1, 3), (2, 3)]
    assert events[0].part_offset_seconds == 0
    assert 4.0 < events[1].part_offset_seconds < 8.0 < events[2].part_offset_seconds < 14.0
    jobs = await mongo.db[JOBS].find({"meeting_uuid": event.meeting_uuid}).sort("part_index", 1).to_list(None)
    stem = re.escape(key.removesuffix(".flac"))
    parts = [
        re.fullmatch(rf"{stem}\.cut-[0-9a-f]{{12}}\.part{n}\.flac", job["object_key"]) for n, job in enumerate(jobs, 1)
    ]
    assert len(parts) == 3 and all(parts), "each part under the keys of its cut"
    for job in jobs:
        assert await store.exists(job["object_key"])


async def test_a_public_endpoint_submits_a_presigned_url_instead_of_bytes(
    infra: InfraSettings,
    mongo: Mongo,
    session: aiohttp.ClientSession,
    symbl: TestServer,
    completer: Completer,
    uploaded: Upload,
) -> None:
    published: list[JobSubmitted] = []
    tenants = tenants_for("symbl", str(symbl.make_url("")))
    public = f"http://{infra.s3_endpoint}"
    submitter = build_submitter(infra, mongo, tenants, session, completer.base_url, published, public_endpoint=public)
    await submitter.on_audio_mixed(audio_mixed(8, infra, *await uploaded(8)))

    async def completed() -> int:
        return completer.statuses["completed"]

    await eventually(completed, what="the job to complete")
    assert completer.statuses["completed"] == 1
    assert len(published) == 1


async def test_an_assemblyai_tenant_gets_a_header_authenticated_webhook_and_its_own_speech_models(
    infra: InfraSettings,
    mongo: Mongo,
    session: aiohttp.ClientSession,
    sandboxes: ProviderSandboxes,
    uploaded: Upload,
) -> None:
    server = await sandboxes.assemblyai(timings=JobTimings(0.05, 0.05))
    # Not the default list: the sandbox must see the tenant's own models, in its order.
    models = {"assemblyai_speech_models": ["universal-3-5-pro", "universal-2"]}
    tenants = Tenants([TenantConfig.model_validate(tenant_json("assemblyai", str(server.make_url(""))) | models)])
    account = provider_account_key(tenants.all()[0])
    completer = Completer(mongo, account)
    await completer.start()
    published: list[JobSubmitted] = []
    try:
        submitter = build_submitter(infra, mongo, tenants, session, completer.base_url, published)
        event: AudioMixed = audio_mixed(9, infra, *await uploaded(9))
        await submitter.on_audio_mixed(event)
        await eventually(released(completer), what="the job's slot to be released")
        assert len(completer.released) == 1 and completer.forged == 0
        assert published[0].provider == "assemblyai"
        assert server.app[ASSEMBLYAI_STATE].stats()["uploads"] == 1
        [job] = server.app[ASSEMBLYAI_STATE].board.jobs.values()
        assert job.request.speech_models == ("universal-3-5-pro", "universal-2")
        assert job.request.speech_model_used == "universal-3-5-pro"
        assert await slots(mongo, account) == []
    finally:
        await drain(server.app[ASSEMBLYAI_STATE].board)
        await completer.close()


async def test_an_unknown_or_unconfigured_tenant_fails_the_meeting_clearly(
    infra: InfraSettings, mongo: Mongo, session: aiohttp.ClientSession, uploaded: Upload
) -> None:
    fields = {"id": "acme", "zoom_webhook_secret": "zoom-webhook-secret", "provider": "symbl"}
    bare = TenantConfig.model_validate(fields)
    submitter = build_submitter(infra, mongo, Tenants([bare]), session, "http://127.0.0.1:9", [])
    with pytest.raises(PoisonInputError, match=r"cannot submit.*symbl_app_id") as caught:
        await submitter.on_audio_mixed(audio_mixed(10, infra, *await uploaded(10)))
    assert caught.value.stage == "config"
    with pytest.raises(PoisonInputError, match="unknown tenant 'other'"):
        await submitter.on_audio_mixed(audio_mixed(11, infra, *await uploaded(11), tenant="other"))


async def test_an_expiring_token_is_refreshed_once_mid_run(
    infra: InfraSettings,
    mongo: Mongo,
    session: aiohttp.ClientSession,
    completer: Completer,
    sandboxes: ProviderSandboxes,
    uploaded: Upload,
) -> None:
    server = await sandboxes.symbl(timings=JobTimings(0.05, 0.05), token_expires_in_s=1)
    try:
        tenants = tenants_for("symbl", str(server.make_url("")))
        submitter = build_submitter(infra, mongo, tenants, session, completer.base_url, [])
        await submitter.on_audio_mixed(audio_mixed(20, infra, *await uploaded(20)))
        await asyncio.sleep(1.1)
        events = [audio_mixed(i, infra, *await uploaded(i)) for i in (21, 22)]
        await asyncio.gather(*(submitter.on_audio_mixed(event) for event in events))
        assert server.app[SYMBL_STATE].token_issues == 2
        assert stats(server)["rejections"] == {}
        assert len(stats(server)["submissions_by_name"]) == 3
    finally:
        await drain(server.app[SYMBL_STATE].board)


async def test_three_speakers_go_to_symbl_as_one_diarized_mono_mix_made_once(
    rig: Rig, infra: InfraSettings, mongo: Mongo, symbl: TestServer, store: ObjectStore, tmp_path: Path
) -> None:
    submitter, published = rig
    three = make_tone_audio(tmp_path / "three.flac", [[(0.5, 1.0)], [(1.5, 2.0)], [(2.5, 3.0)]], 3.5)
    key = mixed_key("uuid/12==")
    third = ChannelAssignment(channel=3, participant_name="Chen W", file_ids=("f3",), offset_seconds=0.0)
    event = audio_mixed(12, infra, key, await store.put_file(key, str(three)), channels=3,
                        channel_map=(*CHANNELS, third))  # fmt: skip
    await add_meetings(mongo, [event])

    await submitter.on_audio_mixed(event)
    mono_key = mono_object_key(event)
    marker = tmp_path / "marker"
    marker.write_bytes(b"left alone")
    await store.put_file(mono_key, str(marker))  # a second mix would overwrite this
    await submitter.on_audio_mixed(event)  # redelivered: neither a second mix nor a second job

    assert await store.size(mono_key) == len(b"left alone")
    assert stats(symbl)["submissions_by_name"] == {"Meeting 12": 1}
    (job,) = await mongo.db[JOBS].find({}).to_list(None)
    assert (job["object_key"], job["downmixed_from_channels"]) == (mono_key, 3)
    (sent,) = symbl.app[SYMBL_STATE].conversations.values()
    options, info = sent.request.options, sent.request.info
    assert (info.channels, options.diarization, options.diarization_count, options.per_channel) == (1, True, 3, False)
    assert options.enable_summary
    assert len({e.event_id for e in published}) == 1


@pytest.mark.parametrize(
    ("bucket", "key", "why"),
    [
        ("other-bucket", None, "bucket"),
        (None, "mixed/beta/{own}.flac", "not the mixed file"),  # another tenant's file
        (None, "mixed/acme/bWVldGluZy1iLT0.flac", "not the mixed file"),  # another meeting of the same tenant
        (None, "raw/acme/{own}/track.m4a", "not the mixed file"),
        (None, "mixed/acme/{own}./../beta/x.flac", "not the mixed file"),
    ],
)
async def test_an_event_naming_audio_other_than_its_own_meetings_mix_is_poison(
    rig: Rig, infra: InfraSettings, symbl: TestServer, uploaded: Upload, bucket: str | None, key: str | None, why: str
) -> None:
    """Whoever can write to Kafka must not get any object transcribed and mailed by naming it (issue 18, item 5)."""
    submitter, published = rig
    own_key, size = await uploaded(30)
    own = own_key.removeprefix("mixed/acme/").removesuffix(".flac")
    event = audio_mixed(30, infra, key.format(own=own) if key else own_key, size)
    if bucket:
        event = event.model_copy(update={"bucket": bucket})
    with pytest.raises(PoisonInputError, match=why) as caught:
        await submitter.on_audio_mixed(event)
    assert caught.value.stage == "validate"
    assert published == []
    assert stats(symbl)["submissions_by_name"] == {}


@pytest.mark.parametrize(
    ("raised", "seen", "stored"),
    [
        (RuntimeError, RuntimeError, "RuntimeError: upload to https://s3.example/… failed"),
        (ZoomsymblError, RetryableError, "upload to https://s3.example/… failed"),
    ],
)
async def test_an_unexpected_failure_quoting_a_presigned_url_is_stored_and_logged_scrubbed(
    rig: Rig,
    infra: InfraSettings,
    mongo: Mongo,
    uploaded: Upload,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    raised: type[Exception],
    seen: type[Exception],
    stored: str,
) -> None:
    signed = "https://s3.example/mixed/acme/m.flac?X-Amz-Credential=AKIA&X-Amz-Signature=feed0123beef"

    async def failing(self: SymblProvider, request: SubmitRequest) -> SubmittedJob:
        raise raised(f"upload to {signed} failed")

    monkeypatch.setattr(SymblProvider, "submit", failing)
    submitter, _ = rig
    event = audio_mixed(31, infra, *await uploaded(31))
    with caplog.at_level(logging.INFO, logger="zoomsymbl.submitter"), pytest.raises(seen) as caught:
        await submitter.on_audio_mixed(event)

    job = await mongo.db[JOBS].find_one({})
    assert job is not None and job["status"] == "retrying"
    reasons = [job["last_error"], *(entry.get("reason") or "" for entry in job["history"])]
    logged = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    if seen is RetryableError:  # what the consumer stores as the attempt's error and dead-letters with
        reasons.append(str(caught.value))
    for text in (*reasons, logged):
        assert "X-Amz-Signature" not in text and "feed0123beef" not in text
    assert job["last_error"] == stored, "the reason stays readable"
    assert await slots(mongo) == []
