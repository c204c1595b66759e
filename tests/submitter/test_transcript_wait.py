"""A ``zoom``-source meeting Zoom sends no transcript of fails after ``zoom_transcript_wait_seconds``, with a notice.

Real MongoDB (and S3 for the submitter's own path); time is moved by handing each round its ``now``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from zoomsymbl_common.errors import KafkaUnavailable
from zoomsymbl_common.events import AudioMixed, JobSubmitted, MeetingFailed, utcnow
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.pool import ProviderPool
from zoomsymbl_common.records import MEETINGS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_submitter.meetings import TRANSCRIPT_WAIT, MeetingStore
from zoomsymbl_submitter.transcript_wait import TranscriptWaits

from tests.submitter.support import add_meetings, audio_mixed, build_submitter, tenants_for, upload_for

pytestmark = pytest.mark.integration
WAIT = 48 * 3600.0


class Failures:
    """``meeting.failed.v1`` as Kafka takes it; the first ``refuse`` publishes are not acknowledged."""

    def __init__(self, refuse: int = 0) -> None:
        self.published: list[MeetingFailed] = []
        self.refuse = refuse

    async def __call__(self, event: MeetingFailed) -> None:
        if self.refuse > 0:
            self.refuse -= 1
            raise KafkaUnavailable("publish to 'meeting.failed.v1' not acknowledged")
        self.published.append(event)


def waiting(index: int, infra: InfraSettings) -> AudioMixed:
    return audio_mixed(index, infra, f"mixed/acme/m{index}.flac", 1000)


async def meeting(mongo: Mongo, event: AudioMixed) -> dict[str, Any]:
    doc = await mongo.db[MEETINGS].find_one({"tenant": event.tenant, "meeting_uuid": event.meeting_uuid})
    assert doc is not None
    return doc


async def test_the_submitter_notes_the_first_wait_of_a_generation(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, session: aiohttp.ClientSession, tone_audio: Path
) -> None:
    published: list[JobSubmitted] = []
    submitter = build_submitter(
        infra, mongo, tenants_for("zoom", "http://unused.invalid"), session, "http://n", published
    )
    submitter.providers = ProviderPool(session, submit_timeout=30.0, mongo=mongo)
    key, size = await upload_for(store, tone_audio, 1)
    event = audio_mixed(1, infra, key, size)
    await add_meetings(mongo, [event])

    await submitter.on_audio_mixed(event)  # Zoom's transcript not yet
    first = (await meeting(mongo, event))[TRANSCRIPT_WAIT]
    await submitter.on_audio_mixed(event)  # a redelivery keeps the first time

    assert published == []
    note = (await meeting(mongo, event))[TRANSCRIPT_WAIT]
    assert note == first and note["generation"] == 0
    assert AudioMixed.model_validate(note["event"]) == event


async def test_a_meeting_still_waiting_past_the_deadline_fails_with_a_notice(
    infra: InfraSettings, mongo: Mongo
) -> None:
    store, failures = MeetingStore(mongo), Failures()
    late, recent = waiting(1, infra), waiting(2, infra)
    await add_meetings(mongo, [late, recent])
    await store.note_transcript_wait(late)
    waits = TranscriptWaits(store, failures, WAIT, 600)
    assert await waits.round(utcnow() + timedelta(hours=47)) == 0  # Zoom may still send it
    await store.note_transcript_wait(recent)
    since = f"{TRANSCRIPT_WAIT}.since"  # mixed two hours after the first
    await mongo.db[MEETINGS].update_one(
        {"meeting_uuid": recent.meeting_uuid}, {"$set": {since: utcnow() + timedelta(hours=2)}}
    )

    assert await waits.round(utcnow() + timedelta(hours=48, minutes=1)) == 1

    [failed] = failures.published
    assert (failed.meeting_uuid, failed.service, failed.stage) == (late.meeting_uuid, "submitter", "transcript")
    assert "no transcript" in failed.reason and "48 hours" in failed.reason
    doc = await meeting(mongo, late)
    assert (doc["stage"], doc["failed_stage"]) == ("failed", "submitter:transcript")
    assert TRANSCRIPT_WAIT not in doc
    assert (await meeting(mongo, recent))["stage"] == "mixed"


async def test_a_failure_kafka_did_not_take_is_published_by_the_next_round(infra: InfraSettings, mongo: Mongo) -> None:
    store, failures = MeetingStore(mongo), Failures(refuse=1)
    event = waiting(3, infra)
    await add_meetings(mongo, [event])
    await store.note_transcript_wait(event)
    waits, later = TranscriptWaits(store, failures, WAIT, 600), utcnow() + timedelta(hours=49)

    with pytest.raises(KafkaUnavailable):
        await waits.round(later)
    assert (await meeting(mongo, event))["stage"] == "failed"  # failed, the host not told yet: the note stays
    assert await waits.round(later) == 1

    assert [f.meeting_uuid for f in failures.published] == [event.meeting_uuid]
    assert TRANSCRIPT_WAIT not in await meeting(mongo, event)


@pytest.mark.parametrize("moved", ["transcript came", "run again", "failed by the mixer"])
async def test_a_meeting_that_moved_on_only_loses_its_note(infra: InfraSettings, mongo: Mongo, moved: str) -> None:
    store, failures = MeetingStore(mongo), Failures()
    event = waiting(4, infra)
    await add_meetings(mongo, [event])
    await store.note_transcript_wait(event)
    changes: dict[str, dict[str, Any]] = {
        "transcript came": {"stage": "submitted"},
        "run again": {"generation": 1, "stage": "mixed"},
        "failed by the mixer": {"stage": "failed", "failed_stage": "mixer:download"},
    }
    change = changes[moved]
    await mongo.db[MEETINGS].update_one({"meeting_uuid": event.meeting_uuid}, {"$set": change})

    assert await TranscriptWaits(store, failures, WAIT, 600).round(utcnow() + timedelta(hours=49)) == 0

    assert failures.published == []
    doc = await meeting(mongo, event)
    assert TRANSCRIPT_WAIT not in doc and doc["stage"] == change["stage"]


async def test_waiting_for_ever_with_zero(infra: InfraSettings, mongo: Mongo) -> None:
    store, failures = MeetingStore(mongo), Failures()
    event = waiting(5, infra)
    await add_meetings(mongo, [event])
    await store.note_transcript_wait(event)
    assert await TranscriptWaits(store, failures, 0, 600).round(utcnow() + timedelta(days=400)) == 0
    assert (await meeting(mongo, event))["stage"] == "mixed" and failures.published == []


async def test_an_unreadable_note_is_dropped_and_the_meeting_left_alone(infra: InfraSettings, mongo: Mongo) -> None:
    store, failures = MeetingStore(mongo), Failures()
    event = waiting(6, infra)
    await add_meetings(mongo, [event])
    note = {"generation": 0, "since": utcnow(), "event": {"tenant": "acme", "host_email": "someone@example.com"}}
    await mongo.db[MEETINGS].update_one({"meeting_uuid": event.meeting_uuid}, {"$set": {TRANSCRIPT_WAIT: note}})

    assert await TranscriptWaits(store, failures, WAIT, 600).round(utcnow() + timedelta(hours=49)) == 0

    doc = await meeting(mongo, event)
    assert TRANSCRIPT_WAIT not in doc and doc["stage"] == "mixed" and failures.published == []
