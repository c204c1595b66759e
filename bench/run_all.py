"""Every benchmark, each with its baseline measured in the same run; one JSON and one Markdown table.

    uv run python bench/run_all.py            # default sizes (about 40 min on 2 cores, see below)
    uv run python bench/run_all.py --quick    # minutes instead of hours, 20 meetings at once (~10 min)
    uv run python bench/run_all.py --full     # longer ingest and limiter runs
    uv run python bench/run_all.py --only ingest --only download

Runs, in this order, each as its own process: bench_ingest.py (vs a durable receiver and bare aiohttp + HMAC),
bench_limiter.py (three times: it measures once per call), bench_download.py (vs curl),
bench_growth.py (the mixer's curves and its headline vs the bare ffmpeg merge, through
bench_mixer.py's worker), bench_e2e.py, bench_whisper.py (the transcriber vs faster-whisper's API),
bench_page.py (the meeting page of a 4-hour, 32-speaker meeting, cold and from the page cache),
bench_split.py (the submitter's split of a long meeting: the planner's parts vs every part encoded again and the
stream copy, and recognition of the Opus parts vs the same spans encoded once).
Then bench_notifier.py (the notifier alone, 100 meetings completing at once: concurrent_jobs 1 vs 6), on
the local FerretDB on SQLite and again on FerretDB on PostgreSQL (``notifier-postgresql``; needs Debian's
postgresql package), and bench_erasures.py (``zoomsymbl erasures``' survey of 300 erasures, a few at a time vs
one at a time; ~1 min).
Each writes bench/results/<name>.json; this script then
writes bench/results/latest.json (machine facts, every figure with median and spread over ≥ 3
runs, the targets) and bench/results/latest.md (the tables docs/performance.md shows).
A benchmark that fails is reported as failed, with the last lines of its stderr (``stderr_tail``
in latest.json, the last few in latest.md); the others still run.

Default size on a 2-core machine: ingest ~3 min, limiter ~2, download < 1, growth ~20 (every
point of the issue's curves: 10 min, 1 h, 4 h and 8 h at 8 speakers, 2 to 64 speakers at 10 min;
every point in 3 runs, the 8 h one about 2 min each), e2e ~12 (3 runs, each on a fresh stack: 1
meeting, then 100 at once; up to ~20 when other work loads the machine).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from common import BENCH, RESULTS, ROOT, log, machine_facts, read_result, spread
from report import markdown

SIZES = ("quick", "default", "full")
STDERR_TAIL_LINES = 60


def commands(size: str) -> dict[str, list[list[str]]]:
    """The benchmark processes of ``size``, by result name (the limiter runs three times)."""
    ingest = {"quick": ["--duration", "5", "--warmup", "1"], "default": ["--duration", "8"], "full": []}[size]
    limiter = {"quick": ["--seconds", "5", "--overhead-runs", "200"], "default": [], "full": ["--seconds", "30"]}[size]
    hours = {"quick": "1", "default": "8", "full": "8"}[size]
    growth = {"quick": ["--quick"], "default": [], "full": ["--full"]}[size]
    e2e = {"quick": ["--quick"], "default": [], "full": []}[size]
    whisper = {"quick": ["--minutes", "2"], "default": [], "full": ["--minutes", "60"]}[size]
    page = {"quick": ["--quick"], "default": [], "full": ["--requests", "50"]}[size]
    notifier = {"quick": ["--quick"], "default": [], "full": []}[size]
    split = {"quick": ["--minutes", "10", "--speech-runs", "3"], "default": [], "full": ["--minutes", "60"]}[size]
    erasures = {"quick": ["--erasures", "100"], "default": [], "full": ["--erasures", "1000"]}[size]
    return {
        "ingest": [["bench_ingest.py", *ingest]],
        "limiter": [["bench_limiter.py", *limiter]] * 3,
        "download": [["bench_download.py", "--hours", hours]],
        "growth": [["bench_growth.py", *growth]],
        "e2e": [["bench_e2e.py", *e2e]],
        "whisper": [["bench_whisper.py", *whisper]],
        "page": [["bench_page.py", *page]],
        "split": [["bench_split.py", *split]],
        "notifier": [["bench_notifier.py", *notifier]],
        # The same on FerretDB on PostgreSQL, which filters in the database (bench/mongo_pg.py).
        "notifier-postgresql": [["bench_notifier.py", *notifier, "--mongo", "postgresql"]],
        "erasures": [["bench_erasures.py", *erasures]],
    }


def run(name: str, calls: list[list[str]]) -> dict[str, Any]:
    """Run one benchmark's processes; its result file(s), wall time, and whether it failed (with the
    last lines the failing process wrote on stderr, which is where the benchmarks say why)."""
    started = time.monotonic()
    outputs: list[dict[str, Any]] = []
    for index, (script, *args) in enumerate(calls, start=1):
        log(f"{name} ({index}/{len(calls)}): {script} {' '.join(args)}")
        code, tail = run_process([sys.executable, str(BENCH / script), *args], timeout=3 * 3600)
        if code != 0:
            status = "failed (timed out after 3 h)" if code is None else f"failed (exit {code})"
            return {"status": status, "seconds": round(time.monotonic() - started), "stderr_tail": tail}
        result = read_result(name)
        if result is not None:
            outputs.append(result)
    return {"status": "ok", "seconds": round(time.monotonic() - started), "results": outputs}


def run_process(args: list[str], timeout: float) -> tuple[int | None, list[str]]:
    """Run ``args``, passing its stderr (the progress) through while keeping its last lines; its exit
    code (None after ``timeout``: it was sent SIGTERM, then SIGKILL) and that tail."""
    tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    proc = subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace"
    )

    def relay() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            sys.stderr.write(line)
            tail.append(line.rstrip("\n"))

    reader = threading.Thread(target=relay, daemon=True)
    reader.start()
    try:
        code: int | None = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        code = None
        proc.terminate()  # SIGTERM first: bench_e2e stops its stack of processes on it
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
    reader.join(timeout=10)
    return code, list(tail)


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
        return {k: v for k, v in outcome.items() if k in ("status", "seconds", "stderr_tail")}
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
    parser.add_argument(
        "--collect",
        action="append",
        choices=list(commands("default")),
        help="lay bench/results/<name>.json (that benchmark run on its own) over latest.json, without running it",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.report_only:
        write(RESULTS / "latest.md", markdown(json.loads((RESULTS / "latest.json").read_text(encoding="utf-8"))))
        return
    machine = machine_facts()
    started = time.monotonic()
    benchmarks: dict[str, Any] = {}
    for name in args.collect or ():
        found = read_result(name)
        if found is None:
            raise SystemExit(f"bench/results/{name}.json does not exist: run bench/bench_{name}.py first")
        body = {k: v for k, v in found.items() if k != "machine"}
        benchmarks[name] = {
            "status": "ok",
            "seconds": 0,
            **body,
            "measured_at": found["machine"]["date"],
            "measured_on": found["machine"]["cpu_model"],
            "collected": True,  # not run here, whatever its date (report.py's header)
        }
    for name, calls in commands(args.size).items():
        if args.collect:
            break
        if args.only and name not in args.only:
            continue
        benchmarks[name] = summarize(name, run(name, calls))
        log(f"{name}: {benchmarks[name]['status']} in {benchmarks[name]['seconds']}s")
    for result in benchmarks.values():
        result.setdefault("measured_at", machine["date"])
        result.setdefault("measured_on", machine["cpu_model"])
    report = {
        "machine": machine,
        "size": args.size,
        "seconds": round(time.monotonic() - started),
        "benchmarks": benchmarks,
    }
    if args.only or args.collect:
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
        # The machine kind's host can change between sessions (an Intel Xeon one day, an AMD EPYC the next).
        result.setdefault("measured_on", previous["machine"]["cpu_model"])
    benchmarks = {**previous["benchmarks"], **report["benchmarks"]}
    return {**report, "seconds": sum(b.get("seconds", 0) for b in benchmarks.values()), "benchmarks": benchmarks}


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    log(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
