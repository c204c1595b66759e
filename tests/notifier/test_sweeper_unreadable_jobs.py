"""The sweeper and a job document that does not validate (an older release's, one edited by hand): the safety net
for lost callbacks and failed sends must not stop for it."""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta

import pytest
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Document
from zoomsymbl_common.providers.base import JobState
from zoomsymbl_common.records import EARLY_CALLBACKS, JOBS
from zoomsymbl_notifier.mail import Envelope
from zoomsymbl_notifier.outbox import MailKey
from zoomsymbl_notifier.pipeline import Pipeline
from zoomsymbl_notifier.sweeper import Sweeper

from tests.notifier.conftest import Notifier
from tests.notifier.harness import TENANT

pytestmark = pytest.mark.integration

DUE = MailKey(TENANT, "m-due-behind-a-bad-job", 0, "failure")


def _job(key: str, *, hours_ago: float, **fields: object) -> Document:
    """A stale job of a tenant this deployment does not know (the sweeper polls no provider for it)."""
    return {
        "_id": key,
        "idempotency_key": key,
        "job_ref": key,
        "tenant": "ghost",
        "meeting_uuid": f"m-{key}",
        "provider": "symbl",
        "job_id": f"job-{key}",
        "conversation_id": "c",
        "status": "scheduled",
        "updated_at": utcnow() - timedelta(hours=hours_ago),
        **fields,
    }


# A provider's own status word where the job's status belongs: no StoredJobStatus, MalformedRecord on every read.
UNREADABLE = _job("k-unreadable", hours_ago=48, status="queued")
READABLE = _job("k-readable", hours_ago=1)


def _one_job_a_round(notifier: Notifier) -> Pipeline:
    settings = notifier.pipeline.settings.model_copy(update={"sweeper_batch_size": 1})
    return dataclasses.replace(notifier.pipeline, settings=settings)


async def _due_email(notifier: Notifier) -> None:
    raw = f"Message-ID: <{DUE.meeting_uuid}@zoomsymbl.test>\r\nSubject: failed\r\n\r\nbody\r\n".encode()
    envelope = Envelope("bot@zoomsymbl.test", ("host@example.com",))
    await notifier.pipeline.outbox.record(DUE, envelope, "<due@zoomsymbl.test>", raw)
    assert await notifier.pipeline.outbox.due(10) == [DUE]


async def test_an_unreadable_stale_job_ends_no_round_and_the_due_emails_go_out(
    notifier: Notifier, caplog: pytest.LogCaptureFixture
) -> None:
    """It raised MalformedRecord out of every sweep, before the outbox's turn: no e-mail was retried, ever."""
    await notifier.mongo.db[JOBS].insert_many([UNREADABLE, READABLE])
    await _due_email(notifier)

    with caplog.at_level(logging.ERROR, logger="zoomsymbl.notifier.jobs"):
        report = await Sweeper(notifier.pipeline).sweep()

    assert (report.polled, report.mails_tried) == (1, 1)
    assert [str(m["Message-ID"]) for m in notifier.smtp.messages] == [f"<{DUE.meeting_uuid}@zoomsymbl.test>"]
    readable = await notifier.mongo.db[JOBS].find_one({"_id": READABLE["_id"]})
    assert readable is not None and readable.get("polled_at") is not None
    [logged] = [r for r in caplog.records if r.getMessage() == "job document unreadable, set aside"]
    assert logged.__dict__["job_key"] == UNREADABLE["_id"]


async def test_an_unreadable_stale_job_does_not_take_a_readable_ones_place_round_after_round(
    notifier: Notifier,
) -> None:
    """The oldest job comes first: one that cannot be read, left as it was, would fill the batch every round."""
    await notifier.mongo.db[JOBS].insert_many([UNREADABLE, READABLE])
    sweeper = Sweeper(_one_job_a_round(notifier))

    first = await sweeper.sweep()
    second = await sweeper.sweep()

    assert (first.polled, second.polled) == (0, 1)
    readable = await notifier.mongo.db[JOBS].find_one({"_id": READABLE["_id"]})
    assert readable is not None and readable.get("polled_at") is not None
    unreadable = await notifier.mongo.db[JOBS].find_one({"_id": UNREADABLE["_id"]})
    stale = timedelta(seconds=notifier.pipeline.settings.sweeper_stale_after_seconds)
    assert unreadable is not None and unreadable["updated_at"] > utcnow() + stale, "set aside, not lost"
    assert unreadable["status"] == "queued", "nothing else of it is changed"


async def test_an_early_callback_of_an_unreadable_job_ends_no_round(notifier: Notifier) -> None:
    """The note of a callback that overtook the submitter, on a job that cannot be read: dropped, not raised."""
    fresh = {**UNREADABLE, "updated_at": utcnow()}
    await notifier.mongo.db[JOBS].insert_one(fresh)
    early = notifier.mongo.db[EARLY_CALLBACKS]
    await early.insert_one({"_id": fresh["_id"], "job_id": fresh["job_id"], "status": "completed", "at": utcnow()})
    await _due_email(notifier)

    report = await Sweeper(notifier.pipeline).sweep()

    assert (report.polled, report.mails_tried) == (0, 1)
    assert len(notifier.smtp.messages) == 1
    assert await early.find_one({"_id": fresh["_id"]}) is None


class _StillRunning:
    async def job_status(self, job_id: str) -> JobState:
        return JobState("in_progress")


async def test_a_job_whose_time_was_stored_without_an_offset_ends_no_round(
    notifier: Notifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``submitted_at`` stored as a string without an offset validated and read naive: judging the job overdue
    subtracted it from an aware time (TypeError) and the round ended before the outbox's turn. A stored time is UTC."""
    an_hour_ago = (utcnow() - timedelta(hours=1)).replace(tzinfo=None).isoformat()
    naive = _job("k-naive", hours_ago=48, tenant=TENANT, submitted_at=an_hour_ago)  # stale, not overdue
    await notifier.mongo.db[JOBS].insert_one(naive)
    await _due_email(notifier)
    monkeypatch.setattr(notifier.pipeline, "provider_for", lambda *_: _StillRunning())

    report = await Sweeper(notifier.pipeline).sweep()

    assert (report.polled, report.mails_tried) == (1, 1)
    assert [str(m["Message-ID"]) for m in notifier.smtp.messages] == [f"<{DUE.meeting_uuid}@zoomsymbl.test>"]
