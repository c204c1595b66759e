"""``zoomsymbl forget`` against the real local MongoDB, S3 and Kafka, with the provider sandboxes.

A meeting is stored as the services store it (``tests/common/forget_seed.py``), with a real AssemblyAI
transcript and a real Symbl conversation in the sandboxes; beside it, another meeting of the same tenant
whose storage key extends the meeting's (``…`` + ``d``) and the same UUID of another tenant, which must
stay whole. The command runs as an operator runs it, as a separate process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr
from zoomsymbl_common.events import AudioMixed, RecordingCompleted, stable_id
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.command import EXIT_FAILED, EXIT_REFUSED, EXIT_USAGE
from zoomsymbl_common.ops.forget import ERASED, KEPT
from zoomsymbl_common.ops.forget_objects import listed, meeting_prefixes
from zoomsymbl_common.ops.replay import ReplayRequest, replay
from zoomsymbl_common.providers.assemblyai import AssemblyAIProvider
from zoomsymbl_common.providers.symbl import SymblProvider
from zoomsymbl_common.records import COLLECTIONS, MEETINGS, TOMBSTONES
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_sandbox.provider_testkit import CallbackReceiver
from zoomsymbl_web.meeting import MeetingPages

from tests.common.forget_seed import DOWNLOAD_TOKEN, ProviderJob, Seeded, seed_meeting
from tests.common.test_ops_cli import Ran, assert_one_clear_line, cli_env, closed_port, zoomsymbl
from tests.support.providers import ProviderSandboxes, submit_request, url, wait_completed

UUID = "aBcD1234+xyz/=="
NEIGHBOUR = UUID + "d"  # its storage key starts with UUID's: the prefixes must not reach it
AAI_KEY = "sandbox-assemblyai-key"
SEEDED_COUNTS = {
    "meetings": 1, "conversations": 1, "receipts": 1, "meeting_secrets": 1, "jobs": 4, "job_claims": 4,
    "early_callbacks": 4, "insights": 4, "transcriptions": 1, "transcription_checkpoints": 1, "emails": 1,
    "email_claims": 1,
}  # fmt: skip


def test_every_collection_is_erased_or_kept_for_a_reason() -> None:
    assert set(ERASED).isdisjoint(KEPT)
    assert set(ERASED) | set(KEPT) == COLLECTIONS, "a new collection must be placed in ERASED or KEPT"


def env_for(infra: InfraSettings, tenants: Path) -> dict[str, str]:
    return cli_env(
        infra,
        ZOOMSYMBL_TENANTS_FILE=str(tenants),
        ZOOMSYMBL_S3_ENDPOINT=infra.s3_endpoint,
        ZOOMSYMBL_S3_ACCESS_KEY=infra.s3_access_key.get_secret_value(),
        ZOOMSYMBL_S3_SECRET_KEY=infra.s3_secret_key.get_secret_value(),
        ZOOMSYMBL_S3_BUCKET=infra.s3_bucket,
    )


def tenants_file(path: Path, assemblyai: str, symbl: str) -> Path:
    """The tenants file of the notifier's pod: provider keys and where the providers answer."""
    tenant = {
        "zoom_webhook_secret": "webhook-secret", "assemblyai_api_key": AAI_KEY, "assemblyai_api_base": assemblyai,
        "symbl_app_id": "sandbox-app-id", "symbl_app_secret": "sandbox-app-secret", "symbl_api_base": symbl,
    }  # fmt: skip
    path.write_text(json.dumps({"tenants": [{"id": "acme", **tenant}, {"id": "beta", **tenant}]}), encoding="utf-8")
    return path


async def provider_copies(
    sandboxes: ProviderSandboxes, receiver: CallbackReceiver, audio: Path
) -> tuple[TestServer, TestServer, list[ProviderJob]]:
    """Both sandboxes, a completed transcript and conversation in them, and a Symbl id the sandbox never knew."""
    aai, symbl = await sandboxes.assemblyai(), await sandboxes.symbl()
    async with aiohttp.ClientSession() as session:
        assemblyai = AssemblyAIProvider(session, api_key=AAI_KEY, api_base=url(aai))
        transcript = await assemblyai.submit(submit_request(audio, f"{receiver.base_url}/hook"))
        await wait_completed(assemblyai, transcript.job_id)
        conversations = SymblProvider(
            session, app_id="sandbox-app-id", app_secret=SecretStr("sandbox-app-secret"), api_base=url(symbl)
        )
        conversation = await conversations.submit(submit_request(audio, f"{receiver.base_url}/hook"))
        await wait_completed(conversations, conversation.job_id)
    jobs = [
        ProviderJob("assemblyai", transcript.job_id),
        ProviderJob("symbl", conversation.conversation_id),
        ProviderJob("symbl", "1000000000000001"),  # a conversation Symbl does not know (404): already gone
    ]
    return aai, symbl, jobs


