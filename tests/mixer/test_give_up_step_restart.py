"""A meeting given up by a process that never handled it (a restart between attempts) fails at the step the meeting
reached in the process that did, not at ``retry``: the step is kept on the meeting (``step_records.py``).

Real MongoDB, S3, ffmpeg and the Zoom sandbox; two mixers, each wired as ``app.py`` wires it, sharing only MongoDB,
S3 and the consumer's attempt counts (MongoDB's in production); the first process dies during its merge.
"""

from __future__ import annotations

from typing import Any

import pytest
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from zoomsymbl_common.attempts import AttemptKey, MemoryAttempts
from zoomsymbl_common.events import DeadLetter, MeetingFailed, RecordingCompleted
from zoomsymbl_common.kafka import Consumer, RetryPolicy
from zoomsymbl_common.records import MEETINGS
from zoomsymbl_common.tenants import Tenants
from zoomsymbl_mixer.handlers import give_up, on_recording_completed
from zoomsymbl_mixer.merge import Merger
from zoomsymbl_mixer.transcripts import TranscriptMixer

from tests.mixer.conftest import TYPICAL, Rig
from tests.mixer.test_give_up_announced import INFRA, TOPIC, Outcome

pytestmark = pytest.mark.integration


class Killed(BaseException):
    """The process died (SIGKILL, the OOM killer): nothing of it runs on, its attempt stays spent."""


async def deliver(rig: Rig, event: RecordingCompleted, outcome: Outcome, attempts: MemoryAttempts) -> None:
    """One delivery of ``event`` to a freshly started mixer process (its own Mixer, Progress and consumer)."""
    audio = rig.mixer()
    fetcher = audio.fetcher_for(rig.tenant)
    wired = TranscriptMixer(
        audio, audio.state, rig.store, Tenants([rig.tenant]), lambda _: fetcher, audio.api_for, progress=audio.progress
    )
    broker = KafkaBroker()
    policy = RetryPolicy(max_attempts=1, base_delay=0.001, max_delay=0.002, max_outage_wait=0.0)
    consumer = Consumer(broker, INFRA, "mixer", policy, attempts=attempts)

    async def handle(event: RecordingCompleted) -> None:
        await on_recording_completed(event, wired, outcome.metrics)

    async def publish_failure(failed: MeetingFailed) -> None:
        outcome.failures.append(failed)

    hook = give_up(audio.state, outcome.metrics, publish_failure, audio.announce, audio.progress)

    @broker.subscriber(DeadLetter.topic_for(TOPIC))
    async def dead(message: KafkaMessage) -> None:
        outcome.letters.append(DeadLetter.model_validate_json(message.body))

    async with TestKafkaBroker(broker):
        await consumer.consume(TOPIC, event.model_dump_json().encode(), RecordingCompleted, handle, hook)


async def test_a_give_up_after_a_restart_names_the_step_the_dead_process_reached(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def killed(self: Merger, *args: Any) -> Any:
        raise Killed

    monkeypatch.setattr(Merger, "merge", killed)
    event, outcome, attempts = await rig.event(TYPICAL), Outcome(), MemoryAttempts()
    with pytest.raises(Killed):
        await deliver(rig, event, outcome, attempts)  # the first process dies merging

    await deliver(rig, event, outcome, attempts)  # the next one finds the only attempt spent and gives up

    doc = await rig.mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": TYPICAL})
    assert doc is not None and doc["stage"] == "failed"
    [failed] = outcome.failures
    assert failed.stage == doc["failure"]["stage"] == "merge"  # before: "retry"
    assert failed.reason.startswith("gave up after 1 attempts; the last was cut short")
    assert len(outcome.letters) == 1


async def test_another_events_step_is_not_this_ones(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    async def killed(self: Merger, *args: Any) -> Any:
        raise Killed

    monkeypatch.setattr(Merger, "merge", killed)
    event, outcome, attempts = await rig.event(TYPICAL), Outcome(), MemoryAttempts()
    with pytest.raises(Killed):
        await deliver(rig, event, outcome, attempts)
    replayed = event.model_copy(update={"event_id": "replayed"})
    await attempts.begin(AttemptKey("mixer", TOPIC, replayed.event_id))  # its only attempt, cut short elsewhere

    await deliver(rig, replayed, outcome, attempts)

    [failed] = outcome.failures
    assert failed.stage == "retry"  # no step of this event was noted anywhere: the consumer's stage, as before
