"""Benchmark: end-to-end latency through the four services, for one meeting and for many at once.

The whole pipeline runs as processes (the ``Stack`` harness of the demo and the e2e tests: Zoom,
Symbl and OTLP sandboxes, ingest, mixer, submitter, notifier) against the real local Kafka,
MongoDB, S3 and SMTP servers. Each run sends one meeting and waits for its e-mail, then sends
``--concurrent`` meetings at once (default 100) and waits for all their e-mails; each run on a
fresh stack, database and topics, each of its two measurements on an idle pipeline (every
service's log quiet for ``--settle`` seconds). Measured per
meeting, from the services' own records in MongoDB and the notifier's log:

- webhook → provider submission: from just before the signed webhook is sent to the job's
  ``submitted_at`` (the submitter recorded the provider's 201), with the mixer's ``mixed_at`` in between;
- provider completion → e-mail: from the notifier accepting the provider's ``completed`` callback
  (its log line) to the e-mail's ``sent_at`` (the SMTP server accepted it), with the job history's
  ``completed`` entry (the notifier's consumer applied it, after the callback's wait in Kafka) in between.

The provider's own processing (the Symbl sandbox's fixed ``waiting``/``running`` timings) lies
between the two and is not ours to measure. Settings: a paid Symbl plan's 50 concurrent jobs,
``--rate`` submissions per second, mixer 2 meetings at once (2 cores); meetings of
``--participants`` speakers × ``--seconds`` of synthetic speech.

    uv run python bench/bench_e2e.py [--quick] [--runs 3] [--concurrent 100]

Writes bench/results/e2e.json. Needs the local servers (make infra-up). A run waits until every
meeting is e-mailed or failed; when meetings fail, or none moves on for ``--stall`` seconds, the
benchmark stops with exit 1 and says on stderr which meetings are missing and at which step each
stopped (see e2e_records.py), and keeps the services' logs in .cache/bench/e2e-<tag>/.
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

import aiohttp
from common import CACHE, MIN_RUNS, ROOT, delete_topics, log, spread, stop_on_sigterm, write_result
from e2e_records import E2eFailed, check, completed_callbacks, describe, timeline, wait_final
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import make_mongo
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_sandbox.stack import SERVICES, Stack
from zoomsymbl_sandbox.stack_config import StackConfig
from zoomsymbl_sandbox.zoom import MeetingSpec, ParticipantSpec

TENANT = "bench"
# The bench's own reads must not fail the run when the shared server is slow for a moment.
OBSERVER_MONGO_TIMEOUT_MS = 15_000


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
        provider="symbl",  # tuned and counted on the Symbl sandbox
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
            # sweeper; production waits 15 min of silence before polling. Much less than the
            # notifier's queue of 100 meetings' callbacks (minutes here) and the sweeper re-reports
            # every queued job, which doubles the queue: see --sweeper-stale.
            "ZOOMSYMBL_NOTIFIER_SWEEPER_INTERVAL_SECONDS": "5",
            "ZOOMSYMBL_NOTIFIER_SWEEPER_STALE_AFTER_SECONDS": f"{args.sweeper_stale:g}",
        },
    )


async def send(stack: Stack, specs: list[MeetingSpec]) -> dict[str, datetime]:
    """Trigger every meeting's webhook at once; when each was sent."""

    async def one(spec: MeetingSpec) -> tuple[str, datetime, int | str]:
        sent = utcnow()
        try:
            return spec.uuid, sent, await stack.trigger_recording_completed(spec.uuid)
        except (aiohttp.ClientError, RuntimeError, TimeoutError) as exc:  # RuntimeError: the sandbox refused
            return spec.uuid, sent, f"{type(exc).__name__}: {exc}"

    answers = await asyncio.gather(*(one(s) for s in specs))
    refused = [f"  {u}: ingest answered {status!r}" for u, _, status in answers if status != 200]
    if refused:
        raise E2eFailed(f"{len(refused)} of {len(specs)} webhooks not accepted:\n" + "\n".join(refused[:10]))
    return {u: sent for u, sent, _ in answers}


async def settle(stack: Stack, quiet: float, limit: float) -> None:
    """Until no service has logged anything for ``quiet`` seconds (at most ``limit``).

    Every meeting being e-mailed does not make the pipeline idle: duplicate status reports (the
    sweeper's, a provider's repeats) may still wait in Kafka, and the next run's single meeting
    would queue behind them. Each processed message logs a line, so quiet logs mean drained queues.
    """
    logs = [stack.log(name) for name in SERVICES]
    began = last_change = time.monotonic()
    sizes = [p.stat().st_size if p.exists() else 0 for p in logs]
    while time.monotonic() - last_change < quiet:
        if time.monotonic() - began > limit:
            log(f"e2e: the services still log after {limit:.0f}s; the next run starts on a busy pipeline")
            return
        await asyncio.sleep(1.0)
        now = [p.stat().st_size if p.exists() else 0 for p in logs]
        if now != sizes:
            sizes, last_change = now, time.monotonic()
    if time.monotonic() - began > quiet + 5:
        log(f"e2e: waited {time.monotonic() - began:.0f}s for the services to drain their queues")