async def world(mongo: Mongo, store: ObjectStore, jobs: list[ProviderJob]) -> tuple[Seeded, list[Seeded]]:
    """The meeting to forget, and the two that must stay."""
    target = await seed_meeting(mongo, store, "acme", UUID, tuple(jobs))
    others = [
        await seed_meeting(mongo, store, "acme", NEIGHBOUR, (ProviderJob("assemblyai", "neighbour-transcript"),)),
        await seed_meeting(mongo, store, "beta", UUID, (ProviderJob("assemblyai", "beta-transcript"),)),
    ]
    return target, others


async def assert_untouched(mongo: Mongo, store: ObjectStore, others: list[Seeded]) -> None:
    for other in others:
        assert all(n > 0 for n in (await other.counts(mongo)).values()), (other.tenant, other.meeting_uuid)
        assert await other.objects(store) == len(other.keys)
        assert (
            await mongo.db[TOMBSTONES].count_documents({"tenant": other.tenant, "meeting_uuid": other.meeting_uuid})
            == 0
        )


def report(ran: Ran) -> dict[str, Any]:
    assert "Traceback" not in ran.err, ran.err
    data: dict[str, Any] = json.loads(ran.out)
    return data


@pytest.mark.integration
async def test_a_dry_run_counts_per_collection_and_prefix_and_deletes_nothing(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, sandboxes: ProviderSandboxes,
    receiver: CallbackReceiver, tone_audio: Path, tmp_path: Path,
) -> None:  # fmt: skip
    aai, symbl, jobs = await provider_copies(sandboxes, receiver, tone_audio)
    target, others = await world(mongo, store, jobs)
    env = env_for(infra, tenants_file(tmp_path / "tenants.json", url(aai), url(symbl)))

    ran = await zoomsymbl("forget", "--tenant", "acme", "--meeting", UUID, "--json", env=env)
    assert ran.code == 0, ran.err
    data = report(ran)
    assert data["mode"] == "dry run"
    assert {name: n for name, n in data["documents"].items() if n} == SEEDED_COUNTS
    raw, mixed = meeting_prefixes("acme", UUID)
    assert [(p["prefix"], p["objects"]) for p in data["objects"]] == [(raw, 3), (mixed, 3)]
    assert {(c["provider"], c["copy_id"]) for c in data["provider_copies"]} == {(j.provider, j.copy_id) for j in jobs}
    assert data["in_flight"] == [] and data["forgotten_at"] is None
    assert DOWNLOAD_TOKEN not in ran.out + ran.err and AAI_KEY not in ran.out + ran.err

    text = await zoomsymbl("forget", "--tenant", "acme", "--meeting", UUID, env=env)
    assert text.code == 0, text.err
    assert "dry run, nothing deleted" in text.out and "run it again with --yes" in text.out
    assert "Salary review" not in text.out + data.__repr__(), "counts only, never contents"

    assert await target.counts(mongo) == SEEDED_COUNTS, "nothing deleted"
    assert await target.objects(store) == 6
    assert await mongo.db[TOMBSTONES].count_documents({}) == 0
    for server in (aai, symbl):
        async with aiohttp.ClientSession() as http, http.get(server.make_url("/_sandbox/stats")) as stats:
            assert (await stats.json())["deleted"] == 0, "no provider was asked"
    await assert_untouched(mongo, store, others)


