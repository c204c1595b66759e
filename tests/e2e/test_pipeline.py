"""End to end: a signed Zoom webhook becomes exactly one e-mail, through four service processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from zoomsymbl_common.mongo import Mongo, make_mongo
from zoomsymbl_common.records import JOBS, MEETINGS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_sandbox.stack import Stack
from zoomsymbl_sandbox.zoom import MeetingSpec

from tests.e2e.conftest import (
    CONCURRENT,
    FAILING,
    NO_TRACKS,
    REPLAYED,
    RERUN,
    SINGLE,
    mails_for,
    operator,
    settled,
    wait_for_mails,
)
from tests.support.eventually import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@pytest.fixture
async def db(stack: Stack) -> AsyncIterator[Mongo]:
    mongo = make_mongo(InfraSettings().model_copy(update={"mongo_database": stack.config.database}))
    yield mongo
    await mongo.close()


async def _meeting(db: Mongo, spec: MeetingSpec) -> dict[str, Any]:
    doc = await db.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": spec.uuid})
    assert doc is not None, f"no meeting document for {spec.uuid!r}"
    return doc


async def _wait_stage(db: Mongo, spec: MeetingSpec, stage: str, timeout: float = 120) -> dict[str, Any]:
    async def meeting() -> dict[str, Any]:
        return await db.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": spec.uuid}) or {}

    return await eventually(
        meeting, lambda doc: doc.get("stage") == stage, timeout=timeout, what=f"{spec.uuid!r} to reach {stage!r}"
    )


def _text(message: Any) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


async def test_one_meeting_ends_in_one_email_with_every_speaker(stack: Stack, db: Mongo) -> None:
    assert await stack.trigger_recording_completed(SINGLE.uuid) == 200
    await wait_for_mails([SINGLE])
    await settled(stack)
    [message] = mails_for(SINGLE)
    assert SINGLE.topic in str(message["Subject"])
    assert message["To"] == SINGLE.host_email
    text = _text(message)
    for participant in SINGLE.participants:
        assert participant.name in text
    assert [a.get_filename() for a in message.iter_attachments()] == ["transcript.txt"]
    doc = await _wait_stage(db, SINGLE, "notified")
    names = [c["participant_name"] for c in sorted(doc["channel_map"], key=lambda c: c["channel"])]
    assert names == [p.name for p in SINGLE.participants]
    offsets = [c["offset_seconds"] for c in sorted(doc["channel_map"], key=lambda c: c["channel"])]
    assert offsets == [float(p.start_offset_s) for p in SINGLE.participants]


async def test_a_duplicate_webhook_and_an_idempotent_replay_send_nothing_new(stack: Stack, db: Mongo) -> None:
    await wait_for_mails([SINGLE])
    assert await stack.trigger_recording_completed(SINGLE.uuid) == 200
    # Ingest answered once Kafka had the event (or dropped it as a duplicate): when every service has
    # handled all it was given, whatever the duplicate was going to cause has happened.
    await settled(stack)
    assert len(mails_for(SINGLE)) == 1
    stats = await stack.sandbox_stats("symbl")
    assert stats["submissions_by_name"].get(SINGLE.topic) == 1


async def test_twenty_concurrent_meetings_each_get_one_email(stack: Stack, db: Mongo) -> None:
    statuses = await asyncio.gather(*(stack.trigger_recording_completed(m.uuid) for m in CONCURRENT))
    assert statuses == [200] * len(CONCURRENT)
    await wait_for_mails(CONCURRENT, timeout=420)
    await settled(stack)
    for spec in CONCURRENT:
        assert len(mails_for(spec)) == 1, spec.topic
        doc = await _wait_stage(db, spec, "notified")
        assert len(doc["channel_map"]) == len(spec.participants), spec.topic
        assert {c["participant_name"] for c in doc["channel_map"]} == {p.name for p in spec.participants}
    stats = await stack.sandbox_stats("symbl")
    assert stats["max_concurrency"] <= 5
    assert all(stats["submissions_by_name"].get(spec.topic) == 1 for spec in CONCURRENT)


async def test_a_meeting_without_participant_tracks_uses_the_audio_only_file(stack: Stack, db: Mongo) -> None:
    assert await stack.trigger_recording_completed(NO_TRACKS.uuid) == 200
    await wait_for_mails([NO_TRACKS])
    await settled(stack)
    assert len(mails_for(NO_TRACKS)) == 1
    doc = await _wait_stage(db, NO_TRACKS, "notified")
    assert len(doc["channel_map"]) == 1
    job = await db.db[JOBS].find_one({"meeting_uuid": NO_TRACKS.uuid})
    assert job is not None


async def test_a_failed_provider_job_marks_the_meeting_failed_and_notifies_once(stack: Stack, db: Mongo) -> None:
    assert await stack.trigger_recording_completed(FAILING.uuid) == 200
    doc = await _wait_stage(db, FAILING, "failed")
    assert doc.get("failure"), "the failure carries a stage and a reason"
    await wait_for_mails([FAILING])
    await settled(stack)
    assert len(mails_for(FAILING)) == 1
    limiter = await stack.sandbox_stats("symbl")
    assert limiter["in_flight"] == 0


async def _wait_for_mail_count(spec: MeetingSpec, count: int, timeout: float = 180) -> None:
    async def mails() -> int:
        return len(mails_for(spec))

    await eventually(mails, lambda n: n >= count, timeout=timeout, what=f"{count} e-mails for {spec.topic!r}")


async def _submissions(stack: Stack, spec: MeetingSpec) -> int:
    stats = await stack.sandbox_stats("symbl")
    return int(stats["submissions_by_name"].get(spec.topic, 0))


async def test_replay_without_force_does_nothing_new_and_with_force_reprocesses_as_an_update(
    stack: Stack, db: Mongo
) -> None:
    """`zoomsymbl replay` of a finished meeting: plain → no new job, no e-mail; `--force` → a new
    provider job under generation 1 and a second e-mail marked as an update."""
    assert await stack.trigger_recording_completed(REPLAYED.uuid) == 200
    await wait_for_mails([REPLAYED])
    await _wait_stage(db, REPLAYED, "notified")
    assert await _submissions(stack, REPLAYED) == 1
    selection = ("--topic", "zoom.recording-completed.v1", "--tenant", "acme", "--meeting", REPLAYED.uuid)

    out = await operator(stack, "replay", *selection)
    assert "matched=1 published=1" in out, out
    await settled(stack)  # the replayed event was handled: a wrong reprocessing would have reached the provider
    assert len(mails_for(REPLAYED)) == 1
    assert await _submissions(stack, REPLAYED) == 1

    out = await operator(stack, "replay", *selection, "--force")
    # The plain replay left a second copy of the event on the topic: one reprocessing all the same.
    assert "matched=2 published=1 skipped=1" in out, out
    await _wait_for_mail_count(REPLAYED, 2)
    await settled(stack)
    first, update = mails_for(REPLAYED)
    assert not str(first["Subject"]).startswith("[Update")
    assert str(update["Subject"]).startswith("[Update 1] "), update["Subject"]
    assert update["Message-ID"] != first["Message-ID"]
    assert await _submissions(stack, REPLAYED) == 2
    doc = await _wait_stage(db, REPLAYED, "notified")
    assert doc["generation"] == 1
    jobs = await db.db[JOBS].find({"meeting_uuid": REPLAYED.uuid}).to_list(None)
    assert sorted(j["generation"] for j in jobs) == [0, 1]
    assert len({j["job_id"] for j in jobs}) == 2

    history = await operator(stack, "status", "--meeting", REPLAYED.uuid, "--tenant", "acme")
    assert REPLAYED.uuid in history


async def test_a_meeting_that_failed_is_reported_when_a_forced_replay_runs_it_again(stack: Stack, db: Mongo) -> None:
    """The provider failed the meeting's job (a passing fault), the host got the failure notice; the operator ran the
    meeting again with `zoomsymbl replay --force`. The re-run's report reaches the host as an update (before
    2026-12-06 the meeting stayed `failed` through the re-run and its report was withheld)."""
    async with aiohttp.ClientSession() as session:
        faults = stack.config.url("symbl") + "/_sandbox/faults"
        async with session.post(faults, json={"fail_next_jobs": 1}) as response:
            assert response.status == 200
    assert await stack.trigger_recording_completed(RERUN.uuid) == 200
    await _wait_stage(db, RERUN, "failed")
    await wait_for_mails([RERUN])
    [notice] = mails_for(RERUN)
    assert "Processing failed" in str(notice["Subject"]), notice["Subject"]

    selection = ("--topic", "zoom.recording-completed.v1", "--tenant", "acme", "--meeting", RERUN.uuid)
    out = await operator(stack, "replay", *selection, "--force")
    assert "published=1" in out, out

    await _wait_for_mail_count(RERUN, 2)
    await settled(stack)
    _, report = mails_for(RERUN)
    assert str(report["Subject"]) == f"[Update 1] Meeting summary: {RERUN.topic}", report["Subject"]
    doc = await _wait_stage(db, RERUN, "notified")
    assert doc["generation"] == 1 and "failure" not in doc
    assert len(mails_for(RERUN)) == 2
