"""bench/bench_split.py measures what it says: one short run of both halves against the real local S3 server.

A timing is a benchmark, not a test assertion: this checks what the report is made of (each format split
by both codecs at the same cuts, each variant of the speech scored against the same words), not speeds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
VARIANTS = ("twice", "once", "control", "lossless")


def test_a_short_run_reports_both_codecs_at_the_same_cuts_and_every_variant_scored(tmp_path: Path) -> None:
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
        assert split["same_cuts"], "the baseline copies the very spans the submitter re-encodes"
        for mode in ("reencode", "copy"):
            assert len(split[mode]["cut_cpu_seconds"]["runs"]) == 1
            assert split[mode]["cut_seconds"]["median"] > 0
        assert split["ratio"]["cut_cpu_seconds"]["median"] is not None
    wav = report["cost"]["wav"]["part_bytes"]
    assert wav["reencode"] == wav["copy"], "WAV parts are copied either way (the method's A/A control)"

    speech_report = report["recognition"]
    assert speech_report["reference_words"] > 50
    assert len(speech_report["spans"]) == 3
    for variant in VARIANTS:
        assert 0 <= speech_report[variant]["wer_percent"]["median"] <= 100
    # Words placed on the wrong channel or out of order would make every word an error.
    assert speech_report["lossless"]["wer_percent"]["median"] < 50
    assert speech_report["paired_vs_once"]["twice"]["pairs"] == 2  # 2 channels x 1 recording