@pytest.mark.integration
async def test_yes_erases_every_document_object_and_provider_copy_of_that_meeting_only(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, sandboxes: ProviderSandboxes,
    receiver: CallbackReceiver, tone_audio: Path, tmp_path: Path,
) -> None:  # fmt: skip
    aai, symbl, jobs = await provider_copies(sandboxes, receiver, tone_audio)
    target, others = await world(mongo, store, jobs)
    env = env_for(infra, tenants_file(tmp_path / "tenants.json", url(aai), url(symbl)))

    ran = await zoomsymbl("forget", "--tenant", "acme", "--meeting", UUID, "--yes", "--json", env=env)
    assert ran.code == 0, ran.err
    data = report(ran)
    assert data["deleted"] == {"documents": sum(SEEDED_COUNTS.values()), "objects": 6}
    outcomes = {(d["provider"], d["id"]): d["status"] for d in data["provider_deletions"]}
    assert outcomes == dict(
        zip([(j.provider, j.copy_id) for j in jobs], ["deleted", "deleted", "already gone"], strict=True)
    )
    assert all(n == 0 for n in (await target.counts(mongo)).values()), await target.counts(mongo)
    assert await target.objects(store) == 0
    for prefix in meeting_prefixes("acme", UUID):
        assert await listed(store, prefix) == []
    tombstone = await mongo.db[TOMBSTONES].find_one({"tenant": "acme", "meeting_uuid": UUID})
    assert tombstone is not None and tombstone["provider_copies"] == [] and tombstone["erased_at"]
    assert set(tombstone) == {"_id", "tenant", "meeting_uuid", "forgotten_at", "erased_at", "provider_copies"}
    await assert_untouched(mongo, store, others)

    async with aiohttp.ClientSession() as http:
        headers = {"authorization": AAI_KEY}
        async with http.get(aai.make_url(f"/v2/transcript/{jobs[0].copy_id}"), headers=headers) as answer:
            transcript = await answer.json()
        assert (transcript["text"], transcript["utterances"]) == ("Deleted by user.", None)
        async with http.get(symbl.make_url("/_sandbox/stats")) as stats:
            assert (await stats.json())["deleted"] == 1
    assert await MeetingPages(mongo).lookup("acme", UUID) is None, "the meeting page answers 'not found'"
    status = await zoomsymbl("status", "--meeting", UUID, "--tenant", "acme", env=env)
    assert status.code == EXIT_FAILED

    again = await zoomsymbl("forget", "--tenant", "acme", "--meeting", UUID, "--yes", "--json", env=env)
    assert again.code == 0, again.err
    assert report(again)["deleted"] == {"documents": 0, "objects": 0}


@pytest.mark.integration
async def test_a_provider_out_of_reach_fails_the_run_after_the_local_erase_and_a_second_run_completes(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, sandboxes: ProviderSandboxes,
    receiver: CallbackReceiver, tone_audio: Path, tmp_path: Path,
) -> None:  # fmt: skip
    aai, symbl, jobs = await provider_copies(sandboxes, receiver, tone_audio)
    target, others = await world(mongo, store, jobs)
    tenants = tmp_path / "tenants.json"
    env = env_for(infra, tenants_file(tenants, f"http://127.0.0.1:{closed_port()}", url(symbl)))

    first = await zoomsymbl("forget", "--tenant", "acme", "--meeting", UUID, "--yes", "--json", env=env)
    assert first.code == EXIT_FAILED
    assert_one_clear_line(first, f"provider deletion failed for assemblyai '{jobs[0].copy_id}'", "run the same command")
    outcomes = {d["provider"] + d["status"] for d in report(first)["provider_deletions"]}
    assert outcomes == {"assemblyaifailed", "symbldeleted", "symblalready gone"}
    assert all(n == 0 for n in (await target.counts(mongo)).values()), "the local erase happened anyway"
    assert await target.objects(store) == 0
    tombstone = await mongo.db[TOMBSTONES].find_one({"tenant": "acme", "meeting_uuid": UUID})
    assert tombstone is not None
    assert tombstone["provider_copies"] == [{"provider": "assemblyai", "copy_id": jobs[0].copy_id}]

    dry = await zoomsymbl("forget", "--tenant", "acme", "--meeting", UUID, "--json", env=env)
    assert dry.code == 0 and report(dry)["provider_copies"] == tombstone["provider_copies"]

    tenants_file(tenants, url(aai), url(symbl))  # the provider is back
    second = await zoomsymbl("forget", "--tenant", "acme", "--meeting", UUID, "--yes", "--json", env=env)
    assert second.code == 0, second.err
    assert [(d["provider"], d["status"]) for d in report(second)["provider_deletions"]] == [("assemblyai", "deleted")]
    tombstone = await mongo.db[TOMBSTONES].find_one({"tenant": "acme", "meeting_uuid": UUID})
    assert tombstone is not None and tombstone["provider_copies"] == []
    await assert_untouched(mongo, store, others)


