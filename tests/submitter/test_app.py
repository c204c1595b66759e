"""Real submitter processes (``python -m zoomsymbl_submitter``) against Kafka, MongoDB, S3 and the Symbl sandbox.

The size of the shared-limit run is ``ZOOMSYMBL_TEST_MEETINGS`` (default 300, the issue's size; about two
minutes on the 2-core reference machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from zoomsymbl_common.events import AudioMixed, JobSubmitted
from zoomsymbl_common.kafka import make_broker, publish_event, topic_name
from zoomsymbl_common.limiter import Limiter
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import JOBS, MEETINGS
from zoomsymbl_common.scratch import LOCK
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.topics import TopicSpec, create_topics
from zoomsymbl_sandbox.provider_jobs import JobTimings
from zoomsymbl_sandbox.provider_testkit import make_tone_audio
from zoomsymbl_sandbox.symbl import SYMBL_STATE, SymblConfig, build_symbl_app
from zoomsymbl_submitter.handlers import GROUP_ID

from tests.submitter.support import (
    APP_ID,
    Completer,
    StallingProxy,
    SubmitterProcess,
    add_meetings,
    audio_mixed,
    drain,
    free_port,
    read_topic,
    submitter_env,
    upload_for,
    wait_for_group,
    write_tenants,
)
from tests.support.eventually import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ACCOUNT = f"symbl:{APP_ID}"
CAP, RATE, BURST = 5, 10.0, 5


def meeting_count() -> int:
    return int(os.environ.get("ZOOMSYMBL_TEST_MEETINGS", "300"))


@pytest.fixture
async def symbl(tmp_path: Path) -> AsyncIterator[TestServer]:
    config = SymblConfig(storage_dir=tmp_path / "symbl", timings=JobTimings(0.05, 0.1), max_concurrent_jobs=CAP)
    server = TestServer(build_symbl_app(config))
    await server.start_server()
    yield server
    await drain(server.app[SYMBL_STATE].board, timeout=60)
    await server.close()


@pytest.fixture
async def completer(mongo: Mongo) -> AsyncIterator[Completer]:
    c = Completer(mongo, ACCOUNT)
    await c.start()
    yield c
    await c.close()


async def publish_all(infra: InfraSettings, events: list[AudioMixed], partitions: int) -> None:
    topic = topic_name(infra, AudioMixed.topic)
    await create_topics(infra.kafka_bootstrap, [TopicSpec(topic, partitions, 1)])
    broker = make_broker(infra, "test")
    await broker.start()
    try:
        for event in events:
            await publish_event(broker, infra, event, timeout=10)
    finally:
        await broker.stop()


def tone_flac(tmp_path: Path) -> Path:
    return make_tone_audio(tmp_path / "m.flac", [[(0.5, 1.5)], [(2.0, 3.0)]], 3.5)


async def wait_for(
    condition: Callable[[], Awaitable[bool]], timeout: float, what: str, processes: list[SubmitterProcess]
) -> None:
    """``eventually`` that adds the tail of every submitter's log when it fails."""
    try:
        await eventually(condition, timeout=timeout, what=what)
    except AssertionError as failed:
        logs = "\n---\n".join(p.tail() for p in processes)
        raise AssertionError(f"{failed}\n{logs}") from None


def submitted_by(process: SubmitterProcess) -> int:
    lines = process.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    return sum(1 for line in lines if line.startswith("{") and json.loads(line).get("msg") == "job submitted")


@pytest.mark.reliability
async def test_three_submitters_share_one_cap_and_one_rate(
    infra: InfraSettings,
    mongo: Mongo,
    store: ObjectStore,
    symbl: TestServer,
    completer: Completer,
    tmp_path: Path,
) -> None:
    count = meeting_count()
    flac = tone_flac(tmp_path)
    events = [audio_mixed(i, infra, *await upload_for(store, flac, i)) for i in range(count)]
    await add_meetings(mongo, events)
    tenants = write_tenants(tmp_path / "tenants.json", "symbl", str(symbl.make_url("")))
    # Before any consumer starts: a subscription to a missing topic auto-creates it with 1 partition.
    await create_topics(infra.kafka_bootstrap, [TopicSpec(topic_name(infra, AudioMixed.topic), 6, 1)])
    limits = {"rate_per_second": RATE, "burst": BURST, "max_in_flight": CAP, "limiter_poll_max_seconds": 0.2}
    processes = [
        SubmitterProcess(
            submitter_env(infra, tenants, completer.base_url, free_port(), **limits), tmp_path / f"submitter-{n}.log"
        ).start()
        for n in range(3)
    ]
    try:
        await asyncio.gather(*(p.wait_ready() for p in processes))
        await wait_for_group(infra, topic_name(infra, GROUP_ID), members=3)
        await publish_all(infra, events, partitions=6)

        async def all_done() -> bool:
            return len(set(completer.released)) >= count

        await wait_for(all_done, count / RATE * 4 + 90, f"{count} jobs completed and released", processes)
        exit_codes = [p.stop() for p in processes]
    finally:
        for process in processes:
            process.kill()

    stats: dict[str, Any] = symbl.app[SYMBL_STATE].stats()
    assert stats["max_concurrency"] <= CAP
    assert stats["max_submits_in_1s_window"] <= RATE + BURST
    assert stats["duplicate_submissions"] == {}
    assert stats["rejections"] == {}
    assert stats["submissions_by_name"] == {f"Meeting {i}": 1 for i in range(count)}
    jobs = await mongo.db[JOBS].find({"job_id": {"$ne": None}}).to_list(None)
    assert len(jobs) == count
    stages = {m["stage"] for m in await mongo.db[MEETINGS].find({}).to_list(None)}
    assert stages == {"submitted"}
    announced = await read_topic(infra, topic_name(infra, JobSubmitted.topic), count)
    assert {JobSubmitted.model_validate_json(v).meeting_uuid for v in announced} == {e.meeting_uuid for e in events}
    assert await Limiter(mongo, ACCOUNT).slots() == []
    assert completer.forged == 0
    assert all(submitted_by(p) > 0 for p in processes), [submitted_by(p) for p in processes]
    assert exit_codes == [0, 0, 0]


