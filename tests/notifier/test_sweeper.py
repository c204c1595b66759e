"""The sweeper: lost callbacks never strand a meeting or a limiter slot; trouble never stops a round."""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta

import pytest
from zoomsymbl_common.errors import MongoUnavailable
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.limiter import Limiter
from zoomsymbl_common.records import EARLY_CALLBACKS, EMAILS, JOBS
from zoomsymbl_notifier.mail import Envelope
from zoomsymbl_notifier.outbox import MailKey, Outcome
from zoomsymbl_notifier.sweeper import Sweeper

from tests.notifier.conftest import Notifier
from tests.notifier.harness import ACCOUNT, TENANT
from tests.support.eventually import eventually

pytestmark = pytest.mark.integration


async def test_lost_callbacks_are_made_up_for_by_the_sweeper(notifier: Notifier) -> None:
    notifier.symbl.state.faults.update({"drop_callbacks": 100})
    await notifier.submitter.meeting("m-lost")
    job = await notifier.submitter.submit("m-lost")
    await notifier.sandbox_done(job)
    assert (await notifier.job(job))["status"] == "scheduled"

    async def swept() -> bool:
        await notifier.sweep()
        return (await notifier.job(job)).get("processed_at") is not None

    await eventually(swept, what="the sweeper to complete the meeting")

    assert [h["via"] for h in (await notifier.job(job))["history"]] == ["sweeper"]
    assert len(notifier.smtp.messages) == 1
    assert (await notifier.meeting("m-lost"))["stage"] == "notified"
    assert (await Limiter(notifier.mongo, ACCOUNT).snapshot())["in_flight"] == 0


async def test_a_callback_that_overtakes_the_submitter_is_accepted_and_finished_by_the_next_sweep(
    notifier: Notifier,
) -> None:
    """The provider may call back before the submitter stored the job id it was given: that callback
    must not be refused as "unknown job" (Symbl never repeats one), nor wait for the stale period."""
    # A stale period of an hour: only the note can bring the fresh job into a sweep.
    patient = dataclasses.replace(
        notifier.pipeline,
        settings=notifier.pipeline.settings.model_copy(update={"sweeper_stale_after_seconds": 3600.0}),
    )
    await notifier.submitter.meeting("m-early")
    job, ids = await notifier.submitter.submit_before_recording("m-early")

    early = notifier.mongo.db[EARLY_CALLBACKS]

    async def noted() -> bool:
        return await early.find_one({"_id": job.key}) is not None

    await eventually(noted, what="the early callback to be noted")
    note = await early.find_one({"_id": job.key})
    assert note is not None and note["job_id"] == ids["job_id"]
    assert (await notifier.job(job))["job_id"] is None, "the job document itself is not written by the notifier"
    assert notifier.queue.empty(), "nothing to publish yet: the job id is not stored"
    assert (await Sweeper(patient).sweep()).polled == 0, "no id, nothing to ask the provider"

    job = await notifier.submitter.store_ids(job, ids)
    assert (await Sweeper(patient).sweep()).reported == 1
    done = await notifier.processed(job)

    assert await early.find_one({"_id": job.key}) is None, "the note is used once"
    # The sweeper's report came first; a later callback of the sandbox (it reports each status) may follow.
    assert done["history"][0]["via"] == "sweeper"
    assert len(notifier.smtp.messages) == 1
    assert (await notifier.meeting("m-early"))["stage"] == "notified"
    assert (await Limiter(notifier.mongo, ACCOUNT).snapshot())["in_flight"] == 0
    assert (await Sweeper(patient).sweep()).polled == 0, "the note is used once"


