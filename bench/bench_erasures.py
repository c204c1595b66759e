"""Benchmark: ``zoomsymbl erasures``' survey of an archive's erasures, a few at a time against one at a time.

After a MongoDB restore the command surveys every erased meeting in MongoDB and S3 (and reads each erasure-log
entry). ``--erasures`` tombstones, each with its log entry, on the local servers; then, alternating, the command's
own code (``Erasures.items``: the log read and the surveys) with ``at_once`` 1 (the baseline: one meeting at a
time, as before) and ``READS_AT_ONCE``, ``--runs`` each. Reports seconds per run and per meeting, and the speed-up
(baseline ÷ ours).

    uv run python bench/bench_erasures.py                  # 300 erasures, 3 runs each (about 1 min)
    uv run python bench/bench_erasures.py --erasures 1000 --runs 5

Prints JSON on stdout and writes bench/results/erasures.json. Needs the local servers (make infra-up).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import MIN_RUNS, RESULTS, log, machine_facts, spread
from zoomsymbl_common.mongo import ensure_indexes, make_mongo
from zoomsymbl_common.ops import at_once, erasures_command, forget_log
from zoomsymbl_common.records import TOMBSTONES
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore

DAY = datetime(2026, 1, 1, tzinfo=UTC)


async def measure(erasures: int, runs: int) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:10]
    infra = InfraSettings().model_copy(update={"mongo_database": f"bench_erasures_{tag}", "s3_bucket": f"be-{tag}"})
    mongo = make_mongo(infra)
    store = ObjectStore(infra)
    try:
        await ensure_indexes(mongo)
        await store.ensure_bucket()
        meetings = [forget_log.Erasure("acme", f"bench-{i:05d}==", DAY + timedelta(minutes=i)) for i in range(erasures)]
        await mongo.db[TOMBSTONES].insert_many(
            [{"tenant": e.tenant, "meeting_uuid": e.meeting_uuid, "forgotten_at": e.forgotten_at} for e in meetings]
        )
        await at_once.in_order(meetings, functools.partial(forget_log.log_erasure, store))
        seconds: dict[str, list[float]] = {"one_at_a_time": [], "at_once": []}
        for run in range(runs):
            for name, parallel in (("one_at_a_time", 1), ("at_once", at_once.READS_AT_ONCE)):
                started = time.perf_counter()
                items, malformed = await erasures_command.Erasures(mongo, infra, parallel).items(None, None)
                took = time.perf_counter() - started
                states = {item.state for item in items}
                if len(items) != erasures or malformed or states != {"in place"}:
                    raise SystemExit(f"unexpected survey: {len(items)} items, states {states}, malformed {malformed}")
                seconds[name].append(took)
                log(f"run {run + 1}/{runs} {name}: {took:.2f} s")
    finally:
        await mongo.client.drop_database(infra.mongo_database)
        await mongo.close()
    speedups = [base / ours for base, ours in zip(seconds["one_at_a_time"], seconds["at_once"], strict=True)]
    return {
        "erasures": erasures,
        "reads_at_once": at_once.READS_AT_ONCE,
        "one_at_a_time_seconds": spread(seconds["one_at_a_time"], 2),
        "at_once_seconds": spread(seconds["at_once"], 2),
        "one_at_a_time_ms_per_meeting": spread([1000 * s / erasures for s in seconds["one_at_a_time"]], 1),
        "at_once_ms_per_meeting": spread([1000 * s / erasures for s in seconds["at_once"]], 1),
        "speedup": spread(speedups, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--erasures", type=int, default=300)
    parser.add_argument("--runs", type=int, default=MIN_RUNS)
    parser.add_argument("--output", type=Path, default=RESULTS / "erasures.json")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    report = asyncio.run(measure(args.erasures, max(args.runs, MIN_RUNS)))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"machine": machine_facts(), **report}, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
