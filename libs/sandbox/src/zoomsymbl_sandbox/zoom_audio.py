"""SANDBOX: generates the audio Zoom would record, as AAC-LC 32 kHz mono M4A files.

Layout of a participant track (as Zoom records them): the file starts when the participant
joined, i.e. at its own `recording_start`. With espeak-ng speech the first sound is exactly
`LEAD_IN_S` (0.5 s) into the file and the track is padded with silence to `duration_s`.

Synthetic tracks (`synthetic_speech`) follow a fixed schedule on the meeting clock instead:
the meeting is cut into `SYNTHETIC_CYCLE_S` cycles, each split in equal slots, one per
participant; participant *i* "talks" (pink noise gated at syllable rate) in slot *i*. One cycle is
encoded once and then repeated by stream copy, which makes hours of audio take about a second.

Files are cached in a directory under names derived from a hash of everything that shapes them,
so a rerun with the same meetings reuses them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from zoomsymbl_sandbox.zoom_specs import MeetingSpec, ParticipantSpec
from zoomsymbl_sandbox.zoom_subprocess import run_tool

LEAD_IN_S = 0.5
SAMPLE_RATE = 32_000
SYNTHETIC_CYCLE_S = 60
_SYLLABLE_HZ = 4  # an integer number of syllables per cycle keeps the loop seamless
_GENERATOR_VERSION = "1"
_AAC = ("-c:a", "aac", "-ar", str(SAMPLE_RATE), "-ac", "1", "-b:a", "48k")
_QUIET = ("-hide_banner", "-nostdin", "-loglevel", "error", "-y")


@dataclass(frozen=True)
class MediaFile:
    """A generated file and its exact size in bytes (Zoom's `file_size`)."""

    path: Path
    size: int


@dataclass(frozen=True)
class MeetingMedia:
    """Everything recorded for one meeting."""

    tracks: tuple[MediaFile, ...]  # one per participant, in `MeetingSpec.participants` order
    mix: MediaFile  # the `audio_only` M4A: all participants, aligned on the meeting clock
    video: MediaFile | None  # `shared_screen_with_speaker_view` MP4, when the spec asks for one
    stretches: tuple[MediaFile, ...] = ()  # the `audio_only` M4A of each stretch of a restarted recording


Producer = Callable[[Path], Awaitable[None]]


def _cache_entry(cache_dir: Path, kind: str, key: object, ext: str) -> tuple[Path, bool]:
    digest = hashlib.sha256(json.dumps([_GENERATOR_VERSION, kind, key], sort_keys=True).encode())
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"zoom-{kind}-{digest.hexdigest()[:24]}.{ext}"
    return path, path.exists()


def _media_file(path: Path) -> MediaFile:
    return MediaFile(path=path, size=path.stat().st_size)


async def _cached(cache_dir: Path, kind: str, key: object, ext: str, produce: Producer) -> MediaFile:
    path, present = _cache_entry(cache_dir, kind, key, ext)
    if not present:
        # Produce under a unique name, then rename: concurrent test runs never see half a file.
        partial = path.with_name(f"{path.stem}.{os.getpid()}.{id(produce)}.partial.{ext}")
        try:
            await produce(partial)
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)
    return _media_file(path)


def _timeout(duration_s: float) -> float:
    return 120 + duration_s / 10


async def _espeak_track(participant: ParticipantSpec, out: Path) -> None:
    duration = participant.duration_s
    if not participant.speech.strip():
        await run_tool(
            [
                "ffmpeg",
                *_QUIET,
                "-f",
                "lavfi",
                "-i",
                f"anullsrc=r={SAMPLE_RATE}:cl=mono",
                "-t",
                str(duration),
                *_AAC,
                str(out),
            ],
            timeout=_timeout(duration),
        )
        return
    text, wav = out.with_suffix(".txt"), out.with_suffix(".wav")
    try:
        # Text through a file, so speech starting with "-" can never read as an option.
        text.write_text(participant.speech, encoding="utf-8")
        await run_tool(["espeak-ng", "-v", "en", "-w", str(wav), "-f", str(text)], timeout=60)
        # espeak starts with a few ms of silence: strip it so the lead-in is exact.
        chain = (
            f"silenceremove=start_periods=1:start_threshold=-50dB,"
            f"adelay={int(LEAD_IN_S * 1000)}:all=1,apad=whole_dur={duration},atrim=end={duration}"
        )
        await run_tool(["ffmpeg", *_QUIET, "-i", str(wav), "-af", chain, *_AAC, str(out)], timeout=_timeout(duration))
    finally:
        text.unlink(missing_ok=True)
        wav.unlink(missing_ok=True)


def talk_window(index: int, count: int) -> tuple[float, float]:
    """When participant `index` of `count` talks within each cycle: its slot less 0.5 s before and 1.5 s after, or,
    in slots too short for that (23 or more participants), the middle half of its slot. (Until 2026-12-05 the fixed
    gaps left nothing from 30 participants on: their tracks were digital silence.)"""
    slot = SYNTHETIC_CYCLE_S / count
    if slot - 2.0 >= slot / 4:
        return index * slot + 0.5, (index + 1) * slot - 1.5
    return index * slot + slot / 4, (index + 1) * slot - slot / 4


def _gate(index: int, count: int, phase_s: int) -> str:
    """ffmpeg expression: 1 while participant `index` talks, on the meeting clock `t + phase_s`."""
    start, end = talk_window(index, count)
    clock = f"(t+{phase_s})"
    return (
        f"between(mod({clock},{SYNTHETIC_CYCLE_S}),{start:.3f},{end:.3f})"
        f"*gt(sin(2*PI*{_SYLLABLE_HZ}*{clock}+{index}),-0.4)"
    )


