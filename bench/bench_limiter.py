"""Benchmark: precision and cost of the cluster-wide limiter (zoomsymbl_common.limiter) on the local servers.

Three replicas are three worker processes sharing one limiter document set, as submitter replicas do:

- cap: ``--cap`` slots, a rate that never binds, ``--tasks`` contenders per replica each holding a slot
  for ``--hold-ms``; reports the most slots ever held at once (from acquire-returned / release-called
  timestamps across all replicas) against the cap, and the throughput;
- rate: a cap that never binds, ``--rate`` per second with ``--burst``; reports the achieved rate in the
  steady state (after the burst) and its error against the configured rate, and the most grants in any
  1-second window against rate + burst;
- overhead: one replica, no contention: the round trip a submission pays (acquire + release), median
  and p99, plus each half.

    uv run python bench/bench_limiter.py                  # quick (about 30 s)
    uv run python bench/bench_limiter.py --seconds 30 --overhead-runs 1000

Prints JSON on stdout and writes bench/results/limiter.json. Needs the local servers (make infra-up).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from zoomsymbl_common.limiter import Limiter, LimiterTimeout
from zoomsymbl_common.mongo import make_mongo
from zoomsymbl_common.settings import InfraSettings

RESULTS = Path(__file__).resolve().parent / "results" / "limiter.json"
REPLICAS = 3


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant (a release at t ends before an acquire at t starts)."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    return most


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most ``times`` inside any half-open window of ``window`` seconds."""
    ordered, best, left = sorted(times), 0, 0
    for right, now in enumerate(ordered):
        while now - ordered[left] >= window:
            left += 1
        best = max(best, right - left + 1)
    return best


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def contend(spec: dict[str, Any]) -> dict[str, Any]:
    """One replica: ``tasks`` loops of acquire → hold → release until ``seconds`` pass."""
    infra = InfraSettings().model_copy(update={"mongo_database": spec["database"]})
    mongo = make_mongo(infra)
    limiter = Limiter(
        mongo, spec["account"], spec["rate"], spec["burst"], spec["cap"], 60.0, poll_max_seconds=spec["poll_max"]
    )
    stop_at = spec["start_at"] + spec["seconds"]
    holds: list[tuple[float, float]] = []

    async def loop(task: int) -> None:
        n = 0
        while time.time() < stop_at:
            ref = f"{spec['replica']}-{task}-{n}"
            n += 1
            try:
                await limiter.acquire(ref, timeout=max(0.1, stop_at - time.time()))
            except LimiterTimeout:
                return
            got = time.time()
            await asyncio.sleep(spec["hold_ms"] / 1000)
            holds.append((got, time.time()))
            await limiter.release(ref)

    await asyncio.sleep(max(0.0, spec["start_at"] - time.time()))
    await asyncio.gather(*(loop(t) for t in range(spec["tasks"])))
    await mongo.close()
    return {"holds": holds}


async def overhead(database: str, runs: int) -> dict[str, Any]:
    infra = InfraSettings().model_copy(update={"mongo_database": database})
    mongo = make_mongo(infra)
    limiter = Limiter(mongo, "bench:overhead", 1_000_000.0, 1_000_000, 1000, 60.0)
    acquire_ms, release_ms, round_ms = [], [], []
    await limiter.acquire("warm-up", timeout=10)
    await limiter.release("warm-up")
    for n in range(runs):
        started = time.perf_counter()
        await limiter.acquire(f"job-{n}", timeout=10)
        middle = time.perf_counter()
        await limiter.release(f"job-{n}")
        ended = time.perf_counter()
        acquire_ms.append((middle - started) * 1000)
        release_ms.append((ended - middle) * 1000)
        round_ms.append((ended - started) * 1000)
    await mongo.close()

    def summary(values: list[float]) -> dict[str, float]:
        return {"median_ms": round(statistics.median(values), 2), "p99_ms": round(percentile(values, 0.99), 2)}

    return {
        "runs": runs,
        "round_trip": summary(round_ms),
        "acquire": summary(acquire_ms),
        "release": summary(release_ms),
    }


def run_replicas(base: dict[str, Any]) -> list[tuple[float, float]]:
    """Start the replicas as processes on a common start time; every hold interval they saw."""
    start_at = time.time() + 4.0  # time for the interpreters to start
    procs = []
    for replica in range(REPLICAS):
        spec = base | {"replica": replica, "start_at": start_at}
        procs.append(
            subprocess.Popen(
                [sys.executable, __file__, "--worker", json.dumps(spec)], stdout=subprocess.PIPE, text=True
            )
        )
    holds: list[tuple[float, float]] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=base["seconds"] + 120)
        if proc.returncode != 0:
            raise SystemExit(f"worker failed with exit code {proc.returncode}")
        holds += [(float(start), float(end)) for start, end in json.loads(out)["holds"]]
    return holds


def cap_scenario(args: argparse.Namespace, database: str) -> dict[str, Any]:
    spec = {
        "database": database, "account": "bench:cap", "rate": 100_000.0, "burst": 100_000, "cap": args.cap,
        "tasks": args.tasks, "hold_ms": args.hold_ms, "seconds": args.seconds, "poll_max": 0.05,
    }  # fmt: skip
    holds = run_replicas(spec)
    return {
        "replicas": REPLICAS,
        "contenders": REPLICAS * args.tasks,
        "cap": args.cap,
        "max_in_flight_seen": max_overlap(holds),
        "jobs": len(holds),
        "jobs_per_second": round(len(holds) / args.seconds, 2),
        "ideal_jobs_per_second": round(args.cap / (args.hold_ms / 1000), 2),
    }


def rate_scenario(args: argparse.Namespace, database: str) -> dict[str, Any]:
    spec = {
        "database": database, "account": "bench:rate", "rate": args.rate, "burst": args.burst, "cap": 100_000,
        "tasks": args.tasks, "hold_ms": 0, "seconds": args.seconds, "poll_max": 0.05,
    }  # fmt: skip
    grants = sorted(start for start, _ in run_replicas(spec))
    steady = [t for t in grants if t >= grants[0] + 1.0] if grants else []
    span = (steady[-1] - steady[0]) if len(steady) > 1 else 0.0
    achieved = (len(steady) - 1) / span if span > 0 else 0.0
    return {
        "replicas": REPLICAS,
        "rate_per_second": args.rate,
        "burst": args.burst,
        "grants": len(grants),
        "achieved_rate_per_second": round(achieved, 3),
        "rate_error_percent": round((achieved - args.rate) / args.rate * 100, 2),
        "max_grants_in_1s_window": max_in_window(grants),
        "allowed_in_1s_window": int(args.rate + args.burst),
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the cap and rate runs")
    parser.add_argument("--cap", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=4, help="contenders per replica")
    parser.add_argument("--hold-ms", type=float, default=100.0, help="how long a job holds its slot")
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--burst", type=int, default=5)
    parser.add_argument("--overhead-runs", type=int, default=300)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.worker:
        print(json.dumps(asyncio.run(contend(json.loads(args.worker)))))
        return
    database = f"bench_limiter_{uuid.uuid4().hex[:8]}"
    try:
        result = {
            "benchmark": "limiter",
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()},
            "cap": cap_scenario(args, database),
            "rate": rate_scenario(args, database),
            "overhead": asyncio.run(overhead(database, args.overhead_runs)),
        }
    finally:
        asyncio.run(_drop(database))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


async def _drop(database: str) -> None:
    mongo = make_mongo(InfraSettings())
    await mongo.client.drop_database(database)
    await mongo.close()


if __name__ == "__main__":
    main()
