"""A long meeting cut into parts and joined again, with real audio: the planner's cuts (ffmpeg, S3), a
provider stand-in that hears each part (the sandbox's speech detection) and the merge at the parts' offsets.

What the host reads must be the meeting as it was: every utterance once, at its time in the meeting, on
its speaker's channel; and the parts together are the file, no more (a part that starts before its cut
repeats the end of the part before) and no less.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from zoomsymbl_common.events import AudioFormat
from zoomsymbl_common.providers.base import Insights, ProviderLimits, TranscriptMessage
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.stored_insights import merge
from zoomsymbl_sandbox.provider_audio import SilenceSettings, detect_speech, probe_audio
from zoomsymbl_sandbox.provider_testkit import tone_audio_args, tone_expression
from zoomsymbl_submitter.audio import AudioSource
from zoomsymbl_submitter.parts import Part, PartPlanner, SplitSettings

from tests.submitter.support import audio_mixed, pre_skip_seconds
from tests.submitter.test_parts import Plans

pytestmark = pytest.mark.integration
SECONDS = 60.0
TOLERANCE = 0.015  # seconds: what silencedetect and a lossy codec's edges leave of an exact cut
# 25 s parts at most: three parts, cuts searched in [17.5, 22.5] and [37.5, 42.5].
SPLIT = SplitSettings(max_part_seconds=25.0, margin_seconds=0.0, search_seconds=4.0)
LIMITS = ProviderLimits(
    max_file_seconds=10 * 3600.0, max_upload_bytes=1 << 40, max_url_bytes=1 << 40, caps_concurrency_with_429=False
)


def conversation(speakers: int = 2, cuts: tuple[float, float] = (19.95, 39.95)) -> list[list[tuple[float, float]]]:
    """Speakers taking turns: utterances of about 1.2 s, 0.4 s apart, but 0.8 s apart around ``cuts`` (the
    longest silences of the search windows, so the cuts fall there: by default where neither a FLAC frame
    nor an Ogg page starts)."""
    turns: list[list[tuple[float, float]]] = [[] for _ in range(speakers)]
    speaker = 0
    for begin, stop in ((0.5, cuts[0] - 0.4), (cuts[0] + 0.4, cuts[1] - 0.4), (cuts[1] + 0.4, SECONDS - 0.5)):
        start = begin
        while start < stop:
            end = stop if stop - (start + 1.2) < 0.9 else start + 1.2
            turns[speaker].append((round(start, 3), round(end, 3)))
            start, speaker = end + 0.4, (speaker + 1) % speakers
    return turns


def meeting_audio(path: Path) -> Path:
    """The conversation at 48 kHz (the mixer's rate for Zoom's tracks), codec from ``path``'s extension."""
    subprocess.run(tone_audio_args(path, conversation(), SECONDS, sample_rate=48000), check=True, timeout=60)
    return path


def crowded_audio(path: Path, turns: list[list[tuple[float, float]]]) -> Path:
    """``turns`` over one channel each, every channel with its own faint room noise (-53 dB mean, peaks at
    -40 dB: silence to anyone listening to that participant), as WAV (its parts are copied: only where
    the cuts fall is at stake here)."""
    count = len(turns)
    tones = "|".join(tone_expression(spans, 440.0 + 55.0 * i) for i, spans in enumerate(turns))
    noise = "anoisesrc=color=pink:sample_rate=48000:amplitude=0.012:duration={d}:seed={seed}"
    inputs = ["-f", "lavfi", "-i", f"aevalsrc='{tones}':s=48000:d={SECONDS}"]
    for i in range(count):
        inputs += ["-f", "lavfi", "-i", noise.format(d=SECONDS, seed=i + 1)]
    floors = "".join(f"[{i + 1}:a]" for i in range(count))
    graph = f"{floors}join=inputs={count}:channel_layout={count} channels[noise];"
    graph += f"[0:a]aformat=channel_layouts={count} channels[speech];[speech][noise]amix=inputs=2:normalize=0[out]"
    wav = ["-c:a", "pcm_s16le", "-f", "wav"]
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *inputs]
    subprocess.run([*args, "-filter_complex", graph, "-map", "[out]", *wav, str(path)], check=True, timeout=60)
    return path


async def heard(path: Path) -> list[TranscriptMessage]:
    """What a provider transcribing ``path`` channel by channel reports: one message per utterance."""
    info = await probe_audio(path)
    segments = await detect_speech(path, info, SilenceSettings(), per_channel=True)
    return [
        TranscriptMessage(f"Channel {s.channel}", "…", s.start_s, s.end_s, channel=s.channel)
        for s in sorted(segments, key=lambda s: (s.start_s, s.channel))
    ]


