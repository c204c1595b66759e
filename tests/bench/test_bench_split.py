"""bench/bench_split.py measures what it says: one short run of both halves against the real local S3 server.

A timing is a benchmark, not a test assertion: this checks what the report is made of (each format split
in every mode at the same cuts, each mode doing what it stands for, each variant of the speech scored against
the same words), not speeds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
MODES = ("planner", "reencode", "copy")
VARIANTS = ("planner", "reencoded", "once", "control", "lossless", "twice")


def test_a_short_run_reports_every_mode_at_the_same_cuts_and_every_variant_scored(tmp_path: Path) -> None:
    out = tmp_path / "split.json"
    cost = ["--minutes", "2", "--part-minutes", "1.5", "--channels", "4", "--formats", "opus", "wav", "--runs", "1"]
    speech = ["--speakers", "2", "--sentences", "8", "--speech-runs", "1"]
    script = str(ROOT / "bench" / "bench_split.py")
    subprocess.run([sys.executable, script, *cost, *speech, "--output", str(out)], cwd=ROOT, check=True, timeout=240)
    report = json.loads(out.read_text(encoding="utf-8"))

    assert report["machine"]["cores"] >= 1
    for fmt in ("opus", "wav"):
        split = report["cost"][fmt]
        assert split["parts"] == 3, "two minutes under a 90 s limit (60 s margin): three parts"
        assert split["same_cuts"], "every mode cuts the very spans the submitter does"
        for mode in MODES:
            assert len(split[mode]["cut_cpu_seconds"]["runs"]) == 1
            assert split[mode]["cut_seconds"]["median"] > 0
        for ratio in ("ratio", "ratio_planner_vs_reencode", "ratio_planner_vs_copy"):
            assert split[ratio]["cut_cpu_seconds"]["median"] is not None
    opus = report["cost"]["opus"]
    assert opus["ffmpeg_cuts"] == {"planner": [0], "reencode": [3], "copy": [3]}, "the planner copies Opus packets"
    assert opus["part_bytes"]["planner"] != opus["part_bytes"]["reencode"]
    wav = report["cost"]["wav"]["part_bytes"]
    assert wav["planner"] == wav["reencode"] == wav["copy"], "WAV parts are copied in every mode (an A/A control)"

    speech_report = report["recognition"]
    assert speech_report["reference_words"] > 50
    assert len(speech_report["spans"]) == 3
    for variant in VARIANTS:
        assert 0 <= speech_report[variant]["wer_percent"]["median"] <= 100
    # Words placed on the wrong channel or out of order would make every word an error.
    assert speech_report["lossless"]["wer_percent"]["median"] < 50
    assert speech_report["planner_copied"] and speech_report["same_cuts"]
    for variant in ("planner", "reencoded", "control"):
        assert speech_report["paired_vs_once"][variant]["pairs"] == 2  # 2 channels x 1 recording
    assert speech_report["paired_planner_vs_reencoded"]["pairs"] == 2