async def test_a_submitter_killed_mid_submit_submits_the_meeting_exactly_once_after_restart(
    infra: InfraSettings,
    mongo: Mongo,
    store: ObjectStore,
    symbl: TestServer,
    completer: Completer,
    tmp_path: Path,
) -> None:
    proxy = StallingProxy(str(symbl.make_url("")).rstrip("/"))
    await proxy.start()
    event = audio_mixed(1, infra, *await upload_for(store, tone_flac(tmp_path), 1))
    await add_meetings(mongo, [event])
    tenants = write_tenants(tmp_path / "tenants.json", "symbl", proxy.base_url)
    settings = {"submit_timeout_seconds": 3, "claim_grace_seconds": 1}
    first = SubmitterProcess(
        submitter_env(infra, tenants, completer.base_url, free_port(), **settings), tmp_path / "first.log"
    )
    second = SubmitterProcess(
        submitter_env(infra, tenants, completer.base_url, free_port(), **settings), tmp_path / "second.log"
    )
    try:
        first.start()
        await first.wait_ready()
        await publish_all(infra, [event], partitions=1)
        await asyncio.wait_for(proxy.stalled.wait(), 60)
        first.kill()

        second.start()

        async def released() -> bool:
            return len(completer.released) == 1

        await wait_for(released, 90, "the meeting submitted and its job completed", [first, second])
        assert second.stop() == 0
    finally:
        first.kill()
        second.kill()
        await proxy.close()

    assert symbl.app[SYMBL_STATE].stats()["submissions_by_name"] == {"Meeting 1": 1}
    jobs = await mongo.db[JOBS].find({}).to_list(None)
    assert len(jobs) == 1
    assert jobs[0]["job_id"] and jobs[0]["resubmitted_after_crash"] is True
    assert completer.released == [jobs[0]["job_ref"]]
    assert await Limiter(mongo, ACCOUNT).slots() == []
    announced = await read_topic(infra, topic_name(infra, JobSubmitted.topic), 1)
    assert {JobSubmitted.model_validate_json(v).job_id for v in announced} == {jobs[0]["job_id"]}


async def test_a_symbl_tenant_whose_api_host_does_not_resolve_keeps_the_submitter_unready(
    infra: InfraSettings, tmp_path: Path
) -> None:
    # RFC 6761: a name under .invalid never resolves, as Symbl's hosts reportedly have not since 2026-08.
    host = "api.zoomsymbl-test.invalid"
    tenants = write_tenants(tmp_path / "tenants.json", "symbl", f"https://{host}")
    process = SubmitterProcess(
        submitter_env(infra, tenants, "http://127.0.0.1:9", free_port()), tmp_path / "submitter.log"
    ).start()
    url = f"http://127.0.0.1:{process.port}/readyz"
    status, body = 0, dict[str, Any]()
    try:
        async with aiohttp.ClientSession() as http, asyncio.timeout(60):
            while body.get("checks", {}).get("kafka") != "ok":  # every resource is up; only the host is missing
                assert process.proc is not None and process.proc.poll() is None, process.tail()
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(url) as resp:
                        status, body = resp.status, await resp.json()
                await asyncio.sleep(0.2)
        assert status == 503, body
        assert (
            body["checks"]["symbl-dns"] == "unavailable: symbl API host(s) 'api.zoomsymbl-test.invalid' do not resolve"
        )
        logged = [json.loads(line) for line in process.tail(200).splitlines() if line.startswith("{")]
        assert any(entry["msg"] == "symbl api host does not resolve" and entry["hosts"] == [host] for entry in logged)
    finally:
        process.stop()


async def test_the_scratch_of_a_killed_run_is_swept_when_the_submitter_starts(
    infra: InfraSettings, tmp_path: Path
) -> None:
    # A split or downmix killed mid-way (OOM): the restarted container finds the files in the pod's volume.
    work = tmp_path / "work"
    leftovers = [work / "zoomsymbl-split-k1ll3d", work / "zoomsymbl-downmix-k1ll3d"]
    for left in leftovers:
        left.mkdir(parents=True)
        (left / "mixed.flac").write_bytes(b"\0" * 65536)
        (left / LOCK).touch()
    (work / "operator-notes").mkdir()
    tenants = write_tenants(tmp_path / "tenants.json", "symbl", "http://127.0.0.1:9")
    env = submitter_env(infra, tenants, "http://127.0.0.1:9", free_port(), work_dir=work)
    process = SubmitterProcess(env, tmp_path / "submitter.log").start()
    try:
        await process.wait_ready()
        assert sorted(p.name for p in work.iterdir()) == ["operator-notes"], process.tail()
    finally:
        process.stop()
