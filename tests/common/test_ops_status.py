from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from zoomsymbl_common.mongo import EMAILS, JOBS, MEETINGS, Mongo
from zoomsymbl_common.ops.cli import build_parser
from zoomsymbl_common.ops.status import age, format_history, format_listing, list_meetings, meeting_history

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_age_is_short_and_human() -> None:
    assert age(NOW - timedelta(seconds=42), NOW) == "42s"
    assert age(NOW - timedelta(hours=3, minutes=5), NOW) == "3h"
    assert age(None, NOW) == "?"


def test_listing_shows_stage_age_and_failure_reason() -> None:
    docs = [
        {
            "tenant": "acme",
            "meeting_uuid": "abc//def==",
            "stage": "failed",
            "updated_at": NOW - timedelta(minutes=7),
            "failure": {"stage": "download", "reason": "zoom error code 124"},
        },
    ]
    text = format_listing(docs, NOW)
    assert "abc//def==" in text
    assert "7m" in text
    assert "download: zoom error code 124" in text


def test_parser_accepts_the_documented_flags() -> None:
    args = build_parser().parse_args(
        ["replay", "--topic", "audio.mixed.v1", "--since", "2026-11-01T00:00", "--tenant", "acme", "--force"]
    )
    assert args.force
    assert args.since.tzinfo is not None


@pytest.mark.integration
async def test_meeting_history_links_jobs_and_emails_without_secrets(mongo: Mongo) -> None:
    await mongo.db[MEETINGS].insert_one(
        {"tenant": "acme", "meeting_uuid": "m1", "stage": "notified", "updated_at": NOW, "trace_id": "ab" * 16,
         "transcription_progress": {"job_id": "whisper-1", "percent": 62.5, "channels_done": 1, "channels": 2}}
    )  # fmt: skip
    await mongo.db[JOBS].insert_one(
        {"idempotency_key": "k1", "tenant": "acme", "meeting_uuid": "m1", "job_id": "j1", "token": "s3cr3t-token"}
    )
    await mongo.db[EMAILS].insert_one(
        {"tenant": "acme", "meeting_uuid": "m1", "generation": 0, "kind": "report", "message_id": "<x@y>"}
    )
    listing = await list_meetings(mongo, tenant="acme", stage="notified")
    assert [d["meeting_uuid"] for d in listing] == ["m1"]
    history = await meeting_history(mongo, "m1")
    assert history is not None
    text = format_history(history)
    assert "j1" in text
    assert "<x@y>" in text
    assert "ab" * 16 in text
    assert "'percent': 62.5" in text, "the self-hosted transcriber's progress is shown"
    assert "s3cr3t-token" not in text