async def test_jobs_the_provider_cannot_answer_for_are_skipped_until_stale_again(notifier: Notifier) -> None:
    notifier.symbl.state.faults.update({"drop_callbacks": 100})
    await notifier.submitter.meeting("m-down")
    job = await notifier.submitter.submit("m-down")
    ghost = {
        "_id": "k-ghost",
        "idempotency_key": "k-ghost",
        "job_ref": "k-ghost",
        "tenant": "ghost",
        "meeting_uuid": "m-ghost",
        "provider": "symbl",
        "job_id": "ghost-job",
        "conversation_id": "c",
        "status": "scheduled",
        "updated_at": utcnow() - timedelta(hours=1),
    }
    await notifier.mongo.db[JOBS].insert_one(ghost)
    await notifier.sandbox_done(job)
    await notifier.symbl.server.close()  # the provider is down

    async def polled() -> bool:
        report = await Sweeper(notifier.pipeline).sweep()
        return report.polled == 2

    await eventually(polled, what="both stale jobs to be polled")
    assert (await notifier.job(job))["status"] == "scheduled"
    assert (await Sweeper(notifier.pipeline).sweep()).polled == 0, "not polled again before it is stale again"
    assert notifier.smtp.messages == []


async def test_each_poll_without_news_doubles_the_wait_before_the_next(notifier: Notifier) -> None:
    """A report queued behind a lagging consumer is not followed by ever more reports of the same job."""
    stale = notifier.pipeline.settings.sweeper_stale_after_seconds
    ghost = {
        "_id": "k-backoff",
        "idempotency_key": "k-backoff",
        "job_ref": "k-backoff",
        "tenant": "ghost",
        "meeting_uuid": "m-backoff",
        "provider": "symbl",
        "job_id": "backoff-job",
        "conversation_id": "c",
        "status": "scheduled",
        "updated_at": utcnow() - timedelta(hours=10),
    }
    await notifier.mongo.db[JOBS].insert_one(ghost)
    waits = []
    for _ in range(5):
        await notifier.mongo.db[JOBS].update_one(
            {"_id": ghost["_id"]}, {"$set": {"updated_at": utcnow() - timedelta(days=1)}}
        )
        before = utcnow()
        await Sweeper(notifier.pipeline).sweep()
        doc = await notifier.mongo.db[JOBS].find_one({"_id": ghost["_id"]})
        assert doc is not None
        waits.append(round((doc["updated_at"] - before).total_seconds() / stale))
    assert waits == [0, 1, 3, 7, 7]  # next poll after 1, 2, 4, 8, 8 stale periods


async def test_notes_of_jobs_that_never_got_an_id_are_dropped_not_polled(notifier: Notifier) -> None:
    early = notifier.mongo.db[EARLY_CALLBACKS]
    rejected = {
        "_id": "k-rej",
        "idempotency_key": "k-rej",
        "job_ref": "k-rej",
        "tenant": "acme",
        "meeting_uuid": "m-rej",
        "provider": "symbl",
    }
    await notifier.mongo.db[JOBS].insert_one({**rejected, "status": "rejected", "job_id": None})
    waiting = {
        "_id": "k-wait",
        "idempotency_key": "k-wait",
        "job_ref": "k-wait",
        "tenant": "acme",
        "meeting_uuid": "m-wait",
        "provider": "symbl",
    }
    await notifier.mongo.db[JOBS].insert_one({**waiting, "status": "submitting", "job_id": None})
    for key in (rejected["_id"], waiting["_id"], "a-job-that-is-gone"):
        await early.insert_one({"_id": key, "job_id": "j", "status": "completed", "at": utcnow()})

    report = await Sweeper(notifier.pipeline).sweep()

    assert report.polled == 0
    assert [n["_id"] for n in await early.find({}).to_list(None)] == [waiting["_id"]], "kept until its id comes"


POISONED = MailKey(TENANT, "m-poisoned", 0, "failure")
GOOD = (MailKey(TENANT, "m-good-1", 0, "failure"), MailKey(TENANT, "m-good-2", 0, "failure"))


def _raw(key: MailKey) -> bytes:
    return f"Message-ID: <{key.meeting_uuid}@zoomsymbl.test>\r\nSubject: failed\r\n\r\nbody\r\n".encode()


