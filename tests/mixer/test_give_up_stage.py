"""A meeting given up after its retry budget or outage wait fails at the step it had reached, not at ``retry``.

Real MongoDB, S3, ffmpeg and the Zoom sandbox; the consumer policy runs as deployed (2 attempts, outage wait 0) on
FastStream's in-memory broker, the mixer wired as ``app.py`` wires it (transcripts first, one ``Progress``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from zoomsymbl_common.errors import RetryableError, StorageUnavailable
from zoomsymbl_common.events import AudioMixed, DeadLetter, MeetingFailed, RecordingCompleted
from zoomsymbl_common.kafka import Consumer, RetryPolicy
from zoomsymbl_common.records import MEETINGS
from zoomsymbl_common.tenants import Tenants
from zoomsymbl_mixer.errors import ToolInterrupted
from zoomsymbl_mixer.handlers import give_up, on_recording_completed, register_subscribers
from zoomsymbl_mixer.merge import Merger
from zoomsymbl_mixer.mixing import Mixer
from zoomsymbl_mixer.transcripts import TranscriptMixer
from zoomsymbl_mixer.upload import PartUploads
from zoomsymbl_sandbox.zoom import Fault

from tests.mixer.conftest import TYPICAL, Rig
from tests.mixer.test_give_up_announced import INFRA, TOPIC, Outcome

pytestmark = pytest.mark.integration


async def consume(rig: Rig, event: RecordingCompleted, outcome: Outcome) -> None:
    """One delivery of ``event`` to the mixer as ``app.py`` wires it."""
    audio = rig.mixer()
    fetcher = audio.fetcher_for(rig.tenant)
    wired = TranscriptMixer(
        audio, audio.state, rig.store, Tenants([rig.tenant]), lambda _: fetcher, audio.api_for, progress=audio.progress
    )
    broker = KafkaBroker()
    policy = RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.002, max_outage_wait=0.0)
    consumer = Consumer(broker, INFRA, "mixer", policy)

    async def handle(event: RecordingCompleted) -> AudioMixed | None:
        return await on_recording_completed(event, wired, outcome.metrics)

    async def publish_failure(failed: MeetingFailed) -> None:
        outcome.failures.append(failed)

    hook = give_up(audio.state, outcome.metrics, publish_failure, audio.announce, audio.progress)
    register_subscribers(broker, consumer, handle, hook)

    @broker.subscriber(DeadLetter.topic_for(TOPIC))
    async def dead(message: KafkaMessage) -> None:
        outcome.letters.append(DeadLetter.model_validate_json(message.body))

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(event.model_dump_json().encode(), topic=TOPIC)


async def failed_at(rig: Rig, outcome: Outcome) -> tuple[str, str]:
    """The stage the meeting failed at (meeting document and ``MeetingFailed`` agree) and the reason."""
    doc = await rig.mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": TYPICAL})
    assert doc is not None and doc["stage"] == "failed"
    [failed] = outcome.failures
    assert (failed.service, failed.stage, failed.reason) == ("mixer", doc["failure"]["stage"], doc["failure"]["reason"])
    assert len(outcome.letters) == 1
    return failed.stage, failed.reason


async def test_a_download_zoom_keeps_failing_fails_the_meeting_at_download(rig: Rig) -> None:
    event = await rig.event(TYPICAL)
    victim = event.participant_tracks[1].file_id
    rig.sandbox.faults.add(Fault(route="download", kind="status", status=503, file_id=victim, count=1000))

    outcome = Outcome()
    await consume(rig, event, outcome)

    stage, reason = await failed_at(rig, outcome)
    assert stage == "download"  # before: "retry", a failure notice that could not tell a download from a merge
    assert reason.startswith("gave up after 2 attempts: download of file") and victim in reason


async def test_a_merge_killed_on_every_attempt_fails_the_meeting_at_merge(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def killed(self: Merger, *args: Any) -> Any:
        raise ToolInterrupted("ffmpeg", "was killed (SIGKILL, out of memory?)")

    monkeypatch.setattr(Merger, "merge", killed)
    outcome = Outcome()
    await consume(rig, await rig.event(TYPICAL), outcome)

    stage, reason = await failed_at(rig, outcome)
    assert stage == "merge"
    assert reason == "gave up after 2 attempts: ffmpeg was killed (SIGKILL, out of memory?)"


async def test_s3_away_past_the_outage_wait_during_the_upload_fails_the_meeting_at_upload(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def away(self: PartUploads, key: str, path: Path, **kwargs: Any) -> int:
        raise StorageUnavailable("EndpointConnectionError")

    monkeypatch.setattr(PartUploads, "upload_file", away)
    outcome = Outcome()
    await consume(rig, await rig.event(TYPICAL), outcome)

    stage, reason = await failed_at(rig, outcome)
    assert stage == "upload"
    assert "infrastructure outage" in reason and "EndpointConnectionError" in reason


async def test_a_failure_before_the_first_step_stays_at_retry(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    async def unanswered(self: Mixer, event: RecordingCompleted) -> None:
        raise RetryableError("the generation check did not answer")

    monkeypatch.setattr(Mixer, "_check_generation", unanswered)
    outcome = Outcome()
    await consume(rig, await rig.event(TYPICAL), outcome)

    stage, reason = await failed_at(rig, outcome)
    assert stage == "retry"  # no step of the meeting began: the consumer's stage, as before
    assert reason == "gave up after 2 attempts: the generation check did not answer"
