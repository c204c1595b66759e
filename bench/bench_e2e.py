"""Benchmark: end-to-end latency through the four services, for one meeting and for many at once.

The whole pipeline runs as processes (the ``Stack`` harness of the demo and the e2e tests: Zoom,
Symbl and OTLP sandboxes, ingest, mixer, submitter, notifier) against the real local Kafka,
MongoDB, S3 and SMTP servers. Each run sends one meeting and waits for its e-mail, then sends
``--concurrent`` meetings at once (default 100) and waits for all their e-mails. Measured per
meeting, from the services' own records in MongoDB:

- webhook → provider submission: from just before the signed webhook is sent to the job's
  ``submitted_at`` (the submitter recorded the provider's 201), with the mixer's ``mixed_at`` in between;
- provider completion → e-mail: from the job history's ``completed`` entry (the notifier took the
  provider's callback) to the e-mail's ``sent_at`` (the SMTP server accepted it).

The provider's own processing (the Symbl sandbox's fixed ``waiting``/``running`` timings) lies
between the two and is not ours to measure. Settings: a paid Symbl plan's 50 concurrent jobs,
``--rate`` submissions per second, mixer 2 meetings at once (2 cores); meetings of
``--participants`` speakers × ``--seconds`` of synthetic speech.

    uv run python bench/bench_e2e.py [--quick] [--runs 3] [--concurrent 100]

Writes bench/results/e2e.json. Needs the local servers (make infra-up).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import time
import uuid
from datetime import datetime
from typing import Any

from common import CACHE, MIN_RUNS, ROOT, log, percentile, spread, write_result
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import EMAILS, JOBS, MEETINGS, make_mongo
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_sandbox.stack import Stack, StackConfig
from zoomsymbl_sandbox.zoom import MeetingSpec, ParticipantSpec

TENANT = "bench"


def meeting(key: str, participants: int, seconds: int) -> MeetingSpec:
    people = tuple(ParticipantSpec(name=f"Speaker {i + 1}", duration_s=seconds) for i in range(participants))
    return MeetingSpec(
        uuid=f"bench-e2e-{key}==",
        topic=f"Benchmark {key}",
        host_email=f"host-{key}@example.test",
        participants=people,
        include_video=False,
        synthetic_speech=True,
    )


def plan(args: argparse.Namespace, tag: str) -> list[tuple[list[MeetingSpec], list[MeetingSpec]]]:
    """Per run: the single meeting and the concurrent batch (unique uuids, identical audio)."""
    return [
        (
            [meeting(f"{tag}-r{run}-single", args.participants, args.seconds)],
            [meeting(f"{tag}-r{run}-c{i:03d}", args.participants, args.seconds) for i in range(args.concurrent)],
        )
        for run in range(args.runs)
    ]


def stack_config(args: argparse.Namespace, tag: str, specs: list[MeetingSpec]) -> StackConfig:
    return StackConfig(
        run_dir=CACHE / f"e2e-{tag}",
        topic_prefix=f"bench-e2e-{tag}-",
        database=f"bench_e2e_{tag}",
        bucket=f"bench-e2e-{tag}",
        tenant=TENANT,
        zoom={
            "meetings": [m.model_dump(mode="json") for m in specs],
            "cache_dir": str(ROOT / ".cache" / "zoom-sandbox"),
        },
        symbl={
            "timings": {"waiting_s": args.provider_waiting, "running_s": args.provider_running},
            "max_concurrent_jobs": 50,
            "summary_not_ready_calls": 0,
        },
        env={
            "ZOOMSYMBL_SUBMITTER_MAX_IN_FLIGHT": "50",
            "ZOOMSYMBL_SUBMITTER_RATE_PER_SECOND": str(args.rate),
            "ZOOMSYMBL_SUBMITTER_BURST": "10",
            "ZOOMSYMBL_SUBMITTER_LIMITER_POLL_MAX_SECONDS": "0.2",
            "ZOOMSYMBL_MIXER_CONCURRENT_MEETINGS": "2",
            # A provider callback the notifier could not take (503 under load) is recovered by the
            # sweeper; production waits 15 min of silence before polling, here 30 s.
            "ZOOMSYMBL_NOTIFIER_SWEEPER_INTERVAL_SECONDS": "5",
            "ZOOMSYMBL_NOTIFIER_SWEEPER_STALE_AFTER_SECONDS": "30",
        },
    )


async def send(stack: Stack, specs: list[MeetingSpec]) -> dict[str, datetime]:
    """Trigger every meeting's webhook at once; when each was sent."""

    async def one(spec: MeetingSpec) -> tuple[str, datetime]:
        sent = utcnow()
        status = await stack.trigger_recording_completed(spec.uuid)
        if status != 200:
            raise RuntimeError(f"ingest answered {status} for {spec.uuid!r}")
        return spec.uuid, sent

    return dict(await asyncio.gather(*(one(s) for s in specs)))


async def wait_sent(infra: InfraSettings, uuids: list[str], limit: float) -> int:
    """Until every meeting has an e-mail the SMTP server accepted, or ``limit`` seconds; how many have."""
    mongo = make_mongo(infra)
    deadline = time.monotonic() + limit
    try:
        while True:
            done = await mongo.db[EMAILS].count_documents({"meeting_uuid": {"$in": uuids}, "status": "sent"})
            if done >= len(uuids) or time.monotonic() > deadline:
                return int(done)
            await asyncio.sleep(0.5)
    finally:
        await mongo.close()