async def _outbox_with_a_poisoned_email_first(notifier: Notifier, recipient: str = "host@example.com") -> None:
    """The poisoned e-mail (to ``recipient``) the oldest of the outbox, due before the two good ones."""
    outbox = notifier.pipeline.outbox
    await outbox.record(POISONED, Envelope("bot@zoomsymbl.test", (recipient,)), "<p@zoomsymbl.test>", _raw(POISONED))
    past = utcnow() - timedelta(hours=1)
    await notifier.mongo.db[EMAILS].update_one(POISONED.query(), {"$set": {"next_attempt_at": past}})
    for key in GOOD:
        await outbox.record(key, Envelope("bot@zoomsymbl.test", ("host@example.com",)), "<g@zoomsymbl.test>", _raw(key))
    assert await outbox.due(10) == [POISONED, *GOOD]


def _sent(notifier: Notifier) -> list[str]:
    return sorted(str(m["Message-ID"]) for m in notifier.smtp.messages)


async def test_an_email_stuck_sending_with_an_unsendable_address_costs_the_others_nothing(notifier: Notifier) -> None:
    """The audit's case: ``joe@exämple.com`` recorded by an older release, the e-mail left ``sending`` by a
    UnicodeEncodeError, due again first of every round once its lease was over, and each round ended by it."""
    await _outbox_with_a_poisoned_email_first(notifier, recipient="joe@exämple.com")
    past = utcnow() - timedelta(hours=1)
    stuck = {"status": "sending", "attempts": 3, "lease_until": past}
    await notifier.mongo.db[EMAILS].update_one(POISONED.query(), {"$set": stuck})

    report = await Sweeper(notifier.pipeline).sweep()

    assert report.mails_tried == 3
    assert _sent(notifier) == ["<m-good-1@zoomsymbl.test>", "<m-good-2@zoomsymbl.test>"]
    doc = await notifier.mongo.db[EMAILS].find_one(POISONED.query())
    assert doc is not None and doc["status"] == "rejected" and "not plain ASCII SMTP" in doc["last_error"]
    assert await notifier.pipeline.outbox.due(10) == []


@pytest.mark.parametrize("poison", ["malformed record", "bug"])
async def test_one_due_email_that_fails_is_logged_and_the_round_goes_on(
    notifier: Notifier, poison: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await _outbox_with_a_poisoned_email_first(notifier)
    if poison == "malformed record":  # a document no release could have written: MalformedRecord on every read
        await notifier.mongo.db[EMAILS].update_one(POISONED.query(), {"$set": {"recipients": ["x" * 400]}})
    else:  # a bug on this e-mail's data, whatever it is
        deliver = notifier.pipeline.outbox.deliver

        async def buggy(key: MailKey) -> Outcome:
            if key == POISONED:
                raise KeyError("recipients")
            return await deliver(key)

        monkeypatch.setattr(notifier.pipeline.outbox, "deliver", buggy)

    with caplog.at_level(logging.WARNING, logger="zoomsymbl.notifier.sweeper"):
        report = await Sweeper(notifier.pipeline).sweep()

    assert report.mails_tried == 3
    assert _sent(notifier) == ["<m-good-1@zoomsymbl.test>", "<m-good-2@zoomsymbl.test>"]
    [logged] = [r for r in caplog.records if r.__dict__.get("meeting_uuid") == POISONED.meeting_uuid]
    assert ("malformed Email" if poison == "malformed record" else "KeyError") in str(logged.__dict__["error"])
    assert await notifier.pipeline.outbox.due(10) == [POISONED], "tried again next round"


async def test_an_outage_of_mongodb_still_ends_the_round(notifier: Notifier, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every other e-mail would wait for MongoDB the same way: the round ends, the next one tries again."""
    await _outbox_with_a_poisoned_email_first(notifier)
    tried: list[MailKey] = []

    async def down(key: MailKey) -> Outcome:
        tried.append(key)
        raise MongoUnavailable("ServerSelectionTimeoutError")

    monkeypatch.setattr(notifier.pipeline.outbox, "deliver", down)
    with pytest.raises(MongoUnavailable):
        await Sweeper(notifier.pipeline).sweep()
    assert tried == [POISONED] and notifier.smtp.messages == []
