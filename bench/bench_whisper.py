"""Self-hosted transcription: realtime factor and peak memory of the transcriber vs plain faster-whisper.

    uv run python bench/bench_whisper.py                 # one channel (2 min) and 8 speakers × 10 min, 3 runs each
    uv run python bench/bench_whisper.py --minutes 60    # the issue's 8-speaker 1-hour meeting

The meeting is espeak-ng speech: each of 8 speakers says their own sentences in turn (one slot of the
cycle each), so the talk time is known exactly. Measured, each in its own process (peak RSS from
``wait4``), alternating in every run:

- **ours**: ``zoomsymbl_whisper.Transcriber`` as the transcriber service runs it: per channel, decoded
  in windows, Silero VAD, tiny.en int8 on CPU (the packaged model);
- **baseline**: what a user of faster-whisper's own API would do with the same file: extract each
  channel to a WAV with ffmpeg, then ``WhisperModel.transcribe(wav, vad_filter=True)``.

Reported: wall seconds, realtime factor (wall / talk time; < 1 is faster than the talk), per core
(× the cores CTranslate2 used), and peak memory. Result: bench/results/whisper.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import CACHE, RESULTS, log, machine_facts, spread

SPEAKERS = 8
SAMPLE_RATE = 16_000
LINES = [
    "We reviewed the budget for the next quarter and agreed to keep the travel costs flat.",
    "The build is ready and the tests are green, so the release can go out on Friday.",
    "Can you send the customer the updated contract before the end of the week?",
    "I will schedule a follow up meeting with the design team for next Tuesday.",
    "The new dashboard shows the latency of every service in one place.",
    "We decided to move the launch event to the second week of January.",
    "Please review the pull request and leave your comments by tomorrow morning.",
    "The support queue is down to twelve tickets after the last sprint.",
]


def clip(text: str, folder: Path, index: int) -> bytes:
    """``text`` spoken by espeak-ng, as 16 kHz mono s16le samples."""
    wav = folder / f"line{index}.wav"
    subprocess.run(["espeak-ng", "-v", f"en+m{index % 7 + 1}", "-w", str(wav), text], check=True, timeout=60)
    raw = subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", str(wav), "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "s16le", "-"],
        check=True, capture_output=True, timeout=60,
    ).stdout  # fmt: skip
    return raw


def meeting(minutes: float, channels: int, folder: Path) -> tuple[Path, float]:
    """A ``channels``-channel FLAC of ``minutes``: speaker i talks in slot i of every cycle; (path, talk seconds)."""
    import numpy as np

    clips = [np.frombuffer(clip(LINES[i % len(LINES)], folder, i), dtype=np.int16) for i in range(channels)]
    slot = max(len(c) for c in clips) + SAMPLE_RATE  # one second of silence after the longest line
    cycle = slot * channels
    cycles = max(1, round(minutes * 60 * SAMPLE_RATE / cycle))
    block = np.zeros((cycle, channels), dtype=np.int16)
    for i, samples in enumerate(clips):
        block[i * slot : i * slot + len(samples), i] = samples
    path = folder / f"meeting-{channels}x{minutes:g}min.flac"
    args = ["ffmpeg", "-loglevel", "error", "-y", "-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", str(channels)]
    with subprocess.Popen([*args, "-i", "-", "-c:a", "flac", str(path)], stdin=subprocess.PIPE) as proc:
        assert proc.stdin is not None
        for _ in range(cycles):
            proc.stdin.write(block.tobytes())
        proc.stdin.close()
    talk = cycles * sum(len(c) for c in clips) / SAMPLE_RATE
    return path, talk


WORKER = r"""
import json, subprocess, sys, time
from pathlib import Path
mode, path, channels = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
from zoomsymbl_whisper import ModelConfig, Transcriber, packaged_model_dir
started = time.monotonic()
if mode == "ours":
    t = Transcriber(ModelConfig(packaged_model_dir(), language="en"))
    t.load()
    loaded = time.monotonic()
    words = sum(len(u.text.split()) for u in t.transcribe_sync(path, channels))
else:
    from faster_whisper import WhisperModel
    model = WhisperModel(str(packaged_model_dir()), device="cpu", compute_type="int8", local_files_only=True)
    loaded = time.monotonic()
    words = 0
    for ch in range(channels):
        wav = path.with_suffix(f".ch{ch + 1}.wav")
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(path), "-af", f"pan=mono|c0=c{ch}",
                        "-ar", "16000", str(wav)], check=True)
        segments, _ = model.transcribe(str(wav), language="en", beam_size=1, vad_filter=True,
                                       condition_on_previous_text=False)
        words += sum(len(s.text.split()) for s in segments)
        wav.unlink()
print(json.dumps({"seconds": time.monotonic() - loaded, "load_seconds": loaded - started, "words": words}))
"""


def measure(mode: str, path: Path, channels: int) -> dict[str, Any]:
    """One run in its own process: wall seconds (after the model load), words, peak RSS (MiB)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, mode, str(path), str(channels)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} run failed with exit {proc.returncode}")
    result: dict[str, Any] = json.loads(out)
    result["peak_rss_mib"] = usage.ru_maxrss / 1024
    return result


def case(name: str, path: Path, channels: int, talk: float, runs: int) -> dict[str, Any]:
    figures: dict[str, list[dict[str, Any]]] = {"ours": [], "baseline": []}
    for run in range(runs):
        for mode in ("ours", "baseline") if run % 2 == 0 else ("baseline", "ours"):
            log(f"{name}: run {run + 1}/{runs}, {mode}")
            figures[mode].append(measure(mode, path, channels))
    cores = min(4, os.cpu_count() or 1)  # CTranslate2's default intra-op threads: min(4, cores)
    summary: dict[str, Any] = {"channels": channels, "talk_seconds": round(talk, 1), "cores_used": cores}
    for mode, runs_ in figures.items():
        seconds = [r["seconds"] for r in runs_]
        summary[mode] = {
            "seconds": spread(seconds, 2),
            "realtime_factor": spread([s / talk for s in seconds], 3),
            "realtime_factor_per_core": spread([s * cores / talk for s in seconds], 3),
            "peak_rss_mib": spread([r["peak_rss_mib"] for r in runs_], 0),
            "words": spread([r["words"] for r in runs_], 0),
        }
    summary["ours_vs_baseline"] = round(
        summary["ours"]["seconds"]["median"] / summary["baseline"]["seconds"]["median"], 3
    )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the 8-speaker meeting")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=CACHE) as scratch:
        folder = Path(scratch)
        one, one_talk = meeting(2.0, 1, folder)
        many, many_talk = meeting(args.minutes, SPEAKERS, folder)
        result = {
            "machine": machine_facts(),
            "one_channel": case("one channel", one, 1, one_talk, args.runs),
            "meeting": {"minutes": args.minutes, **case(f"{SPEAKERS} speakers", many, SPEAKERS, many_talk, args.runs)},
            "seconds": round(time.monotonic() - started),
        }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "whisper.json").write_text(json.dumps(result, indent=2) + "\n")
    log(f"whisper: done in {result['seconds']} s")


if __name__ == "__main__":
    main()
