"""The ``zoomsymbl erasures`` section of bench/results/latest.md: both surveys and the speed-up, from the figures."""

from __future__ import annotations

from types import ModuleType

from tests.bench.test_report_machine import MACHINE, report  # noqa: F401  (the fixture)


def figure(median: float, low: float, high: float) -> dict[str, object]:
    return {"median": median, "min": low, "max": high, "runs": [low, median, high]}


def test_the_section_names_both_surveys_and_the_speed_up(report: ModuleType) -> None:  # noqa: F811
    result = {
        "status": "ok",
        "erasures": 300,
        "reads_at_once": 8,
        "one_at_a_time_seconds": figure(10.6, 9.49, 11.8),
        "at_once_seconds": figure(7.25, 7.2, 7.27),
        "one_at_a_time_ms_per_meeting": figure(35.3, 31.6, 39.5),
        "at_once_ms_per_meeting": figure(24.2, 24.0, 24.2),
        "speedup": figure(1.46, 1.31, 1.64),
    }
    lines = report.erasures(result)
    assert lines[0] == "### `zoomsymbl erasures`: surveying 300 erased meetings (speed-up 1.46× (1.31–1.64))"
    assert "| one at a time (before) | 10.6 s (9.49–11.8) | 35.3 ms (31.6–39.5) |" in lines
    assert "| 8 at a time | 7.25 s (7.20–7.27) | 24.2 ms (24.0–24.2) |" in lines
    rendered = report.markdown(
        {"machine": MACHINE, "size": "default", "seconds": 60, "benchmarks": {"erasures": result}}
    )
    assert lines[0] in rendered
