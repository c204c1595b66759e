"""Measurement: bytes per hour per channel of each mixer output format, and that ffprobe reads them back.

Three kinds of input, each merged with the mixer's own ``merge_args`` (same filter graph, same encoders):

- ``meeting``: the Zoom sandbox's synthetic tracks (pink noise gated at syllable rate, one speaker
  at a time, silence otherwise; AAC-LC 32 kHz mono, as Zoom records them);
- ``speech``: every channel talks all the time (espeak-ng reading different random words on each
  channel, AAC-LC 32 kHz mono): Opus's worst case, its VBR spends more on speech than on noise;
- ``noise``: every channel carries continuous pink noise (speech band): FLAC's worst case.

The largest of the three per format is the bound a planner can rely on.

The merge runs with the mixer's defaults (Opus: 32 kbit/s per channel, complexity 0). Sizes are
deterministic (fixed seeds and texts), so one run per point suffices; they are linear in
duration (constant-rate codecs, container overhead per page/frame), which is what the
extrapolation to 8 h relies on (the run reports two durations so the linearity can be seen).

    uv run python bench/bench_audio_format.py                 # 2, 8, 10, 32 speakers; 5 and 10 min
    uv run python bench/bench_audio_format.py --minutes 2 --speakers 10

Prints JSON on stdout and writes bench/results/audio-format.json. Needs ffmpeg and espeak-ng only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import tempfile
from pathlib import Path
from typing import Any

from common import write_result
from zoomsymbl_common.events import RecordingFile
from zoomsymbl_common.media_tools import run_tool
from zoomsymbl_mixer.channels import Track, plan_mix
from zoomsymbl_mixer.ffmpeg import (
    EXTENSIONS,
    FLAC_MAX_CHANNELS,
    OutputFormat,
    merge_args,
)
from zoomsymbl_mixer.ffprobe import parse_probe, probe_args
from zoomsymbl_sandbox.zoom_audio import SAMPLE_RATE, generate_meeting_media
from zoomsymbl_sandbox.zoom_specs import long_meeting_spec

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "zoom-sandbox"
HOUR = 3600.0
QUIET = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
WORDS = ["the", "meeting", "agenda", "today", "covers", "budget", "planning", "hiring", "roadmap", "customer"]
WORDS += ["feedback", "quarterly", "results", "action", "items", "follow", "up", "decisions", "product", "launch"]
WORDS += ["marketing", "sales", "engineering", "support"]


async def meeting_tracks(speakers: int, seconds: int) -> list[Path]:
    """The sandbox's synthetic participant tracks (cached under .cache/zoom-sandbox)."""
    spec = long_meeting_spec(f"format-{speakers}p-{seconds}s", hours=seconds / HOUR, participants=speakers)
    media = await generate_meeting_media(spec, CACHE)
    return [track.path for track in media.tracks]


async def speech_tracks(speakers: int, seconds: int, folder: Path) -> list[Path]:
    """Continuous TTS speech per speaker (different words each), looped to ``seconds``; cached."""
    CACHE.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(speakers):
        loop = CACHE / f"format-speech-{index}.m4a"
        if not loop.exists():
            words = random.Random(index).choices(WORDS, k=900)
            text, wav = folder / f"speech-{index}.txt", folder / f"speech-{index}.wav"
            text.write_text(" ".join(words), encoding="utf-8")
            await _run(["espeak-ng", "-v", "en", "-w", str(wav), "-f", str(text)])
            aac = ["-ar", str(SAMPLE_RATE), "-ac", "1", "-c:a", "aac", "-b:a", "48k"]
            await _run([*QUIET, "-i", str(wav), *aac, str(loop)])
        path = folder / f"speech-{index}.m4a"
        await _run([*QUIET, "-stream_loop", "-1", "-i", str(loop), "-t", str(seconds), "-c", "copy", str(path)])
        paths.append(path)
    return paths


async def _run(args: list[str]) -> None:
    result = await run_tool(args, timeout=600)
    assert result.returncode == 0, result.tail