async def one_run(
    stack: Stack, infra: InfraSettings, specs: list[MeetingSpec], stall: float, what: str
) -> dict[str, Any]:
    began = time.monotonic()
    sent = await send(stack, specs)
    places = await wait_final(infra, list(sent), stall, what)
    check(places, what, time.monotonic() - began, stall)
    await asyncio.sleep(1.0)  # the last jobs' history entries are written right after the e-mail
    rows = await timeline(infra, sent, completed_callbacks(stack.log("notifier")))
    return {
        "meetings": len(specs),
        "missing": 0,
        "completed_via_sweeper": int(sum(r["via_sweeper"] for r in rows)),
        # From the first webhook to the last e-mail, by the services' clocks (not the polling's).
        "seconds": round(max(r["webhook_offset"] + r["to_email"] for r in rows), 2),
        "steps": describe(rows),
        "per_meeting": rows,
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    results: dict[str, list[dict[str, Any]]] = {"single": [], "concurrent": []}
    concurrency = 0
    for index, (single, batch) in enumerate(plan(args, tag), start=1):
        what = f"run {index}/{args.runs}"
        one, many, symbl = await fresh_run(args, f"{tag}-r{index}", single, batch, what)
        results["single"].append(one)
        results["concurrent"].append(many)
        concurrency = max(concurrency, int(symbl.get("max_concurrency") or 0))
        log(f"e2e {what}: single {one['seconds']}s, {len(batch)} at once {many['seconds']}s")
    return report(args, results, concurrency)


async def fresh_run(
    args: argparse.Namespace, tag: str, single: list[MeetingSpec], batch: list[MeetingSpec], what: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """One run on a stack, database and topics of its own: the single meeting, then the batch.

    The local MongoDB-wire server scans whole collections, so on the earlier runs' documents each run
    would be slower than the one before (measured: 224 s, 480 s, then more for 100 meetings) for a
    reason production's indexes do not have; a fresh database makes the runs repeats of one experiment.
    """
    config = stack_config(args, tag, [*single, *batch])
    infra = InfraSettings().model_copy(
        update={"mongo_database": config.database, "mongo_timeout_ms": OBSERVER_MONGO_TIMEOUT_MS}
    )
    stack = Stack(config)
    ok = False
    try:
        try:
            await stack.start()
        except (RuntimeError, TimeoutError) as exc:
            raise E2eFailed(f"{what}: the pipeline did not start: {exc}") from exc
        # Each measurement starts on an idle pipeline: started, every meeting before it e-mailed, queues drained.
        await settle(stack, args.settle, args.stall)
        one = await one_run(stack, infra, single, args.stall, f"{what}, 1 meeting")
        await settle(stack, args.settle, args.stall)
        many = await one_run(stack, infra, batch, args.stall, f"{what}, {len(batch)} meetings at once")
        symbl = await stack.sandbox_stats("symbl")
        ok = True
    finally:
        stack.stop()
        await drop(infra)
        await delete_topics(infra.kafka_bootstrap, config.topic_prefix)
        if ok:
            shutil.rmtree(config.run_dir, ignore_errors=True)
        else:
            log(f"e2e: the services' logs are kept in {config.run_dir.relative_to(ROOT)}/")
    return one, many, symbl


async def drop(infra: InfraSettings) -> None:
    mongo = make_mongo(infra)
    try:
        await mongo.client.drop_database(infra.mongo_database)
    finally:
        await mongo.close()


def report(args: argparse.Namespace, results: dict[str, list[dict[str, Any]]], concurrency: int) -> dict[str, Any]:
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
        "provider_max_concurrency": concurrency,
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
    parser.add_argument(
        "--sweeper-stale", type=float, default=120.0, help="notifier: poll a job after this long without news"
    )
    parser.add_argument(
        "--stall", type=float, default=300.0, help="give up when no meeting moved on for this many seconds"
    )
    parser.add_argument(
        "--settle", type=float, default=10.0, help="before each measurement: seconds without a service log line"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.concurrent = min(args.concurrent, 20)
    if args.runs < MIN_RUNS:
        parser.error("--runs must be at least 3 (a median needs a spread)")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    stop_on_sigterm()
    try:
        result = asyncio.run(bench(args))
    except E2eFailed as exc:
        log(f"e2e benchmark failed: {exc}")
        sys.exit(1)
    except KeyboardInterrupt as exc:
        log(f"e2e benchmark interrupted ({exc or 'Ctrl-C'}); the stack was stopped")
        sys.exit(130)
    write_result("e2e", result)
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
