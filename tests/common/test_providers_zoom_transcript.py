"""The ``zoom`` source: Zoom's transcript becomes a completed job with named utterances, against MongoDB."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.base import AudioOpener, SubmitRequest
from zoomsymbl_common.providers.zoom_transcript import SOURCE, ZoomTranscriptProvider, read_bounded, utterances
from zoomsymbl_common.webvtt import Cue

pytestmark = [pytest.mark.integration]
TRANSCRIPT = (Path(__file__).parent / "fixtures" / "zoom" / "transcript.vtt").read_bytes()


def opener(data: bytes, piece: int = 7) -> AudioOpener:
    async def stream() -> AsyncIterator[bytes]:
        for at in range(0, len(data), piece):
            yield data[at : at + piece]

    return stream


def request(transcript: AudioOpener | None) -> SubmitRequest:
    return SubmitRequest(
        name="Launch review",
        language="en-US",
        audio_format="flac",
        channels=2,
        channel_map=(),
        diarization=False,
        webhook_url=SecretStr(""),
        size_bytes=0,
        duration_seconds=15.0,
        transcript=transcript,
    )


async def test_the_transcript_is_a_completed_job_whose_messages_carry_zoom_speaker_names(mongo: Mongo) -> None:
    provider = ZoomTranscriptProvider(mongo)

    job = await provider.submit(request(opener(TRANSCRIPT)))
    state = await provider.job_status(job.job_id)
    insights = await provider.fetch_insights(job)

    assert state.status == "completed"
    assert [m.speaker for m in insights.messages] == ["Elisa L", "Jürgen Müller", "Elisa L", "李小龙"]
    assert insights.messages[1].text == "Thanks. The build is green, but the release notes are missing."
    assert insights.messages[1].channel is None  # no channel map renames Zoom's speakers
    assert insights.extra["source"] == SOURCE


async def test_no_transcript_or_an_empty_one_is_poison_and_unknown_jobs_failed(mongo: Mongo) -> None:
    provider = ZoomTranscriptProvider(mongo)

    with pytest.raises(PoisonInputError, match="no transcript"):
        await provider.submit(request(None))
    with pytest.raises(PoisonInputError, match="no cue"):
        await provider.submit(request(opener(b"WEBVTT\n\nNOTE nothing said\n")))
    assert (await provider.job_status("zoom-unknown")).status == "failed"


async def test_an_oversized_transcript_is_refused_while_streaming() -> None:
    with pytest.raises(PoisonInputError, match="larger than 100 bytes"):
        await read_bounded(opener(b"WEBVTT\n\n" + b"x" * 200), limit=100)


def test_what_is_stored_stays_within_one_document() -> None:
    cues = tuple(Cue(float(i), float(i) + 1, "word " * 200, "Elisa L") for i in range(100))
    kept = utterances(cues, budget=20_000)
    assert 0 < len(kept) < 100 and kept[-1]["speaker"] == "Elisa L"