async def noise_tracks(speakers: int, seconds: int, folder: Path) -> list[Path]:
    """Continuous pink noise per speaker (speech band, as loud as the synthetic speech), lossless."""
    paths = []
    for index in range(speakers):
        path = folder / f"noise-{index}.flac"
        source = f"anoisesrc=color=pink:sample_rate={SAMPLE_RATE}:amplitude=0.4:seed={index + 1}"
        args = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source]
        args += ["-t", str(seconds), "-af", "lowpass=f=3400,highpass=f=120", "-c:a", "flac", str(path)]
        result = await run_tool(args, timeout=600)
        assert result.returncode == 0, result.tail
        paths.append(path)
    return paths


def children_cpu() -> float:
    """CPU seconds of every child process waited for so far (ffmpeg)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def merged_size(paths: list[Path], seconds: int, fmt: OutputFormat, out: Path) -> dict[str, Any]:
    """Merge ``paths`` as the mixer does and report the file's size and what ffprobe reads back."""
    tracks = [
        Track(RecordingFile(file_id=str(i), download_url="x"), str(p), float(seconds)) for i, p in enumerate(paths)
    ]
    plan = plan_mix(tracks, max_channels=len(tracks))
    target = out / f"mixed.{EXTENSIONS[fmt]}"
    before = children_cpu()
    result = await run_tool(merge_args(plan, target, fmt, sample_rate=SAMPLE_RATE, silence=None), timeout=3600)
    cpu = children_cpu() - before
    assert result.returncode == 0, result.tail
    probed = (await run_tool(probe_args(target), timeout=120, capture_stdout=True)).stdout
    probe = parse_probe(probed)
    assert probe is not None, probed
    size = target.stat().st_size
    target.unlink()
    per_hour_channel = size / (seconds / HOUR) / len(paths)
    return {
        "bytes": size,
        "bytes_per_hour_per_channel": round(per_hour_channel),
        # Decoding the tracks, the filter graph and the encoder: one figure, not a benchmark of the codec alone.
        "merge_cpu_seconds": round(cpu, 2),
        "channel_seconds_per_cpu_second": round(len(paths) * seconds / cpu),
        "probe": {
            "codec": probe.codec,
            "channels": probe.channels,
            "rate": probe.sample_rate,
            "seconds": probe.duration,
        },
    }


async def measure(speakers: list[int], minutes: list[float]) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="zoomsymbl-format-") as scratch:
        work = Path(scratch)
        for seconds in (round(m * 60) for m in minutes):
            for n in speakers:
                for kind in ("meeting", "speech", "noise"):
                    folder = work / f"{kind}-{n}-{seconds}"
                    folder.mkdir()
                    if kind == "meeting":
                        paths = await meeting_tracks(n, seconds)
                    else:
                        make = speech_tracks if kind == "speech" else noise_tracks
                        paths = await make(n, seconds, folder)
                    formats: list[OutputFormat] = ["opus", "wav", "flac"] if n <= FLAC_MAX_CHANNELS else ["opus", "wav"]
                    for fmt in formats:
                        row = {"input": kind, "speakers": n, "seconds": seconds, "format": fmt}
                        row |= await merged_size(paths, seconds, fmt, folder)
                        print(json.dumps(row), flush=True)
                        rows.append(row)
    return rows


def bounds(rows: list[dict[str, Any]]) -> dict[str, int]:
    """The largest bytes per hour per channel of each format, over every input and size."""
    found: dict[str, int] = {}
    for row in rows:
        found[row["format"]] = max(found.get(row["format"], 0), row["bytes_per_hour_per_channel"])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speakers", type=int, nargs="+", default=[2, 8, 10, 32])
    parser.add_argument("--minutes", type=float, nargs="+", default=[5.0, 10.0])
    args = parser.parse_args()
    rows = asyncio.run(measure(args.speakers, args.minutes))
    path = write_result("audio-format", {"config": vars(args), "rows": rows, "bounds": bounds(rows)})
    print(json.dumps({"bounds": bounds(rows)}))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