@pytest.mark.integration
async def test_a_meeting_in_flight_is_refused_unless_forced(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, tmp_path: Path
) -> None:
    target = await seed_meeting(mongo, store, "acme", UUID, stage="processing")
    env = env_for(infra, tenants_file(tmp_path / "tenants.json", "http://127.0.0.1:9", "http://127.0.0.1:9"))

    refused = await zoomsymbl("forget", "--tenant", "acme", "--meeting", UUID, "--yes", "--json", env=env)
    assert refused.code == EXIT_REFUSED
    assert_one_clear_line(refused, "in flight (stage 'processing')", "--force")
    assert report(refused)["mode"] == "refused"
    assert await target.counts(mongo) == {
        **SEEDED_COUNTS,
        "jobs": 1,
        "job_claims": 1,
        "early_callbacks": 1,
        "insights": 1,
    }
    assert await mongo.db[TOMBSTONES].count_documents({}) == 0

    forced = await zoomsymbl("forget", "--tenant", "acme", "--meeting", UUID, "--yes", "--force", env=env)
    assert forced.code == 0, forced.err
    assert all(n == 0 for n in (await target.counts(mongo)).values())
    assert await target.objects(store) == 0


@pytest.mark.integration
async def test_unknown_meetings_and_bad_arguments_change_nothing(
    infra: InfraSettings, mongo: Mongo, tmp_path: Path
) -> None:
    env = env_for(infra, tenants_file(tmp_path / "tenants.json", "http://127.0.0.1:9", "http://127.0.0.1:9"))
    unknown = await zoomsymbl("forget", "--tenant", "acme", "--meeting", "nope", "--yes", "--json", env=env)
    assert unknown.code == EXIT_FAILED
    assert_one_clear_line(unknown, "no meeting 'nope' of tenant 'acme'")
    assert report(unknown)["mode"] == "unknown"
    for args in (["--tenant", "Acme/../x"], ["--tenant", "acme", "--force"]):
        bad = await zoomsymbl("forget", "--meeting", UUID, *args, env=env)
        assert bad.code == EXIT_USAGE, bad.err
    assert await mongo.db[TOMBSTONES].count_documents({}) == 0


async def _produce(infra: InfraSettings, events: list[RecordingCompleted | AudioMixed]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(infra.kafka_topic_prefix + event.topic, event.model_dump_json().encode())
    finally:
        await producer.stop()


def _recording(tenant: str, meeting_uuid: str) -> RecordingCompleted:
    return RecordingCompleted(event_id=stable_id(tenant, meeting_uuid), tenant=tenant, meeting_uuid=meeting_uuid)


def _mixed(tenant: str, meeting_uuid: str) -> AudioMixed:
    return AudioMixed(
        event_id=stable_id("mixed", tenant, meeting_uuid), tenant=tenant, meeting_uuid=meeting_uuid, bucket="b",
        object_key=f"mixed/{tenant}/x.flac", format="flac", channels=1, duration_seconds=1, size_bytes=1,
        input_hash="h", channel_map=(),
    )  # fmt: skip


@pytest.mark.integration
async def test_a_forced_replay_does_not_bring_a_forgotten_meeting_back(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, tmp_path: Path
) -> None:
    await seed_meeting(mongo, store, "acme", UUID)
    await seed_meeting(mongo, store, "beta", UUID)
    # What Kafka still holds of both meetings for topics.retentionMs.
    await _produce(
        infra, [_recording("acme", UUID), _recording("beta", UUID), _mixed("acme", UUID), _mixed("beta", UUID)]
    )
    env = env_for(infra, tenants_file(tmp_path / "tenants.json", "http://127.0.0.1:9", "http://127.0.0.1:9"))
    forgot = await zoomsymbl("forget", "--tenant", "acme", "--meeting", UUID, "--yes", env=env)
    assert forgot.code == 0, forgot.err

    forced = await zoomsymbl(
        "replay", "--topic", RecordingCompleted.topic, "--meeting", UUID, "--force", "--json", env=env
    )
    assert forced.code == 0, forced.err
    counts = report(forced)
    assert (counts["matched"], counts["forgotten"], counts["published"]) == (2, 1, 1), "beta's replayed, acme's not"
    assert list(counts["generations"]) == ["beta/" + UUID]
    assert await mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": UUID}) is None, "no generation bump"

    plain = await zoomsymbl("replay", "--topic", AudioMixed.topic, "--tenant", "acme", "--json", env=env)
    assert plain.code == 0, plain.err
    assert (report(plain)["forgotten"], report(plain)["published"]) == (1, 0)
    retained = await replay(infra, None, ReplayRequest(topic=RecordingCompleted.topic, dry_run=True))
    assert retained.scanned == 3, "only beta's event was published again"
