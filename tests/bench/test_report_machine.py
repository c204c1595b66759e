"""The header of bench/results/latest.md says when and where its figures were measured, never a date at which
nothing ran (``run_all.py --collect``/``--only`` lays one benchmark over the others of earlier runs)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
MACHINE = {
    "date": "2026-12-05T14:11:30+00:00", "cpu_model": "Xeon", "usable_cores": 2, "ram_gib": 23.5,
    "ffmpeg": "ffmpeg version 5.1.9 Copyright", "python": "3.11.7", "kernel": "6.18", "load_average": [0.8],
    "git_commit": "d6d440d", "git_dirty": False,
}  # fmt: skip


@pytest.fixture(scope="module")
def report() -> ModuleType:
    """bench/report.py as run_all imports it."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module("report")
    finally:
        sys.path.remove(str(BENCH))


def header(report: ModuleType, benchmarks: dict[str, Any]) -> str:
    facts = {"machine": MACHINE, "size": "default", "seconds": 1320, "benchmarks": benchmarks}
    return "\n".join(report.machine_line(facts))


def test_a_collected_report_does_not_claim_a_run_at_its_collection_date(report: ModuleType) -> None:
    text = header(report, {
        "split": {"measured_at": "2026-12-05T14:10:04+00:00", "measured_on": "Xeon"},
        "ingest": {"measured_at": "2026-12-04T20:41:18+00:00", "measured_on": "AMD EPYC"},
    })  # fmt: skip
    assert text.startswith("Collected 2026-12-05T14:11:30+00:00 from the separate runs listed below")
    assert "Measured 2026-12-05T14:11:30" not in text and "the rest at" not in text
    assert "ingest at 2026-12-04T20:41:18+00:00 on AMD EPYC, split at 2026-12-05T14:10:04+00:00." in text


def test_a_run_says_its_own_date_and_what_ran_elsewhere(report: ModuleType) -> None:
    text = header(report, {"split": {}, "ingest": {"measured_at": "2026-12-04T20:41:18+00:00", "measured_on": "EPYC"}})
    assert text.startswith("Measured 2026-12-05T14:11:30+00:00 with `make bench` (default sizes, 22 min)")
    assert "ingest at 2026-12-04T20:41:18+00:00 on EPYC; the rest at 2026-12-05T14:11:30+00:00 on Xeon." in text


def test_a_benchmark_collected_within_the_same_second_is_not_taken_for_a_run(report: ModuleType) -> None:
    # bench_erasures.py ended, and `run_all.py --collect erasures` read its file, both at 14:11:30 (seen 2026-12-07).
    text = header(report, {
        "erasures": {"measured_at": MACHINE["date"], "measured_on": "Xeon", "collected": True},
        "ingest": {"measured_at": "2026-12-04T20:41:18+00:00", "measured_on": "AMD EPYC"},
    })  # fmt: skip
    assert text.startswith("Collected 2026-12-05T14:11:30+00:00 from the separate runs listed below")
    assert "erasures at 2026-12-05T14:11:30+00:00, ingest at 2026-12-04T20:41:18+00:00 on AMD EPYC." in text
    assert "the rest at" not in text