async def timeline(infra: InfraSettings, sent: dict[str, datetime]) -> list[dict[str, float]]:
    """Per meeting, seconds from the webhook to each step, read from the services' documents."""
    mongo = make_mongo(infra)
    query = {"meeting_uuid": {"$in": list(sent)}}
    try:
        jobs = {d["meeting_uuid"]: d for d in await mongo.db[JOBS].find(query).to_list(None)}
        mails = {d["meeting_uuid"]: d for d in await mongo.db[EMAILS].find({**query, "status": "sent"}).to_list(None)}
        meetings = {d["meeting_uuid"]: d for d in await mongo.db[MEETINGS].find(query).to_list(None)}
    finally:
        await mongo.close()
    rows = []
    for uuid_, t0 in sent.items():
        job = jobs.get(uuid_)
        if job is None or uuid_ not in mails:
            continue  # not finished within the limit: counted as missing
        completed, via = next((h["at"], h.get("via")) for h in job["history"] if h.get("status") == "completed")
        rows.append(
            {
                "to_mixed": (meetings[uuid_]["mixed_at"] - t0).total_seconds(),
                "to_submitted": (job["submitted_at"] - t0).total_seconds(),
                "provider": (completed - job["submitted_at"]).total_seconds(),
                "completed_to_email": (mails[uuid_]["sent_at"] - completed).total_seconds(),
                "to_email": (mails[uuid_]["sent_at"] - t0).total_seconds(),
                "via_sweeper": 1.0 if via == "sweeper" else 0.0,
            }
        )
    return rows


def describe(rows: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Median, p95 and max of each step over the meetings of one run (none when none finished)."""
    if not rows:
        return {}
    return {
        step: {
            "median": round(percentile([r[step] for r in rows], 0.5), 3),
            "p95": round(percentile([r[step] for r in rows], 0.95), 3),
            "max": round(max(r[step] for r in rows), 3),
        }
        for step in rows[0]
        if step != "via_sweeper"
    }


async def one_run(stack: Stack, infra: InfraSettings, specs: list[MeetingSpec], limit: float) -> dict[str, Any]:
    began = time.monotonic()
    sent = await send(stack, specs)
    done = await wait_sent(infra, list(sent), limit)
    elapsed = time.monotonic() - began
    await asyncio.sleep(1.0)  # the last jobs' history entries are written right after the e-mail
    rows = await timeline(infra, sent)
    return {
        "meetings": len(specs),
        "missing": len(specs) - done,
        "completed_via_sweeper": int(sum(r["via_sweeper"] for r in rows)),
        "seconds": round(elapsed, 2),
        "steps": describe(rows),
        "per_meeting": rows,
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    runs = plan(args, tag)
    config = stack_config(args, tag, [m for single, batch in runs for m in (*single, *batch)])
    infra = InfraSettings().model_copy(update={"mongo_database": config.database})
    stack = Stack(config)
    results: dict[str, list[dict[str, Any]]] = {"single": [], "concurrent": []}
    try:
        await stack.start()
        for index, (single, batch) in enumerate(runs, start=1):
            # A run starts on an idle pipeline: what an earlier run left unfinished is waited for.
            await wait_sent(infra, [m.uuid for s, b in runs[: index - 1] for m in (*s, *b)], 300)
            results["single"].append(await one_run(stack, infra, single, limit=300))
            results["concurrent"].append(await one_run(stack, infra, batch, limit=600))
            log(f"e2e run {index}: single {results['single'][-1]['seconds']}s, {len(batch)} at once "
                f"{results['concurrent'][-1]['seconds']}s")  # fmt: skip
        symbl = await stack.sandbox_stats("symbl")
    finally:
        stack.stop()
        await drop(infra)
        shutil.rmtree(config.run_dir, ignore_errors=True)
    return report(args, results, symbl)


async def drop(infra: InfraSettings) -> None:
    mongo = make_mongo(infra)
    try:
        await mongo.client.drop_database(infra.mongo_database)
    finally:
        await mongo.close()


def report(args: argparse.Namespace, results: dict[str, list[dict[str, Any]]], symbl: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for kind, runs in results.items():
        steps: dict[str, Any] = next((r["steps"] for r in runs if r["steps"]), {})
        summary[kind] = {
            "meetings": runs[0]["meetings"],
            "missing": sum(r["missing"] for r in runs),
            "completed_via_sweeper": spread((r["completed_via_sweeper"] for r in runs), 0),
            "wall_seconds": spread(r["seconds"] for r in runs),
            "meetings_per_minute": spread((r["meetings"] / r["seconds"] * 60 for r in runs), 1),
            **{
                f"{step}_{stat}": spread(r["steps"][step][stat] for r in runs if r["steps"])
                for step in steps
                for stat in ("median", "p95", "max")
            },
        }
    return {
        "benchmark": "e2e",
        "what": "webhook to provider submission, and provider completion to e-mail, through the four services",
        "config": {k: v for k, v in vars(args).items()},
        "summary": summary,
        "provider_max_concurrency": symbl.get("max_concurrency"),
        "raw": results,
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="20 meetings at once instead of 100")
    parser.add_argument("--runs", type=int, default=3, help="runs (≥3), each: one meeting, then the batch")
    parser.add_argument("--concurrent", type=int, default=100, help="meetings sent at once")
    parser.add_argument("--participants", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=30, help="length of each meeting")
    parser.add_argument("--rate", type=float, default=20.0, help="provider submissions per second")
    parser.add_argument("--provider-waiting", type=float, default=0.5, help="sandbox job: seconds scheduled")
    parser.add_argument("--provider-running", type=float, default=1.0, help="sandbox job: seconds in progress")
    args = parser.parse_args(argv)
    if args.quick:
        args.concurrent = min(args.concurrent, 20)
    if args.runs < MIN_RUNS:
        parser.error("--runs must be at least 3 (a median needs a spread)")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    result = asyncio.run(bench(args))
    write_result("e2e", result)
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
