"""The shared MongoDB documents: stage order, forward-only filters, the failure, round trips, rejections."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from zoomsymbl_common.logs import register_secret
from zoomsymbl_common.records import (
    STAGE_ORDER,
    ConsumerAttempt,
    EarlyCallback,
    Email,
    EmailClaim,
    Failure,
    Job,
    JobClaim,
    LimiterSlot,
    LimiterTick,
    MalformedRecord,
    Meeting,
    MeetingSecret,
    Receipt,
    Record,
    StoredInsights,
    Transcription,
    forward_filter,
    is_terminal,
    job_forward_filter,
    replaceable_statuses,
    stage_for_status,
    stages_before,
    status_rank,
)

AT = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
PART = {
    "index": 0,
    "count": 1,
    "offset_seconds": 0.0,
    "duration_seconds": 9.5,
    "bucket": "b",
    "object_key": "k",
    "size_bytes": 10,
}

# ---------------------------------------------------------------- orders and filters


def test_stages_run_in_one_order_and_failed_and_later_stages_are_final() -> None:
    assert STAGE_ORDER == ("received", "mixed", "submitted", "processing", "completed", "notified")
    assert stages_before("submitted") == [None, "received", "mixed"]
    assert stages_before("notified") == [None, "received", "mixed", "submitted", "processing", "completed"]
    assert stages_before("failed") == [None, "received", "mixed", "submitted", "processing"]
    assert "notified" not in stages_before("completed")
    assert "failed" not in stages_before("notified")


def test_a_later_job_status_may_replace_an_earlier_one_but_never_the_reverse() -> None:
    assert replaceable_statuses("scheduled") == ["submitting"]
    assert "scheduled" in replaceable_statuses("in_progress")
    assert "in_progress" in replaceable_statuses("completed")
    assert "completed" not in replaceable_statuses("in_progress")
    assert "completed" not in replaceable_statuses("failed") and "failed" not in replaceable_statuses("completed")
    assert "in_progress" not in replaceable_statuses("in_progress")
    assert "retrying" not in replaceable_statuses("completed") and "rejected" not in replaceable_statuses("failed")
    assert status_rank("submitting") < status_rank("scheduled") < status_rank("in_progress") < status_rank("failed")


def test_terminal_statuses_and_the_stage_a_status_implies() -> None:
    assert is_terminal("completed") and is_terminal("failed")
    assert not is_terminal("in_progress") and not is_terminal(None)
    assert stage_for_status("in_progress") == stage_for_status("completed") == "processing"
    assert stage_for_status("scheduled") is None and stage_for_status("failed") is None


def test_the_forward_filter_matches_earlier_stages_of_one_generation() -> None:
    assert forward_filter("acme", "m", "submitted", generation=2) == {
        "tenant": "acme",
        "meeting_uuid": "m",
        "generation": 2,
        "stage": {"$in": [None, "received", "mixed"]},
    }
    assert forward_filter("acme", "m", "mixed", generation=None, refail_by="mixer") == {
        "tenant": "acme",
        "meeting_uuid": "m",
        "$or": [{"stage": {"$in": [None, "received"]}}, {"stage": "failed", "failure.service": "mixer"}],
    }
    assert job_forward_filter("k", "completed") == {
        "_id": "k",
        "status": {"$in": ["submitting", "scheduled", "in_progress"]},
    }


# ---------------------------------------------------------------- the failure


def test_the_failure_is_bounded_scrubbed_and_carries_the_flat_pair() -> None:
    register_secret("s3cr3t-token-value")
    failure = Failure.build("submitter", "submit", "refused s3cr3t-token-value " + "x" * 5000, at=AT)
    assert len(failure.reason) == 1000 and "s3cr3t-token-value" not in failure.reason
    fields = failure.fields()
    assert fields["stage"] == "failed"
    assert fields["failed_stage"] == "submitter:submit" and fields["failure_reason"] == failure.reason
    assert fields["failure"] == {"service": "submitter", "stage": "submit", "reason": failure.reason, "at": AT}


def test_a_failure_read_with_an_unbounded_reason_is_refused() -> None:
    with pytest.raises(MalformedRecord, match="Failure"):
        Failure.from_document({"service": "mixer", "stage": "mix", "reason": "x" * 1001, "at": AT})


# ---------------------------------------------------------------- round trips and rejections

SAMPLES: list[tuple[type[Record], dict[str, object]]] = [
    (
        Meeting,
        {
            "tenant": "acme",
            "meeting_uuid": "u/1==",
            "generation": 1,
            "stage": "failed",
            "stages": {"submitted": AT, "failed": AT},
            "failure": {"service": "notifier", "stage": "provider", "reason": "no", "at": AT},
            "topic": "Sync",
            "host_email": "h@example.com",
            "channel_map": [{"channel": 1, "participant_name": "Ann", "participant_email": None}],
            "speaker_stats": [{"channel": 1, "talk_seconds": 3.5}],
            "split": {"input_hash": "h", "generation": 1, "planned": 1, "count": 1, "parts": [PART]},
            "provider": "symbl",
            "part_count": 2,
            "created_at": AT,
            "updated_at": AT,
        },
    ),
    (
        Job,
        {
            "_id": "ref",
            "idempotency_key": "ref",
            "job_ref": "ref",
            "tenant": "acme",
            "meeting_uuid": "m",
            "generation": 0,
            "provider": "assemblyai",
            "limiter_account_key": "assemblyai:abc",
            "status": "scheduled",
            "job_id": "j-1",
            "conversation_id": "j-1",
            "claimed_until": AT,
            "history": [{"status": "submitting", "at": AT, "owner": "pod-1"}],
        },
    ),
    (JobClaim, {"_id": "ref#2", "owner": "pod-1", "at": AT}),
    (EarlyCallback, {"_id": "ref", "job_id": "j-1", "status": "completed", "at": AT}),
    (
        Email,
        {
            "tenant": "acme",
            "meeting_uuid": "m",
            "generation": 0,
            "kind": "report",
            "message_id": "<m@x>",
            "sender": "bot@example.com",
            "recipients": ["h@example.com"],
            "raw": b"Subject: hi\r\n\r\nbody",
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": AT,
            "created_at": AT,
        },
    ),
    (EmailClaim, {"_id": "acme|report|0|1|m", "claimed_at": AT}),
    (
        Receipt,
        {
            "_id": "k.published",
            "key": "k.published",
            "receipt": "k",
            "tenant": "acme",
            "meeting_uuid": "m",
            "event_id": "e",
            "source": "webhook",
            "state": "published",
            "received_at": AT,
        },
    ),
    (MeetingSecret, {"tenant": "acme", "meeting_uuid": "m", "download_token": "t", "expires_at": AT}),
    (
        StoredInsights,
        {
            "provider": "symbl",
            "conversation_id": "c",
            "tenant": "acme",
            "meeting_uuid": "m",
            "job_id": "j",
            "insights": {"summary": ["s"]},
            "stored_at": AT,
        },
    ),
    (Transcription, {"_id": "whisper-1", "status": "scheduled", "bucket": "b", "object_key": "k", "channels": 2}),
    (ConsumerAttempt, {"_id": "abc", "count": 2, "service": "mixer", "topic": "t", "event_id": "e"}),
    (
        LimiterSlot,
        {
            "_id": "a|slot|0",
            "key": "a|ref|r",
            "account": "a",
            "slot": 0,
            "ref": "r",
            "acquired_at": 1.0,
            "expires_at": 61.0,
        },
    ),
    (LimiterTick, {"_id": "a|2|7", "account": "a", "rate": 2.0, "tick": 7, "at": 3.5}),
]


@pytest.mark.parametrize(("model", "doc"), SAMPLES, ids=[m.__name__ for m, _ in SAMPLES])
def test_every_document_survives_a_round_trip(model: type[Record], doc: dict[str, object]) -> None:
    record = model.from_document({**doc, "unknown_bookkeeping": 1})
    again = model.from_document(record.to_document())
    assert again == record
    stored = record.to_document()
    # Sub-documents are dumped with every field (None where unset); the top-level names are the stored ones.
    assert {k: stored[k] for k in doc if k != "history"} == {k: v for k, v in doc.items() if k != "history"}


@pytest.mark.parametrize(
    ("model", "doc"),
    [
        (Meeting, {"tenant": "acme", "meeting_uuid": "m", "stage": "teleported"}),
        (Meeting, {"tenant": "", "meeting_uuid": "m"}),
        (Meeting, {"tenant": "acme", "meeting_uuid": "m", "topic": "x" * 5000}),
        (Job, {**SAMPLES[1][1], "status": "submitted"}),
        (Job, {**SAMPLES[1][1], "provider": "otter"}),
        (Job, {**SAMPLES[1][1], "_id": None}),
        (Email, {**SAMPLES[4][1], "status": "maybe"}),
        (Receipt, {**SAMPLES[6][1], "state": "published-ish"}),
        (MeetingSecret, {"tenant": "acme", "meeting_uuid": "m", "download_token": ""}),
        (Transcription, {"_id": "w", "status": "scheduled", "bucket": "b", "object_key": "k", "channels": 0}),
        (LimiterSlot, {"_id": "a|slot|0", "key": "k", "account": "a", "slot": -1, "ref": "r"}),
    ],
)
def test_malformed_documents_are_refused(model: type[Record], doc: dict[str, object]) -> None:
    with pytest.raises(MalformedRecord):
        model.from_document(doc)


def test_channel_entries_without_a_channel_number_are_dropped_not_fatal() -> None:
    meeting = Meeting.from_document(
        {
            "tenant": "acme",
            "meeting_uuid": "m",
            "channel_map": [{"channel": 2, "participant_name": "Ben"}, "junk", {"channel": "x"}],
            "speaker_stats": [{"channel": 1, "talk_seconds": 12.5}, {"channel": "x"}],
        }
    )
    assert [c.channel for c in meeting.channel_map] == [2]
    assert meeting.talk_seconds() == {1: 12.5}


def test_transcript_entries_that_do_not_read_are_dropped_not_fatal() -> None:
    good = {"file_id": "t1", "kind": "transcript", "key": "raw/acme/bQ/t1.vtt", "size_bytes": 12}
    meeting = Meeting.from_document(
        {"tenant": "acme", "meeting_uuid": "m", "transcripts": [good, {"file_id": "t2", "kind": "pdf"}, "junk"]}
    )
    assert [(t.file_id, t.kind) for t in meeting.transcripts] == [("t1", "transcript")]


@pytest.mark.parametrize(
    ("stored", "read"),
    [("2026-01-01T09:30:00", datetime(2026, 1, 1, 9, 30, tzinfo=UTC)),
     ("2026-01-01T09:30:00-05:00", datetime(2026, 1, 1, 14, 30, tzinfo=UTC)),
     ("0001-01-01T00:00:00+05:00", datetime.min.replace(tzinfo=UTC)),
     ("9999-12-31T23:59:59-05:00", datetime.max.replace(tzinfo=UTC))],
    ids=["no offset", "an offset", "year 1 east of UTC", "year 9999 west of UTC"],
)  # fmt: skip
def test_every_stored_time_reads_as_aware_utc(stored: str, read: datetime) -> None:
    """A time stored as a string (a hand edit, another writer) read as written: naive (no aware time subtracts it: the
    sweeper's round ended on a job's), or with an offset UTC cannot hold (the report raised after it was announced)."""
    meeting = Meeting.model_validate({"tenant": "acme", "meeting_uuid": "m1", "start_time": stored})
    ids = {"_id": "r", "idempotency_key": "r", "job_ref": "r", "tenant": "acme", "meeting_uuid": "m1"}
    job = Job.model_validate({**ids, "provider": "symbl", "status": "scheduled", "submitted_at": stored})
    assert meeting.start_time == read and meeting.start_time.tzinfo is UTC
    assert job.submitted_at == read and job.submitted_at.tzinfo is UTC