async def _synthetic_cycle(gates: list[str], seed: int, out: Path) -> None:
    source = f"anoisesrc=color=pink:sample_rate={SAMPLE_RATE}:amplitude=0.4:seed={seed}"
    chain = f"lowpass=f=3400,highpass=f=120,volume='min(1,{'+'.join(gates)})':eval=frame"
    await run_tool(
        ["ffmpeg", *_QUIET, "-f", "lavfi", "-i", source, "-t", str(SYNTHETIC_CYCLE_S), "-af", chain, *_AAC, str(out)],
        timeout=_timeout(SYNTHETIC_CYCLE_S),
    )


async def _loop_to(cycle: MediaFile, duration_s: int, out: Path) -> None:
    await run_tool(
        ["ffmpeg", *_QUIET, "-stream_loop", "-1", "-i", str(cycle.path), "-t", str(duration_s), "-c", "copy", str(out)],
        timeout=_timeout(duration_s),
    )


async def _looped(cache_dir: Path, kind: str, gates: list[str], seed: int, duration_s: int) -> MediaFile:
    cycle = await _cached(
        cache_dir, f"{kind}-cycle", [gates, seed], "m4a", lambda out: _synthetic_cycle(gates, seed, out)
    )
    return await _cached(
        cache_dir, kind, [gates, seed, duration_s], "m4a", lambda out: _loop_to(cycle, duration_s, out)
    )


async def _participant_track(spec: MeetingSpec, index: int, cache_dir: Path) -> MediaFile:
    participant = spec.participants[index]
    if not spec.synthetic_speech:
        key = [participant.speech, participant.duration_s, LEAD_IN_S]
        return await _cached(cache_dir, "speech", key, "m4a", lambda out: _espeak_track(participant, out))
    phase = participant.start_offset_s % SYNTHETIC_CYCLE_S
    gates = [_gate(index, len(spec.participants), phase)]
    return await _looped(cache_dir, "synthetic", gates, index + 1, participant.duration_s)


async def _amix(spec: MeetingSpec, tracks: tuple[MediaFile, ...], out: Path) -> None:
    total = spec.total_duration_s
    inputs: list[str] = []
    chains: list[str] = []
    for i, (track, participant) in enumerate(zip(tracks, spec.participants, strict=True)):
        inputs += ["-i", str(track.path)]
        chains.append(f"[{i}:a]adelay={participant.start_offset_s * 1000}:all=1,apad=whole_dur={total}[a{i}]")
    labels = "".join(f"[a{i}]" for i in range(len(tracks)))
    graph = ";".join([*chains, f"{labels}amix=inputs={len(tracks)}:normalize=0,atrim=end={total}[mix]"])
    await run_tool(
        ["ffmpeg", *_QUIET, *inputs, "-filter_complex", graph, "-map", "[mix]", *_AAC, str(out)],
        timeout=_timeout(total),
    )


async def _mix(spec: MeetingSpec, tracks: tuple[MediaFile, ...], cache_dir: Path) -> MediaFile:
    total = spec.total_duration_s
    everyone_throughout = all(p.start_offset_s == 0 and p.duration_s == total for p in spec.participants)
    if spec.synthetic_speech and everyone_throughout:
        # Same schedule as the tracks on the same clock, so looping one mixed cycle stays aligned.
        gates = [_gate(i, len(spec.participants), 0) for i in range(len(spec.participants))]
        return await _looped(cache_dir, "synthetic-mix", gates, 0, total)
    key = [[t.path.name for t in tracks], [p.start_offset_s for p in spec.participants], total]
    return await _cached(cache_dir, "mix", key, "m4a", lambda out: _amix(spec, tracks, out))


async def _video(mix: MediaFile, duration_s: int, out: Path) -> None:
    # A still, tiny picture: the video only has to exist and carry the mixed audio.
    await run_tool(
        [
            "ffmpeg",
            *_QUIET,
            "-f",
            "lavfi",
            "-i",
            f"color=c=0x1f2937:s=160x90:r=1:d={duration_s}",
            "-i",
            str(mix.path),
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "stillimage",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "copy",
            "-shortest",
            "-f",
            "mp4",
            str(out),
        ],
        timeout=_timeout(duration_s),
    )


async def generate_meeting_media(spec: MeetingSpec, cache_dir: Path) -> MeetingMedia:
    """Generate (or reuse from `cache_dir`) every file Zoom would have recorded for `spec`."""
    tracks = tuple(
        await asyncio.gather(*(_participant_track(spec, i, cache_dir) for i in range(len(spec.participants))))
    )
    mix = await _mix(spec, tracks, cache_dir)
    video = None
    if spec.include_video:
        total = spec.total_duration_s
        video = await _cached(cache_dir, "video", [mix.path.name, total], "mp4", lambda out: _video(mix, total, out))
    stretches = [await _stretch(mix, start, end, cache_dir) for start, end in spec.stretches]
    return MeetingMedia(tracks=tracks, mix=mix, video=video, stretches=tuple(stretches))


async def _stretch(mix: MediaFile, start_s: int, end_s: int, cache_dir: Path) -> MediaFile:
    return await _cached(
        cache_dir, "stretch", [mix.path.name, start_s, end_s], "m4a", lambda out: _cut(mix, start_s, end_s, out)
    )


async def _cut(mix: MediaFile, start_s: int, end_s: int, out: Path) -> None:
    """The meeting's audio from ``start_s`` to ``end_s``: what Zoom recorded in that stretch."""
    window = ["-ss", str(start_s), "-t", str(end_s - start_s)]
    await run_tool(["ffmpeg", *_QUIET, "-i", str(mix.path), *window, *_AAC, str(out)], timeout=_timeout(end_s))
