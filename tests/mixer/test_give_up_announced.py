"""A give-up after ``AudioMixed`` may have gone out: the mix is announced again, the meeting never failed.

Real MongoDB, S3, ffmpeg and the Zoom sandbox; the consumer policy runs as deployed, on FastStream's in-memory
broker (its outage wait set to 0, so the first outage is the one that outlasts it). Each order of events:

- the publish's acknowledgement lost (the message landed) and the outage outlasting the wait;
- the publish acknowledged and the note of it (MongoDB) lost;
- a redelivery after a lost acknowledgement failing for good before its own publish (the metadata refused).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from prometheus_client import CollectorRegistry
from zoomsymbl_common.errors import KafkaUnavailable, MongoUnavailable
from zoomsymbl_common.events import AudioMixed, DeadLetter, MeetingFailed, RecordingCompleted
from zoomsymbl_common.kafka import Consumer, RetryPolicy, topic_name
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.replay import bump_generation
from zoomsymbl_common.records import MEETINGS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_mixer.handlers import MixerMetrics, give_up, on_recording_completed, register_subscribers
from zoomsymbl_mixer.mixing import Mixer
from zoomsymbl_mixer.state import PENDING, SENT, MeetingState, audio_mixed

from tests.mixer.conftest import TYPICAL, Rig
from tests.mixer.test_give_up import refuse_metadata
from tests.mixer.test_state import EVENT, record

pytestmark = pytest.mark.integration

INFRA = InfraSettings(kafka_topic_prefix="unit-give-up-")
TOPIC = topic_name(INFRA, RecordingCompleted.topic)


@dataclass
class Outcome:
    """What left the mixer: ``AudioMixed`` sent (acknowledged or not), ``MeetingFailed``, dead letters."""

    sent: list[AudioMixed] = field(default_factory=list)
    failures: list[MeetingFailed] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)
    metrics: MixerMetrics = field(default_factory=lambda: MixerMetrics(CollectorRegistry()))


def losing_acks(mixer: Mixer, outcome: Outcome, lost: int) -> None:
    """Kafka takes every ``AudioMixed``; the acknowledgement of the first ``lost`` never comes back."""

    async def publish(mixed: AudioMixed) -> None:
        outcome.sent.append(mixed)
        if len(outcome.sent) <= lost:
            raise KafkaUnavailable("publish to 'audio.mixed.v1' not acknowledged: KafkaTimeoutError")

    mixer.publish = publish


def hook(mixer: Mixer, outcome: Outcome) -> Any:
    """The mixer's give-up hook as ``app.py`` wires it."""

    async def publish_failure(failed: MeetingFailed) -> None:
        outcome.failures.append(failed)

    return give_up(mixer.state, outcome.metrics, publish_failure, mixer.announce)


async def consume(mixer: Mixer, event: RecordingCompleted, outcome: Outcome) -> None:
    """One delivery of ``event`` under the consumer policy; an outage gives up at once (outage wait 0)."""
    broker = KafkaBroker()
    policy = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002, max_outage_wait=0.0)
    consumer = Consumer(broker, INFRA, "mixer", policy)

    async def handle(event: RecordingCompleted) -> AudioMixed | None:
        return await on_recording_completed(event, mixer, outcome.metrics)

    register_subscribers(broker, consumer, handle, hook(mixer, outcome))

    @broker.subscriber(DeadLetter.topic_for(TOPIC))
    async def dead(message: KafkaMessage) -> None:
        outcome.letters.append(DeadLetter.model_validate_json(message.body))

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(event.model_dump_json().encode(), topic=TOPIC)


async def meeting(mongo: Mongo, meeting_uuid: str = TYPICAL) -> dict[str, Any]:
    doc = await mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": meeting_uuid})
    assert doc is not None
    return doc


def announced_once_more(outcome: Outcome) -> None:
    """Every ``AudioMixed`` sent is the same event: a second copy of one the submitter takes once."""
    first, *again = outcome.sent
    assert again and all(each == first for each in again)


async def test_a_lost_acknowledgement_and_an_outage_past_the_wait_announce_the_mix_again(rig: Rig) -> None:
    event, outcome, mixer = await rig.event(TYPICAL), Outcome(), rig.mixer()
    losing_acks(mixer, outcome, lost=1)

    await consume(mixer, event, outcome)

    assert outcome.failures == []  # before: marked failed and the host sent a failure notice
    announced_once_more(outcome)
    doc = await meeting(rig.mongo)
    assert doc["stage"] == "mixed" and "failure" not in doc
    assert PENDING not in doc and SENT not in doc  # confirmed: a later give-up leaves it to the submitter
    [letter] = outcome.letters  # the event's own failure is still on record
    assert "infrastructure outage" in letter.reason and letter.event_id == event.event_id
    assert outcome.metrics.meetings.labels("announced_at_give_up")._value.get() == 1


