"""Every benchmark, each with its baseline measured in the same run; one JSON and one Markdown table.

    uv run python bench/run_all.py            # default sizes (< 30 min on 2 cores)
    uv run python bench/run_all.py --quick    # minutes instead of hours, 20 meetings at once (~10 min)
    uv run python bench/run_all.py --full     # adds 4 h, 8 h and 64-speaker meetings (about an hour more)
    uv run python bench/run_all.py --only ingest --only download

Runs, in this order, each as its own process: bench_ingest.py (vs bare aiohttp + HMAC),
bench_limiter.py (three times: it measures once per call), bench_download.py (vs curl),
bench_growth.py (the mixer's curves and its headline vs the bare ffmpeg merge, through
bench_mixer.py's worker), bench_e2e.py. Each writes bench/results/<name>.json; this script then
writes bench/results/latest.json (machine facts, every figure with median and spread over ≥ 3
runs, the targets) and bench/results/latest.md (the tables the README's performance section shows).
A benchmark that fails is reported as failed; the others still run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import BENCH, RESULTS, ROOT, log, machine_facts, read_result, spread
from report import markdown

SIZES = ("quick", "default", "full")


def commands(size: str) -> dict[str, list[list[str]]]:
    """The benchmark processes of ``size``, by result name (the limiter runs three times)."""
    ingest = {"quick": ["--duration", "5", "--warmup", "1"], "default": ["--duration", "8"], "full": []}[size]
    limiter = {"quick": ["--seconds", "5", "--overhead-runs", "200"], "default": [], "full": ["--seconds", "30"]}[size]
    hours = {"quick": "1", "default": "8", "full": "8"}[size]
    growth = {"quick": ["--quick"], "default": [], "full": ["--full"]}[size]
    e2e = {"quick": ["--quick"], "default": [], "full": []}[size]
    return {
        "ingest": [["bench_ingest.py", *ingest]],
        "limiter": [["bench_limiter.py", *limiter]] * 3,
        "download": [["bench_download.py", "--hours", hours]],
        "growth": [["bench_growth.py", *growth]],
        "e2e": [["bench_e2e.py", *e2e]],
    }


def run(name: str, calls: list[list[str]]) -> dict[str, Any]:
    """Run one benchmark's processes; its result file(s), wall time, and whether it failed."""
    started = time.monotonic()
    outputs: list[dict[str, Any]] = []
    for index, (script, *args) in enumerate(calls, start=1):
        log(f"{name} ({index}/{len(calls)}): {script} {' '.join(args)}")
        done = subprocess.run(
            [sys.executable, str(BENCH / script), *args], cwd=ROOT, stdout=subprocess.DEVNULL, timeout=3 * 3600
        )
        if done.returncode != 0:
            return {"status": f"failed (exit {done.returncode})", "seconds": round(time.monotonic() - started)}
        result = read_result(name)
        if result is not None:
            outputs.append(result)
    return {"status": "ok", "seconds": round(time.monotonic() - started), "results": outputs}


def limiter_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The limiter's figures over its runs (each run measures cap, rate and overhead once)."""

    def values(*path: str) -> list[float]:
        found = []
        for r in runs:
            value: Any = r
            for key in path:
                value = value.get(key, {}) if isinstance(value, dict) else {}
            if isinstance(value, int | float):
                found.append(float(value))
        return found

    return {
        "replicas": runs[0].get("cap", {}).get("replicas"),
        "cap": runs[0].get("cap", {}).get("cap"),
        "max_in_flight_seen": spread(values("cap", "max_in_flight_seen"), 1),
        "jobs_per_second": spread(values("cap", "jobs_per_second"), 2),
        "rate_per_second": runs[0].get("rate", {}).get("rate_per_second"),
        "achieved_rate_per_second": spread(values("rate", "achieved_rate_per_second"), 2),
        "rate_error_percent": spread(values("rate", "rate_error_percent"), 1),
        "max_grants_in_1s_window": spread(values("rate", "max_grants_in_1s_window"), 1),
        "allowed_in_1s_window": runs[0].get("rate", {}).get("allowed_in_1s_window"),
        "overhead_median_ms": spread(values("overhead", "round_trip", "median_ms"), 2),
        "overhead_p99_ms": spread(values("overhead", "round_trip", "p99_ms"), 2),
        "runs": runs,
    }


def summarize(name: str, outcome: dict[str, Any]) -> dict[str, Any]:
    if outcome["status"] != "ok" or not outcome.get("results"):
        return {"status": outcome["status"], "seconds": outcome["seconds"]}
    results = outcome["results"]
    body = limiter_summary(results) if name == "limiter" else {k: v for k, v in results[-1].items() if k != "machine"}
    return {"status": "ok", "seconds": outcome["seconds"], **body}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--quick", dest="size", action="store_const", const="quick")
    sizes.add_argument("--full", dest="size", action="store_const", const="full")
    parser.set_defaults(size="default")
    parser.add_argument("--only", action="append", choices=list(commands("default")), help="run only these")
    parser.add_argument("--report-only", action="store_true", help="only render latest.md from latest.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.report_only:
        write(RESULTS / "latest.md", markdown(json.loads((RESULTS / "latest.json").read_text(encoding="utf-8"))))
        return
    machine = machine_facts()
    started = time.monotonic()
    benchmarks: dict[str, Any] = {}
    for name, calls in commands(args.size).items():
        if args.only and name not in args.only:
            continue
        benchmarks[name] = summarize(name, run(name, calls))
        log(f"{name}: {benchmarks[name]['status']} in {benchmarks[name]['seconds']}s")
    for result in benchmarks.values():
        result["measured_at"] = machine["date"]
    report = {
        "machine": machine,
        "size": args.size,
        "seconds": round(time.monotonic() - started),
        "benchmarks": benchmarks,
    }
    if args.only:
        report = merged(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    write(RESULTS / "latest.json", json.dumps(report, indent=2) + "\n")
    write(RESULTS / "latest.md", markdown(report))
    print(markdown(report))


def merged(report: dict[str, Any]) -> dict[str, Any]:
    """``report`` (an ``--only`` run) laid over the previous latest.json of the same size: each
    benchmark keeps its own baseline and run, and says when it was measured."""
    path = RESULTS / "latest.json"
    if not path.is_file():
        return report
    previous: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if previous.get("size") != report["size"]:
        return report
    for result in previous["benchmarks"].values():
        result.setdefault("measured_at", previous["machine"]["date"])
    benchmarks = {**previous["benchmarks"], **report["benchmarks"]}
    return {**report, "seconds": sum(b.get("seconds", 0) for b in benchmarks.values()), "benchmarks": benchmarks}


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    log(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
