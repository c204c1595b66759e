"""Zoom's transcript files stored next to the audio and named in ``AudioMixed``, against the sandbox,
MongoDB and S3."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from zoomsymbl_common.errors import ObjectRejected
from zoomsymbl_common.events import AudioMixed, DeadLetter, MeetingFailed, RecordingCompleted
from zoomsymbl_common.kafka import Consumer, RetryPolicy
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import MEETINGS
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.tenants import Tenants
from zoomsymbl_common.webvtt import parse
from zoomsymbl_mixer.download import DownloadPolicy, Fetcher
from zoomsymbl_mixer.errors import TrackInvalid
from zoomsymbl_mixer.handlers import give_up, on_recording_completed, register_subscribers
from zoomsymbl_mixer.hosts import GuardedResolver, HostPolicy
from zoomsymbl_mixer.metadata import metadata_key
from zoomsymbl_mixer.mixing import Mixer
from zoomsymbl_mixer.state import MeetingState
from zoomsymbl_mixer.tracks import raw_key
from zoomsymbl_mixer.transcripts import TranscriptMixer, capped
from zoomsymbl_sandbox.zoom import MeetingSpec, ZoomSandboxConfig, running_zoom_sandbox, typical_meeting_spec

from tests.mixer.conftest import CACHE, Rig, sandbox_tenant
from tests.mixer.test_give_up_announced import INFRA, TOPIC, Outcome

pytestmark = [pytest.mark.integration]
UUID = "mixer/Transcript//uuid=="
SPEC = typical_meeting_spec(UUID).model_copy(update={"transcript": True, "captions": True})


@asynccontextmanager
async def sandbox_rig(spec: MeetingSpec, mongo: Mongo, store: ObjectStore, tmp_path: Path) -> AsyncIterator[Rig]:
    """A rig on a Zoom sandbox serving ``spec`` alone (16 KiB chunks, a 10 s read timeout)."""
    config = ZoomSandboxConfig(cache_dir=CACHE, meetings=(spec,), chunk_size=16384)
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(allow_private=True))
    async with (
        running_zoom_sandbox(config) as sandbox,
        aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(sock_read=10)) as session,
    ):
        yield Rig(sandbox, mongo, store, tmp_path / "scratch", session, sandbox_tenant(sandbox))


@pytest.fixture
async def rig(mongo: Mongo, store: ObjectStore, tmp_path: Path) -> AsyncIterator[Rig]:
    async with sandbox_rig(SPEC, mongo, store, tmp_path) as made:
        yield made


def wired(rig: Rig, *, max_bytes: int = 1 << 20) -> TranscriptMixer:
    audio = rig.mixer()
    hosts = HostPolicy(rig.tenant.download_allowed_hosts, rig.tenant.allow_private_download_hosts)
    fetcher = Fetcher(rig.session, hosts, DownloadPolicy(base_delay=0.01, max_delay=0.05))

    return TranscriptMixer(
        audio,
        audio.state,
        rig.store,
        Tenants([rig.tenant]),
        lambda _: fetcher,
        audio.api_for,
        max_bytes=max_bytes,
        progress=audio.progress,
    )


def transcripts_only(event: RecordingCompleted) -> RecordingCompleted:
    texts = tuple(f for f in event.fallback_files if f.file_type in ("TRANSCRIPT", "CC"))
    return event.model_copy(update={"participant_tracks": (), "fallback_files": texts, "event_id": "late"})


async def read(store: ObjectStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.get_stream(key)])


async def test_transcripts_are_stored_as_vtt_and_named_in_audio_mixed(rig: Rig) -> None:
    event = await rig.event(UUID)

    mixed = await wired(rig).on_recording_completed(event)

    assert mixed is not None and rig.published == [mixed]
    assert [t.kind for t in mixed.transcripts] == ["transcript", "cc"]
    transcript = mixed.transcripts[0]
    assert transcript.key.startswith("raw/acme/") and transcript.key.endswith(".vtt")
    stored = await read(rig.store, transcript.key)
    assert [c.speaker for c in parse(stored)] == ["Elisa L", "Jean-Luc Pérez", "Zoë 🎧 Ng"]
    assert mixed.channels == 3  # the audio is mixed as ever


async def test_a_late_transcript_reannounces_the_mix_only_for_the_zoom_source(rig: Rig) -> None:
    event = await rig.event(UUID)
    audio = tuple(f for f in event.fallback_files if f.file_type not in ("TRANSCRIPT", "CC"))
    plain = event.model_copy(update={"fallback_files": audio})
    first = await wired(rig).on_recording_completed(plain)
    assert first is not None and first.transcripts == ()

    assert await wired(rig).on_recording_completed(transcripts_only(event)) is None  # an assemblyai tenant
    assert len(rig.published) == 1
    assert len(await MeetingState(rig.mongo.db).transcripts_of("acme", UUID)) == 2

    rig.tenant = rig.tenant.model_copy(update={"provider": "zoom"})
    again = await wired(rig).on_recording_completed(transcripts_only(event))

    assert again is not None and rig.published[-1] == again
    assert again.event_id != first.event_id and again.input_hash == first.input_hash
    assert [t.kind for t in again.transcripts] == ["transcript", "cc"]
    assert rig.downloads() > 0


async def test_an_oversized_transcript_is_refused_and_not_kept_while_the_audio_is_mixed(rig: Rig) -> None:
    event = await rig.event(UUID)
    unannounced = tuple(
        f.model_copy(update={"file_size": None}) if f.file_type == "CC" else f for f in event.fallback_files
    )

    mixed = await wired(rig, max_bytes=40).on_recording_completed(
        event.model_copy(update={"fallback_files": unannounced})
    )

    assert mixed is not None and mixed.transcripts == () and mixed.channels == 3
    for file in (f for f in unannounced if f.file_type in ("TRANSCRIPT", "CC")):
        # TRANSCRIPT: refused by its announced size; CC (size unannounced): cut off while streaming.
        assert not await rig.store.exists(raw_key("acme", UUID, file))


async def test_the_cap_stops_a_stream_that_grows_past_it() -> None:
    async def endless() -> AsyncGenerator[bytes, None]:
        while True:
            yield b"WEBVTT\n\n"

    with pytest.raises(TrackInvalid, match="larger than 100 bytes"):
        async for _ in capped(endless(), "f1", 100):
            pass


async def test_a_transcript_url_off_the_allowed_hosts_is_never_fetched(rig: Rig) -> None:
    event = await rig.event(UUID)
    offsite = tuple(
        f.model_copy(update={"download_url": "https://evil.example.invalid/rec/download/cc"})
        if f.file_type == "CC"
        else f
        for f in event.fallback_files
    )

    mixed = await wired(rig).on_recording_completed(event.model_copy(update={"fallback_files": offsite}))

    assert mixed is not None and [t.kind for t in mixed.transcripts] == ["transcript"]
    cc = next(f for f in offsite if f.file_type == "CC")
    assert not await rig.store.exists(raw_key("acme", UUID, cc))


def refuse_metadata_of(monkeypatch: pytest.MonkeyPatch, meeting_uuid: str) -> None:
    """S3 refuses the meeting's metadata.json for good, after its mix is recorded (the meeting then fails)."""
    put = ObjectStore.put_stream

    async def refusing(self: ObjectStore, key: str, chunks: AsyncIterator[bytes], **kwargs: Any) -> int:
        if key == metadata_key("acme", meeting_uuid):
            raise ObjectRejected(self.bucket, key, "AccessDenied", "bucket policy")
        return await put(self, key, chunks, **kwargs)

    monkeypatch.setattr(ObjectStore, "put_stream", refusing)