async def test_an_acknowledged_announcement_whose_note_was_lost_is_not_failed(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    event, outcome, mixer = await rig.event(TYPICAL), Outcome(), rig.mixer()
    losing_acks(mixer, outcome, lost=0)
    note = MeetingState.mark_announced
    calls: list[RecordingCompleted] = []

    async def mongo_away_once(self: MeetingState, event: RecordingCompleted) -> None:
        calls.append(event)
        if len(calls) == 1:
            raise MongoUnavailable("AutoReconnect")
        await note(self, event)

    monkeypatch.setattr(MeetingState, "mark_announced", mongo_away_once)

    await consume(mixer, event, outcome)

    assert outcome.failures == []
    announced_once_more(outcome)
    doc = await meeting(rig.mongo)
    assert doc["stage"] == "mixed" and "failure" not in doc and PENDING not in doc


async def test_a_redelivery_failing_before_its_publish_keeps_an_earlier_unconfirmed_announcement(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    event, outcome, mixer = await rig.event(TYPICAL), Outcome(), rig.mixer()
    losing_acks(mixer, outcome, lost=1)
    with pytest.raises(KafkaUnavailable):  # the pod stops here; the event comes again
        await mixer.on_recording_completed(event)
    refuse_metadata(monkeypatch)  # the redelivery fails for good before it publishes

    await consume(mixer, event, outcome)

    assert outcome.failures == []
    announced_once_more(outcome)
    doc = await meeting(rig.mongo)
    assert doc["stage"] == "mixed" and "failure" not in doc and SENT not in doc
    [letter] = outcome.letters
    assert letter.error_type == "ObjectRejected"


async def test_a_give_up_before_anything_was_sent_still_fails_the_meeting(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    event, outcome, mixer = await rig.event(TYPICAL), Outcome(), rig.mixer()
    losing_acks(mixer, outcome, lost=0)
    refuse_metadata(monkeypatch)

    await consume(mixer, event, outcome)

    assert outcome.sent == []
    assert [(f.service, f.stage) for f in outcome.failures] == [("mixer", "upload")]
    doc = await meeting(rig.mongo)
    assert doc["stage"] == "failed" and PENDING not in doc


async def test_the_sent_event_is_kept_only_on_a_pending_meeting_and_read_back_exactly(mongo: Mongo) -> None:
    state, mixed = MeetingState(mongo.db), audio_mixed(EVENT, record())
    await state.mark_sent(mixed)  # no meeting yet: nothing is kept
    assert await mongo.db[MEETINGS].count_documents({}) == 0
    assert await state.record_mix(EVENT, record())
    await state.mark_sent(mixed)
    assert await state.unconfirmed(EVENT) == mixed
    assert not await state.mark_failed(EVENT, "retry", "gave up after 1800 s of infrastructure outage")
    await state.mark_announced(EVENT)
    assert await state.unconfirmed(EVENT) is None
    await state.mark_sent(mixed)  # announced: the submitter's now, nothing kept
    assert SENT not in await meeting(mongo, EVENT.meeting_uuid)


async def test_a_stale_give_up_after_the_submitter_took_the_meeting_changes_nothing(mongo: Mongo) -> None:
    state = MeetingState(mongo.db)
    assert await state.record_mix(EVENT, record())
    await state.mark_sent(audio_mixed(EVENT, record()))
    # The AudioMixed whose acknowledgement was lost reached the submitter, which moved the meeting on.
    key = {"tenant": "acme", "meeting_uuid": EVENT.meeting_uuid}
    await mongo.db[MEETINGS].update_one(key, {"$set": {"stage": "submitted"}})
    assert not await state.mark_failed(EVENT, "retry", "gave up after 5 attempts")
    assert await state.unconfirmed(EVENT) is None  # nothing to announce again either
    assert (await meeting(mongo, EVENT.meeting_uuid))["stage"] == "submitted"


async def test_an_earlier_generations_unconfirmed_announcement_does_not_keep_a_re_run_from_failing(
    mongo: Mongo,
) -> None:
    """Generation 1 kept its ``AudioMixed`` and stopped before Kafka's acknowledgement was noted; a forced replay
    bumped the meeting; generation 2 mixed again and gave up before its own publish. Generation 2's give-up fails the
    meeting (the host hears of it): the kept event of generation 1 is no announcement of generation 2's mix, and a
    give-up that published it again would send an event every consumer drops as stale (the meeting at ``mixed`` for
    ever, before)."""
    state = MeetingState(mongo.db)
    assert await state.record_mix(EVENT, record())
    await state.mark_sent(audio_mixed(EVENT, record()))  # no mark_announced: the pod stopped here
    await bump_generation(mongo, EVENT.tenant, EVENT.meeting_uuid, "replay-1")
    rerun = EVENT.model_copy(update={"generation": 2})

    assert await state.record_mix(rerun, record("h2"))
    assert await state.unconfirmed(rerun) is None  # nothing of generation 2 went out
    assert await state.mark_failed(rerun, "upload", "the metadata was refused")
    doc = await meeting(mongo, EVENT.meeting_uuid)
    assert doc["stage"] == "failed" and doc["failed_stage"] == "mixer:upload"
    assert SENT not in doc and PENDING not in doc
