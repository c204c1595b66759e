"""bench/bench_split.py's summaries, in memory: which mode each figure compares, and the paired comparisons.

The figures are made up; what is checked is what the report says about them (planner against re-encode and
against the ffmpeg copy, run by run; the spans being the same in every mode; the old keys' meaning).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from zoomsymbl_submitter import ogg_opus, parts, splitting
from zoomsymbl_submitter.splitting import Span

BENCH = Path(__file__).resolve().parents[2] / "bench"
SPANS = [[0.0, 700.0], [700.0, 650.0], [1350.0, 450.0]]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    """bench_split as the benchmark runs it (it imports bench/common.py as ``common``)."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module("bench_split")
    finally:
        sys.path.remove(str(BENCH))


def split_row(cut_cpu: float, *, seconds: float = 10.0, spans: list[list[float]] | None = None) -> dict[str, Any]:
    return {
        "seconds": seconds, "cpu_seconds": seconds, "cut_seconds": cut_cpu, "cut_cpu_seconds": cut_cpu,
        "cut_own_cpu_seconds": 0.01, "cut_tool_cpu_seconds": cut_cpu - 0.01, "silence_cpu_seconds": 1.0,
        "ffmpeg_cuts": 3, "spans": spans or SPANS, "part_bytes": [1, 2, 3],
    }  # fmt: skip


def cost_rows(planner: list[float], reencode: list[float], copy: list[float]) -> list[dict[str, Any]]:
    return [
        {"merge": {"seconds": 20.0, "cpu_seconds": 20.0}, "planner": split_row(p), "reencode": split_row(r),
         "copy": split_row(c)}
        for p, r, c in zip(planner, reencode, copy, strict=True)
    ]  # fmt: skip


def test_the_cost_compares_the_planner_with_the_re_encode_and_the_ffmpeg_copy_run_by_run(bench: ModuleType) -> None:
    # Half an hour of 8 channels: a CPU second of the split is 0.25 s per hour per channel.
    rows = cost_rows(planner=[0.02, 0.04], reencode=[4.0, 2.0], copy=[0.4, 0.4])

    cost = bench.summarize_cost("opus", rows, 1800.0, 8, 1000)

    assert cost["ratio_planner_vs_reencode"]["cut_cpu_seconds"]["runs"] == [0.005, 0.02]
    assert cost["ratio_planner_vs_copy"]["cut_cpu_seconds"]["runs"] == [0.05, 0.1]
    assert cost["ratio"]["cut_cpu_seconds"]["runs"] == [10.0, 5.0], "re-encode ÷ copy, as before bd810bd"
    assert [cost[mode]["cut_cpu_seconds"]["median"] for mode in ("planner", "reencode", "copy")] == [0.03, 3.0, 0.4]
    hourly = cost["cut_cpu_seconds_per_hour_per_channel"]
    assert hourly["planner"]["runs"] == [0.005, 0.01]
    assert hourly["extra"]["runs"] == [0.9, 0.4], "the re-encode's CPU above the copy"
    assert hourly["planner_extra"]["runs"] == [-0.10, -0.09], "the planner's above the copy: below it here"
    assert hourly["planner_saved"]["runs"] == [0.99, 0.49]
    assert cost["ffmpeg_cuts"] == {"planner": [3, 3], "reencode": [3, 3], "copy": [3, 3]}
    assert cost["same_cuts"] and cost["same_spans"] and cost["span_seconds_max_difference"] == 0.0


def test_a_copied_part_lasting_as_played_keeps_the_cuts_the_same_but_not_the_spans(bench: ModuleType) -> None:
    rows = cost_rows(planner=[0.02], reencode=[4.0], copy=[0.4])
    rows[0]["planner"]["spans"] = [[0.0, 700.0], [700.0, 650.0], [1350.0, 450.021]]

    cost = bench.summarize_cost("opus", rows, 1800.0, 8, 1000)

    assert cost["same_cuts"] and not cost["same_spans"]
    assert cost["span_seconds_max_difference"] == 0.021


def test_a_mode_cutting_elsewhere_in_any_run_is_reported(bench: ModuleType) -> None:
    rows = cost_rows(planner=[0.02, 0.02], reencode=[4.0, 4.0], copy=[0.4, 0.4])
    rows[1]["copy"]["spans"] = [[0.0, 690.0], [690.0, 660.0], [1350.0, 450.0]]

    assert not bench.summarize_cost("opus", rows, 1800.0, 8, 1000)["same_cuts"]


def test_every_mode_goes_first_once_in_three_runs(bench: ModuleType) -> None:
    orders = [bench.rotated(bench.MODES, run) for run in range(3)]

    assert sorted(order[0] for order in orders) == sorted(bench.MODES)
    assert all(sorted(order) == sorted(bench.MODES) for order in orders)