async def consume(rig: Rig, event: RecordingCompleted, outcome: Outcome) -> None:
    """One delivery of ``event`` to the mixer as ``app.py`` wires it (transcripts first, the audio's give-up)."""
    transcripts = wired(rig)
    audio = transcripts.audio
    assert isinstance(audio, Mixer)
    broker = KafkaBroker()
    consumer = Consumer(broker, INFRA, "mixer", RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.002))

    async def handle(event: RecordingCompleted) -> AudioMixed | None:
        return await on_recording_completed(event, transcripts, outcome.metrics)

    async def publish_failure(failed: MeetingFailed) -> None:
        outcome.failures.append(failed)

    register_subscribers(
        broker, consumer, handle, give_up(audio.state, outcome.metrics, publish_failure, audio.announce, audio.progress)
    )

    @broker.subscriber(DeadLetter.topic_for(TOPIC))
    async def dead(message: KafkaMessage) -> None:
        outcome.letters.append(DeadLetter.model_validate_json(message.body))

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(event.model_dump_json().encode(), topic=TOPIC)


async def test_late_transcripts_of_a_meeting_the_mixer_failed_are_archived_not_announced(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig.tenant = rig.tenant.model_copy(update={"provider": "zoom"})  # the report would come from Zoom's transcript
    event, outcome = await rig.event(UUID), Outcome()
    files = tuple(f for f in event.fallback_files if f.file_type not in ("TRANSCRIPT", "CC"))
    audio = event.model_copy(update={"fallback_files": files})
    with monkeypatch.context() as patch:
        refuse_metadata_of(patch, UUID)
        await consume(rig, audio, outcome)  # mixed, then failed for good: the host gets the failure notice
    assert [(f.service, f.stage) for f in outcome.failures] == [("mixer", "upload")] and rig.published == []

    await consume(rig, transcripts_only(event), outcome)

    assert rig.published == []  # before: the mix went out naming the transcripts, and the report followed the notice
    assert len(outcome.failures) == 1 and len(outcome.letters) == 1  # the late event was handled, nothing more said
    doc = await rig.mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": UUID})
    assert doc is not None and doc["stage"] == "failed" and doc["failure"]["stage"] == "upload"
    archived = await MeetingState(rig.mongo.db).transcripts_of("acme", UUID)
    assert [t.kind for t in archived] == ["transcript", "cc"]
    assert all([await rig.store.exists(t.key) for t in archived])

    await consume(rig, audio, outcome)  # an operator replays the recording once the bucket policy is fixed

    [mixed] = rig.published  # the meeting runs again, and its mix names the archived transcripts
    assert [t.kind for t in mixed.transcripts] == ["transcript", "cc"]
    doc = await rig.mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": UUID})
    assert doc is not None and doc["stage"] == "mixed" and "failure" not in doc