async def decoded_seconds(path: Path) -> float:
    """How long ``path`` plays: its samples as decoded (an Ogg file's own duration counts Opus's pre-skip)."""
    args = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path), "-map", "0:a:0"]
    mono = ["-af", "pan=mono|c0=c0", "-ar", "48000", "-f", "s16le", "-"]
    proc = await asyncio.create_subprocess_exec(*args, *mono, stdout=asyncio.subprocess.PIPE)
    pcm, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0
    return len(pcm) / 2 / 48000


async def ffprobe_seconds(path: Path) -> float:
    """The container's duration as ffprobe reports it."""
    args = ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)]
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return float(out)


async def cut_and_joined(
    store: ObjectStore, infra: InfraSettings, source: Path, fmt: AudioFormat, scratch: Path, channels: int = 2
) -> tuple[list[Part], list[float], tuple[TranscriptMessage, ...]]:
    """The parts the planner makes of ``source``, their lengths as decoded, and their transcripts merged."""
    key = f"mixed/acme/long-{channels}-{fmt}.{fmt}"
    size = await store.put_file(key, str(source))
    event = audio_mixed(31, infra, key, size, duration=SECONDS, format=fmt, channels=channels)
    plans = Plans()
    parts = await PartPlanner(AudioSource(infra), (plans.load, plans.save), SPLIT).parts(event, LIMITS)
    lengths, transcripts = [], []
    for part in parts:
        local = scratch / Path(part.object_key).name
        await store.get_file(part.object_key, str(local))
        # What the file says of itself (a provider reads its length there: ffprobe counts an Opus file's
        # pre-skip, which a copied part sets to its pre-roll; the sandbox does not) and what it plays.
        said = part.duration_seconds + pre_skip_seconds(local)
        assert (await ffprobe_seconds(local)) == pytest.approx(said, abs=0.01)
        assert (await probe_audio(local)).duration_s == pytest.approx(part.duration_seconds, abs=0.01)
        lengths.append(await decoded_seconds(local))
        transcripts.append((part.offset_seconds, Insights(messages=tuple(await heard(local)))))
    return parts, lengths, merge(transcripts).messages


CODECS: dict[str, tuple[AudioFormat, str]] = {
    "flac": ("flac", "m.flac"),
    "opus": ("opus", "m.opus"),
}


@pytest.mark.parametrize("name", list(CODECS))
async def test_every_utterance_of_a_split_meeting_is_read_once_at_its_meeting_time(
    infra: InfraSettings, store: ObjectStore, tmp_path: Path, name: str
) -> None:
    fmt, filename = CODECS[name]
    source = meeting_audio(tmp_path / filename)
    spoken = await heard(source)
    assert len(spoken) == sum(len(turns) for turns in conversation())

    parts, lengths, merged = await cut_and_joined(store, infra, source, fmt, tmp_path)

    assert [round(p.offset_seconds, 2) for p in parts] == [0.0, 19.95, 39.95]
    # Every utterance once, on its speaker's channel, at its meeting time.
    assert [m.channel for m in merged] == [m.channel for m in spoken]
    assert [m.start_seconds for m in merged] == pytest.approx([m.start_seconds for m in spoken], abs=TOLERANCE)
    assert [m.end_seconds for m in merged] == pytest.approx([m.end_seconds for m in spoken], abs=TOLERANCE)
    # The parts are the file: each as long as its span, together as long as the meeting.
    assert lengths == pytest.approx([p.duration_seconds for p in parts], abs=0.005)
    assert sum(lengths) == pytest.approx(SECONDS, abs=0.005)


async def test_a_crowded_meeting_is_cut_where_every_participant_is_silent(
    infra: InfraSettings, store: ObjectStore, tmp_path: Path
) -> None:
    # Twelve participants, each with a faint noise floor: summed into one channel, the floors add up to
    # more than the silence threshold, though no participant is ever louder than it while not speaking.
    turns = conversation(12, cuts=(21.0, 41.0))
    source = crowded_audio(tmp_path / "crowd.wav", turns)
    spoken = await heard(source)
    assert len(spoken) == sum(len(t) for t in turns)

    parts, _, merged = await cut_and_joined(store, infra, source, "wav", tmp_path, channels=12)

    offsets = [p.offset_seconds for p in parts]
    assert offsets == pytest.approx([0.0, 21.0, 41.0], abs=0.05), "in the pauses, not mid-utterance"
    assert [m.channel for m in merged] == [m.channel for m in spoken]
    assert [m.start_seconds for m in merged] == pytest.approx([m.start_seconds for m in spoken], abs=TOLERANCE)
