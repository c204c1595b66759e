from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.cli import build_parser
from zoomsymbl_common.ops.status import age, format_history, format_listing, list_meetings, meeting_history
from zoomsymbl_common.records import (
    EMAILS,
    JOBS,
    LIMITER,
    MEETINGS,
    ChannelEntry,
    Email,
    Failure,
    Job,
    Meeting,
    Progress,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_age_is_short_and_human() -> None:
    assert age(NOW - timedelta(seconds=42), NOW) == "42s"
    assert age(NOW - timedelta(hours=3, minutes=5), NOW) == "3h"
    assert age(None, NOW) == "?"


def test_listing_shows_stage_age_and_failure_reason() -> None:
    meeting = Meeting(
        tenant="acme",
        meeting_uuid="abc//def==",
        stage="failed",
        updated_at=NOW - timedelta(minutes=7),
        failure=Failure.build("mixer", "download", "zoom error code 124", at=NOW),
    )
    text = format_listing([meeting], NOW)
    assert "abc//def==" in text
    assert "7m" in text
    assert "mixer/download: zoom error code 124" in text


def test_parser_accepts_the_documented_flags() -> None:
    args = build_parser().parse_args(
        ["replay", "--topic", "audio.mixed.v1", "--since", "2026-11-01T00:00", "--tenant", "acme", "--force"]
    )
    assert args.force
    assert args.since.tzinfo is not None


@pytest.mark.integration
async def test_meeting_history_links_jobs_and_emails_without_secrets(mongo: Mongo) -> None:
    meeting = Meeting(
        tenant="acme",
        meeting_uuid="m1",
        stage="notified",
        updated_at=NOW,
        trace_id="ab" * 16,
        transcription_progress=Progress(job_id="whisper-1", percent=62.5, channels_done=1, channels=2),
        channel_map=[ChannelEntry(channel=1, participant_name="Zoë", participant_email="zoe@b.example")],
    )
    objects = {
        "mixed": {"bucket": "b", "key": "mixed/acme/bTE.flac", "size": 2048},
        "raw": [{"file_id": "f-1", "key": "raw/acme/bTE/f-1.m4a", "size": 1024}],
    }
    await mongo.db[MEETINGS].insert_one({**meeting.to_document(), "objects": objects})
    job = Job(
        id="k1", idempotency_key="k1", job_ref="k1", tenant="acme", meeting_uuid="m1",
        provider="assemblyai", status="completed", job_id="j1",
    )  # fmt: skip
    # A field no model knows (a leftover, a secret) is never shown.
    await mongo.db[JOBS].insert_one({**job.to_document(), "callback_token": "s3cr3t-token"})
    mail = Email(
        tenant="acme", meeting_uuid="m1", generation=0, kind="report", message_id="<x@y>", sender="a@b.example",
        recipients=["host@b.example"], raw=b"Subject: s3cr3t-raw", status="sent", next_attempt_at=NOW, created_at=NOW,
    )  # fmt: skip
    await mongo.db[EMAILS].insert_one(mail.to_document())
    slot = {"_id": "acct|3", "key": "acct", "account": "acct", "slot": 3, "ref": "k1", "acquired_at": 1.0}
    await mongo.db[LIMITER].insert_one({**slot, "expires_at": 2.0})
    listing = await list_meetings(mongo, tenant="acme", stage="notified")
    assert [m.meeting_uuid for m in listing.meetings] == ["m1"]
    history = await meeting_history(mongo, "m1")
    assert history is not None
    text = format_history(history)
    assert "j1" in text
    assert "<x@y>" in text
    assert "ab" * 16 in text
    assert "62.5% (1/2 channels, job whisper-1)" in text, "the self-hosted transcriber's progress is shown"
    assert "acct slot 3 held by k1" in text
    assert "1: Zoë <zoe@b.example>" in text, "a channel map built in Python is kept"
    assert "f-1: raw/acme/bTE/f-1.m4a (1024 bytes)" in text and "mixed: mixed/acme/bTE.flac (2048 bytes)" in text
    shown = text + json.dumps(history.as_json())
    assert "s3cr3t-token" not in shown
    assert "s3cr3t-raw" not in shown


@pytest.mark.parametrize("expires_at", [1e300, -1e300])  # (FerretDB refuses infinity and drops NaN reads)
async def test_a_limiter_slot_with_an_unreadable_time_does_not_break_the_history(
    mongo: Mongo, expires_at: float
) -> None:
    """Unix seconds as stored: a year past 9999 (or NaN, infinity) made ``zoomsymbl status <uuid>`` crash."""
    await mongo.db[MEETINGS].insert_one(Meeting(tenant="acme", meeting_uuid="m1", stage="submitted").to_document())
    await mongo.db[JOBS].insert_one(
        Job(
            id="k1",
            idempotency_key="k1",
            job_ref="k1",
            tenant="acme",
            meeting_uuid="m1",
            provider="symbl",
            status="scheduled",
        ).to_document()
    )
    slot = {"_id": "acct|0", "key": "acct", "account": "acct", "slot": 0, "ref": "k1", "acquired_at": 1.0}
    await mongo.db[LIMITER].insert_one({**slot, "expires_at": expires_at})
    history = await meeting_history(mongo, "m1")
    assert history is not None
    assert "acct slot 0 held by k1 until ?" in format_history(history)


async def test_one_unreadable_linked_document_is_named_and_the_rest_of_the_history_shown(mongo: Mongo) -> None:
    """Before, a single job or e-mail document of another release's shape made `zoomsymbl status --meeting` fail
    whole (MalformedRecord), when the operator needed the history most."""
    await mongo.db[MEETINGS].insert_one(Meeting(tenant="acme", meeting_uuid="m1", stage="submitted").to_document())
    good = Job(
        id="k1", idempotency_key="k1", job_ref="k1", tenant="acme", meeting_uuid="m1", provider="symbl",
        status="completed", job_id="j-good",
    )  # fmt: skip
    await mongo.db[JOBS].insert_one(good.to_document())
    await mongo.db[JOBS].insert_one(
        {**good.to_document(), "_id": "k2", "idempotency_key": "k2", "job_ref": "k2", "part_index": "x"}
    )
    await mongo.db[EMAILS].insert_one({"_id": "e1", "tenant": "acme", "meeting_uuid": "m1", "kind": 7})
    history = await meeting_history(mongo, "m1")
    assert history is not None
    assert [job.job_id for job in history.jobs] == ["j-good"]
    assert [note.split(":")[0] for note in history.malformed] == [f"{JOBS} k2", f"{EMAILS} e1"]
    text = format_history(history)
    assert "j-good" in text
    assert "unreadable documents: 2" in text and f"{JOBS} k2: malformed Job document" in text
    assert history.as_json()["malformed"] == history.malformed


async def test_a_meeting_restarted_by_a_forced_replay_is_shown_restarted_not_unknown(mongo: Mongo) -> None:
    from zoomsymbl_common.ops.replay import bump_generation

    await mongo.db[MEETINGS].insert_one(
        {"tenant": "acme", "meeting_uuid": "done==", "stage": "notified", "generation": 1, "updated_at": NOW}
    )
    await bump_generation(mongo, "acme", "done==", "replay-1")  # clears generation 1's stage
    await bump_generation(mongo, "acme", "never-stored==", "replay-1")  # a document with no stage at all

    listing = format_listing((await list_meetings(mongo, tenant="acme")).meetings, NOW).splitlines()
    assert "restarted" in next(line for line in listing if "done==" in line).split()
    assert "queued" in next(line for line in listing if "never-stored==" in line).split()
    history = await meeting_history(mongo, "done==", tenant="acme")
    assert history is not None
    lines = format_history(history).splitlines()
    assert "  stage: restarted (its run has not reached a stage yet)  generation: 2" in lines