def test_the_modes_switch_the_packet_copy_and_the_codec(bench: ModuleType, tmp_path: Path) -> None:
    source, target = tmp_path / "in.opus", tmp_path / "out.opus"
    source.write_bytes(b"OggS")
    reencode = ["-c:a", "libopus"]

    with bench.mode_patches("planner"):
        assert ogg_opus.cut is not bench.no_packet_copy
        assert splitting.part_codec("opus", 8, 1000, 10.0)[:2] == reencode
    with bench.mode_patches("reencode"):
        with pytest.raises(ogg_opus.NotCopyable, match="switched off"):
            parts._copy_opus(str(source), str(target), Span(1.0, 2.0), False)
        assert splitting.part_codec("opus", 8, 1000, 10.0)[:2] == reencode
    with bench.mode_patches("copy"):
        assert ogg_opus.cut is bench.no_packet_copy
        assert splitting.part_codec("opus", 8, 1000, 10.0) == ["-c", "copy"]
    assert ogg_opus.cut is not bench.no_packet_copy and splitting.part_codec("flac", 8, 1000, 10.0)[0] == "-c:a"
    assert bench.fallback_warning not in parts.log.filters


# --- (b) -----------------------------------------------------------------------------------------------------------

SAID = [["one two three four"], ["five six seven eight"]]


def recognition_row(bench: ModuleType, heard: dict[str, list[list[str]]], ffmpeg_cuts: int = 0) -> dict[str, Any]:
    """A run of (b) as :func:`bench_split.recognition_run` makes it, from the words each variant heard."""
    spans = [[0.0, 5.0], [5.0, 5.0]]
    splits = {
        "planner": {**split_row(0.004, spans=spans), "ffmpeg_cuts": ffmpeg_cuts},
        "reencode": {**split_row(0.4, spans=spans), "ffmpeg_cuts": 2},
    }
    row: dict[str, Any] = {"part_seconds": 6.0, "splits": splits, "part_bytes": {v: [1, 2] for v in bench.VARIANTS}}
    for variant in bench.VARIANTS:
        row[variant] = {**bench.score(SAID, heard[variant]), "seconds": 1.0, "cpu_seconds": 2.0}
    row["changed_words_vs_once"] = {v: bench.changed_words(heard["once"], heard[v]) for v in bench.COMPARED}
    row["changed_words_planner_vs_reencoded"] = bench.changed_words(heard["reencoded"], heard["planner"])
    return row


def heard(**changed: list[list[str]]) -> dict[str, list[list[str]]]:
    right = [line.split() for lines in SAID for line in lines]
    return {v: changed.get(v, right) for v in ("planner", "reencoded", "once", "control", "lossless")}


def test_the_planner_and_the_re_encoded_parts_are_each_paired_with_once(bench: ModuleType) -> None:
    talk = bench.Conversation([], SAID, [(0.5, 4.5), (5.5, 9.5)], 10.0)
    wrong = [["one", "two", "tree", "four"], ["five", "six", "seven"]]  # both channels worse than once
    rows = [
        recognition_row(bench, heard(reencoded=wrong)),
        recognition_row(bench, heard(reencoded=wrong, planner=[wrong[0], SAID[1][0].split()])),
    ]

    summary = bench.summarize_recognition(rows, [talk, talk], 2)

    planner, reencoded = summary["paired_vs_once"]["planner"], summary["paired_vs_once"]["reencoded"]
    assert (planner["pairs"], planner["worse"], planner["same"], planner["errors_added"]) == (4, 1, 3, 1)
    assert (reencoded["pairs"], reencoded["worse"], reencoded["same"], reencoded["errors_added"]) == (4, 4, 0, 4)
    versus = summary["paired_planner_vs_reencoded"]
    assert (versus["better"], versus["same"], versus["worse"]) == (3, 1, 0)
    assert summary["difference_points"]["reencoded_minus_once"]["runs"] == [25.0, 25.0]
    assert summary["difference_points"]["planner_minus_once"]["runs"] == [0.0, 12.5]
    assert summary["pooled_wer_percent"]["planner"] == 6.25
    assert summary["changed_words_vs_once"]["reencoded"]["runs"] == [2.0, 2.0]
    assert summary["changed_words_planner_vs_reencoded"]["runs"] == [2.0, 1.0]
    assert summary["reference_words"] == 8


def test_the_old_twice_is_the_re_encoded_variant_and_the_planners_copy_is_checked(bench: ModuleType) -> None:
    talk = bench.Conversation([], SAID, [(0.5, 4.5), (5.5, 9.5)], 10.0)
    wrong = [["one", "two", "tree", "four"], SAID[1][0].split()]
    rows = [recognition_row(bench, heard(reencoded=wrong)), recognition_row(bench, heard(), ffmpeg_cuts=2)]

    summary = bench.summarize_recognition(rows, [talk, talk], 2)

    assert summary["twice"] == summary["reencoded"] != summary["planner"]
    assert summary["paired_vs_once"]["twice"] == summary["paired_vs_once"]["reencoded"]
    assert summary["difference_points"]["twice_minus_once"] == summary["difference_points"]["reencoded_minus_once"]
    assert not summary["planner_copied"], "a run whose planner cut with ffmpeg fell back to the re-encode"
    assert summary["same_cuts"] and summary["cuts_in_pauses"]
    assert summary["reencode_cpu_seconds"]["runs"] == [0.4, 0.4]
    assert summary["cut_cpu_seconds"]["planner"]["runs"] == [0.004, 0.004]
    # 10 s of 2 channels: 1/180 of an hour of one channel.
    assert summary["cut_cpu_seconds_per_hour_per_channel"]["reencode"]["runs"] == [72.0, 72.0]
