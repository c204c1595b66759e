"""Benchmark: the notifier alone, provider completion → report e-mail, N meetings completing at once.

Issue 21 item 3. Only the notifier runs as a service process (``Stack.start(services=("notifier",))``,
the sandboxes beside it), against the real local Kafka, MongoDB-wire server and SMTP sink, on the
path of a default tenant: the tenant names no provider, so AssemblyAI (sandbox) transcribes and the
LLM sandbox writes the insights. ``provider.job-status.v1`` has the chart's 6 partitions (created
with ``zoomsymbl topics create --partitions 6`` before the stack starts).

Per run, on a fresh database and topic prefix: ``--meetings`` meetings and their AssemblyAI jobs are
created as the submitter does (meeting document, a limiter slot, the provider submission with the
per-job callback token in the callback header, the ``jobs`` document). The jobs' callbacks go to a
gate in this process, which answers the sandbox at once and holds them; when all are held, it
forwards them to the notifier together, so every meeting completes within a fraction of a second of
the others (the sandbox alone would spread them over its 100 ffmpeg analyses). A callback the notifier
refuses (503: not durably in Kafka within its 0.9 s callback deadline, which a burst of 100 exceeds on a
loaded machine) is delivered again 0.5 s later, as the provider retries a webhook; the refusals are
counted, and the time is measured from the accepted delivery. Measured per meeting:

- callback accepted (the notifier's ``"callback accepted"`` log line, as bench_e2e) → the e-mail's
  ``sent_at`` (``emails``: the SMTP server accepted it), and → the sink's file time (SMTP stored it);
- where that time goes: callback accepted → ``"job status confirmed"`` (wait in Kafka behind the
  partition's other meetings, plus the provider status call) and confirmed → ``sent_at`` (the
  handler's own work: insights, LLM, report, SMTP), and which partition each meeting's key lands on;
- the notifier process's CPU time over the run, per meeting and as cores kept busy (a process that
  is CPU-bound gains nothing from handling more meetings at once).

The runs alternate ``concurrent_jobs=1`` (the baseline: one consumer, what was there before) and
``--concurrent-jobs`` (default 6), ``--runs`` each. After the last e-mail the bench waits until the
notifier's consumer group has committed every job status (a positive signal), then counts the
e-mails per meeting in ``emails`` and in the SMTP sink's maildir: anything but exactly one each fails
the bench (exit 1).

With ``--mongo postgresql`` the notifier (and this bench) use FerretDB on PostgreSQL instead of the
local FerretDB on SQLite (``mongo_pg.py``): the same wire protocol, but filters run inside the
database, as on any MongoDB with indexes; the SQLite backend decodes every document of a collection
for each filter that is not ``_id`` alone, which bounded this benchmark.

    uv run python bench/bench_notifier.py [--quick] [--runs 3] [--meetings 100] [--concurrent-jobs 6]
                                          [--mongo sqlite|postgresql]

Writes bench/results/notifier.json (``notifier-postgresql.json`` with ``--mongo postgresql``); with
``--merge``, also merges it into bench/results/latest.json as ``run_all.py --only notifier`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner
from common import (
    CACHE,
    MIN_RUNS,
    RESULTS,
    ROOT,
    delete_topics,
    log,
    percentile,
    spread,
    stop_on_sigterm,
    write_result,
)
from e2e_records import completed_callbacks
from mongo_pg import MONGO_SERVERS, mongo_server, result_name
from pydantic import SecretStr
from zoomsymbl_common.callback_tokens import make_callback_token
from zoomsymbl_common.events import ChannelAssignment, utcnow
from zoomsymbl_common.limiter import Limiter
from zoomsymbl_common.mongo import Document as Doc
from zoomsymbl_common.mongo import Mongo, make_mongo
from zoomsymbl_common.providers.assemblyai import AssemblyAIProvider
from zoomsymbl_common.providers.base import SubmitRequest
from zoomsymbl_common.providers.factory import provider_account_key
from zoomsymbl_common.records import EMAILS, JOBS, MEETINGS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_sandbox.provider_testkit import make_tone_audio
from zoomsymbl_sandbox.stack import Stack
from zoomsymbl_sandbox.stack_config import CALLBACK_SECRET, HOST, StackConfig

TENANT = "bench"
API_KEY = "sandbox-assemblyai-key"
CALLBACK_HEADER = "x-zoomsymbl-callback"  # the submitter's and notifier's default
PARTITIONS = 6  # the chart's default
JOB_STATUS_TOPIC = "provider.job-status.v1"
NOTIFIER_GROUP = "zoomsymbl-notifier"
SPEAKERS = (("Elisa L", "elisa@example.com"), ("Bob K", "bob@example.com"))
MAILDIR = Path(os.environ.get("ZS_SMTP_MAILDIR", ROOT / ".cache" / "data" / "smtp" / "maildir"))
OBSERVER_MONGO_TIMEOUT_MS = 15_000
RETRIES = 20  # deliveries of one callback at most (the provider's webhook retries)
RETRY_S = 0.5


class BenchFailed(RuntimeError):
    """A run did not end with exactly one e-mail per meeting (or did not end)."""


# ------------------------------------------------------------------ the callback gate


@dataclass
class Held:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Gate:
    """Takes the sandbox's callbacks (200 at once), holds them, then forwards all together."""

    held: list[Held] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int = 0
    runner: web.AppRunner | None = None
    port: int = 0

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._take)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, HOST, 0)
        await site.start()
        self.port = int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        return f"http://{HOST}:{self.port}"

    async def _take(self, request: web.Request) -> web.Response:
        skip = {"host", "content-length", "transfer-encoding", "connection"}
        headers = {k: v for k, v in request.headers.items() if k.lower() not in skip}
        self.held.append(Held(request.path, headers, await request.read()))
        if len(self.held) >= self.expected:
            self.arrived.set()
        return web.json_response({"ok": True})

    async def release(self, target: str) -> list[list[int]]:
        """POST every held callback to ``target`` at once; the notifier's answers to each, in order.

        A refused callback (503: not durably in Kafka within the notifier's callback deadline) is
        delivered again after ``RETRY_S``, as the provider retries a webhook that got no 2xx.
        """
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(h: Held) -> list[int]:
                answers: list[int] = []
                while len(answers) < RETRIES and (not answers or answers[-1] != 200):
                    if answers:
                        await asyncio.sleep(RETRY_S)
                    try:
                        async with session.post(target + h.path, data=h.body, headers=h.headers) as resp:
                            await resp.read()
                            answers.append(resp.status)
                    except aiohttp.ClientError:
                        answers.append(-1)
                return answers

            return list(await asyncio.gather(*(one(h) for h in self.held)))

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


# ------------------------------------------------------------------ the submitter's part


def tenant_config() -> TenantConfig:
    return TenantConfig(id=TENANT, zoom_webhook_secret=SecretStr("sandbox-webhook-secret"), assemblyai_api_key=API_KEY)


def host_address(tag: str, index: int) -> str:
    return f"host-{tag}-{index:03d}@example.test"


def meeting_uuid(tag: str, index: int) -> str:
    return f"bench-notifier-{tag}-{index:03d}=="


async def create_jobs(
    mongo: Mongo, provider: AssemblyAIProvider, audio: Path, tag: str, count: int, callback_base: str
) -> list[str]:
    """``count`` meetings with one AssemblyAI job each, recorded as the submitter records them."""
    account = provider_account_key(tenant_config())
    limiter = Limiter(mongo, account, rate_per_second=10_000.0, burst=10_000, max_in_flight=10_000)
    gate = asyncio.Semaphore(10)

    async def one(index: int) -> str:
        uuid_ = meeting_uuid(tag, index)
        job_ref = f"{TENANT}:{uuid_}:0:0:{uuid.uuid4().hex[:6]}"
        now = utcnow()
        async with gate:
            await mongo.db[MEETINGS].insert_one(
                {
                    "tenant": TENANT,
                    "meeting_uuid": uuid_,
                    "generation": 0,
                    "stage": "submitted",
                    # The submitter's mark (``mark_submitted``), as production writes it before the job finishes.
                    "submitted_generation": 0,
                    "provider": "assemblyai",
                    "part_count": 1,
                    "topic": f"Benchmark {tag} {index:03d}",
                    "host_email": host_address(tag, index),
                    "channel_map": [{"channel": i + 1, "participant_name": n} for i, (n, _) in enumerate(SPEAKERS)],
                    "speaker_stats": [{"channel": 1, "talk_seconds": 60.0}, {"channel": 2, "talk_seconds": 180.0}],
                    "updated_at": now,
                }
            )
            await limiter.acquire(job_ref, timeout=60)
            header = (CALLBACK_HEADER, SecretStr(make_callback_token(CALLBACK_SECRET, job_ref)))
            submitted = await provider.submit(request(audio, f"{callback_base}/webhooks/assemblyai", header))
            await mongo.db[JOBS].insert_one(
                {
                    "_id": job_ref,
                    "idempotency_key": job_ref,
                    "job_ref": job_ref,
                    "tenant": TENANT,
                    "meeting_uuid": uuid_,
                    "generation": 0,
                    "provider": "assemblyai",
                    "status": "scheduled",
                    "limiter_account_key": account,
                    "job_id": submitted.job_id,
                    "conversation_id": submitted.conversation_id,
                    "part_index": 0,
                    "part_count": 1,
                    "part_offset_seconds": 0.0,
                    "created_at": now,
                    "updated_at": now,
                    "submitted_at": utcnow(),
                    "history": [],
                }
            )
        return uuid_

    return list(await asyncio.gather(*(one(i) for i in range(count))))


def request(audio: Path, webhook: str, header: tuple[str, SecretStr]) -> SubmitRequest:
    async def chunks() -> Any:
        with audio.open("rb") as handle:
            while chunk := handle.read(65536):
                yield chunk

    channel_map = tuple(
        ChannelAssignment(channel=i + 1, participant_name=n, participant_email=e, file_ids=(f"f{i}",), offset_seconds=0)
        for i, (n, e) in enumerate(SPEAKERS)
    )
    return SubmitRequest(
        name="benchmark",
        language="en-US",
        audio_format="flac",
        channels=2,
        channel_map=channel_map,
        diarization=False,
        webhook_url=SecretStr(webhook),
        size_bytes=audio.stat().st_size,
        duration_seconds=3.5,
        audio=chunks,
        webhook_auth_header=header,
    )


# ------------------------------------------------------------------ waiting and counting


async def wait_sent(mongo: Mongo, uuids: list[str], stall: float) -> None:
    """Until every meeting's report e-mail is sent; BenchFailed when none moved on for ``stall`` s."""
    query = {"meeting_uuid": {"$in": uuids}, "kind": "report", "status": "sent"}
    seen, last_move, last_log = -1, time.monotonic(), time.monotonic()
    while True:
        done = await mongo.db[EMAILS].count_documents(query)
        if done >= len(uuids):
            return
        now = time.monotonic()
        if done != seen:
            seen, last_move = done, now
        if now - last_move > stall:
            raise BenchFailed(f"{done} of {len(uuids)} report e-mails sent, none more for {stall:.0f}s")
        if now - last_log > 15:
            log(f"notifier: {done}/{len(uuids)} e-mails sent")
            last_log = now
        await asyncio.sleep(0.5)


async def wait_drained(bootstrap: str, prefix: str, timeout: float) -> None:
    """Until the notifier's group has committed every message of the job-status topic (positive signal)."""
    topic = prefix + JOB_STATUS_TOPIC
    group = prefix + NOTIFIER_GROUP
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    offsets = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await offsets.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        deadline = time.monotonic() + timeout
        while True:
            committed = await admin.list_consumer_group_offsets(group)
            ends = await offsets.end_offsets(parts)
            behind = {tp.partition: ends[tp] - max(0, committed[tp].offset if tp in committed else 0) for tp in parts}
            if all(v <= 0 for v in behind.values()):
                return
            if time.monotonic() > deadline:
                raise BenchFailed(f"the notifier's group still lags after {timeout:.0f}s: {behind}")
            await asyncio.sleep(0.5)
    finally:
        await offsets.stop()
        await admin.close()


def maildir_messages(since_ns: int, tag: str) -> dict[str, list[float]]:
    """Per host address of this run: the sink's store times (epoch seconds) of the messages naming it."""
    found: dict[str, list[float]] = {}
    needle = f"host-{tag}-".encode()
    for entry in os.scandir(MAILDIR):
        if not entry.name.endswith(".eml"):
            continue
        try:
            stat = entry.stat()
            if stat.st_mtime_ns < since_ns:
                continue
            raw = Path(entry.path).read_bytes()
        except OSError:
            continue
        start = raw.find(needle)
        if start < 0:
            continue
        end = raw.find(b"@example.test", start)
        found.setdefault(raw[start : end + len(b"@example.test")].decode(), []).append(stat.st_mtime)
    return found


def logged_times(notifier_log: Path, message: str, status: str | None) -> dict[str, datetime]:
    """When the notifier first logged ``message`` (with ``status``, if given) per meeting."""
    first: dict[str, datetime] = {}
    with notifier_log.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if f'"{message}"' not in line:
                continue
            try:
                entry = json.loads(line)
                if (status is None or entry.get("status") == status) and entry.get("meeting_uuid"):
                    first.setdefault(str(entry["meeting_uuid"]), datetime.fromisoformat(entry["ts"]))
            except (ValueError, KeyError, TypeError):
                continue
    return first


# ------------------------------------------------------------------ one run


async def one_run(args: argparse.Namespace, audio: Path, tag: str, jobs_at_once: int, what: str) -> dict[str, Any]:
    prefix = f"bench-notifier-{tag}-"
    config = StackConfig(
        run_dir=CACHE / f"notifier-{tag}",
        topic_prefix=prefix,
        database=f"bench_notifier_{tag.replace('-', '_')}",
        bucket=f"bench-notifier-{tag}",
        tenant=TENANT,
        provider=None,  # the default tenant's provider: AssemblyAI, insights from the LLM sandbox
        assemblyai={
            "api_key": API_KEY,
            "timings": {"waiting_s": 0.1, "running_s": 0.1},
            "max_concurrent_jobs": 10 * args.meetings,
        },
        env={
            "ZOOMSYMBL_NOTIFIER_CONCURRENT_JOBS": str(jobs_at_once),
            # Callbacks are all accepted here (the bench fails otherwise); the sweeper stays out of the way.
            "ZOOMSYMBL_NOTIFIER_SWEEPER_STALE_AFTER_SECONDS": "600",
        },
    )
    config.run_dir.mkdir(parents=True, exist_ok=True)
    config.assemblyai["storage_dir"] = str(config.run_dir / "assemblyai")
    infra = InfraSettings().model_copy(
        update={"mongo_database": config.database, "mongo_timeout_ms": OBSERVER_MONGO_TIMEOUT_MS}
    )
    bootstrap = os.environ.get("ZOOMSYMBL_KAFKA_BOOTSTRAP", infra.kafka_bootstrap)
    topics = ["topics", "create", "--bootstrap", bootstrap, "--prefix", prefix]
    topics += ["--partitions", str(PARTITIONS), "--replication", "1"]
    command = [sys.executable, "-m", "zoomsymbl_common.ops.cli", *topics]
    await asyncio.to_thread(subprocess.run, command, check=True, timeout=120, capture_output=True)
    stack = Stack(config)
    gate = Gate(expected=args.meetings)
    mongo = make_mongo(infra)
    ok = False
    try:
        try:
            await stack.start(services=("notifier",))
        except (RuntimeError, TimeoutError) as exc:
            raise BenchFailed(f"{what}: the notifier did not start: {exc}") from exc
        gate_url = await gate.start()
        async with aiohttp.ClientSession() as session:
            provider = AssemblyAIProvider(session, api_key=API_KEY, api_base=config.url("assemblyai"))
            uuids = await create_jobs(mongo, provider, audio, tag, args.meetings, gate_url)
        await asyncio.wait_for(gate.arrived.wait(), args.stall)
        notifier = psutil.Process(stack.procs["notifier"].pid)
        cpu_before = sum(notifier.cpu_times()[:2])
        since_ns = time.time_ns()
        released = utcnow()
        answers = await gate.release(config.url("notifier"))
        first = Counter(a[0] for a in answers)
        log(f"{what}: {len(gate.held)} callbacks released, the notifier answered {dict(first)} at first")
        if any(a[-1] != 200 for a in answers):
            raise BenchFailed(f"{what}: callbacks still refused after {RETRIES} deliveries: {dict(first)}")
        began = time.monotonic()
        await wait_sent(mongo, uuids, args.stall)
        wall = time.monotonic() - began
        cpu = sum(notifier.cpu_times()[:2]) - cpu_before
        await wait_drained(bootstrap, prefix, args.stall)
        result = await measure(mongo, stack, tag, uuids, since_ns, released)
        result.update(
            {
                "concurrent_jobs": jobs_at_once,
                "wall_seconds": round(wall, 2),
                "callbacks_refused_at_first": sum(a[0] != 200 for a in answers),
                "callback_deliveries": sum(len(a) for a in answers),
                # The notifier process's CPU (user + system) from the release to the last e-mail: per
                # meeting, and as a share of one core over that wall time (1.0 = one core busy throughout).
                "notifier_cpu_ms_per_meeting": round(cpu / len(uuids) * 1000, 1),
                "notifier_cores_busy": round(cpu / wall, 2),
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
        )
        ok = result["one_email_per_meeting"]
        if not ok:
            raise BenchFailed(f"{what}: not exactly one e-mail per meeting: {result['email_counts']}")
        return result
    finally:
        await gate.stop()
        stack.stop()
        await mongo.client.drop_database(config.database)
        await mongo.close()
        await delete_topics(bootstrap, prefix)
        if ok:
            shutil.rmtree(config.run_dir, ignore_errors=True)
        else:
            log(f"notifier: the logs are kept in {config.run_dir.relative_to(ROOT)}/")


async def measure(
    mongo: Mongo, stack: Stack, tag: str, uuids: list[str], since_ns: int, released: datetime
) -> dict[str, Any]:
    """Per-meeting timings, partitions, and the e-mail counts of one run."""
    query = {"meeting_uuid": {"$in": uuids}}
    mails: dict[str, list[Doc]] = {}
    for doc in await mongo.db[EMAILS].find(query, {"raw": 0}).to_list(None):
        mails.setdefault(doc["meeting_uuid"], []).append(doc)
    sink = maildir_messages(since_ns, tag)
    callbacks = completed_callbacks(stack.log("notifier"))
    confirmed = logged_times(stack.log("notifier"), "job status confirmed", "completed")
    insights = logged_times(stack.log("notifier"), "insights stored", None)
    partitioner = DefaultPartitioner()
    every = list(range(PARTITIONS))
    rows: list[dict[str, float]] = []
    for index, uuid_ in enumerate(uuids):
        accepted = callbacks[uuid_]
        sent_at: datetime = next(m["sent_at"] for m in mails[uuid_] if m.get("kind") == "report")
        stored = min(sink.get(host_address(tag, index), [float("nan")]))
        rows.append(
            {
                "partition": float(partitioner(f"{TENANT}\x1f{uuid_}".encode(), every, every)),
                "accepted_offset": (accepted - released).total_seconds(),
                "completion_to_email": (sent_at - accepted).total_seconds(),
                "completion_to_smtp_stored": stored - accepted.timestamp(),
                "queued_and_status_call": (confirmed[uuid_] - accepted).total_seconds(),
                "handler_confirmed_to_email": (sent_at - confirmed[uuid_]).total_seconds(),
                "insights_provider_and_llm": (insights[uuid_] - confirmed[uuid_]).total_seconds(),
                "report_and_smtp": (sent_at - insights[uuid_]).total_seconds(),
            }
        )
    per_meeting_mails = [len(mails.get(u, [])) for u in uuids]
    per_meeting_sink = [len(sink.get(host_address(tag, i), [])) for i in range(len(uuids))]
    by_partition = Counter(int(r["partition"]) for r in rows)
    return {
        "meetings": len(uuids),
        "completion_spread_seconds": round(max(r["accepted_offset"] for r in rows), 3),
        "steps": {
            step: {
                "median": round(percentile([r[step] for r in rows], 0.5), 3),
                "p95": round(percentile([r[step] for r in rows], 0.95), 3),
                "max": round(max(r[step] for r in rows), 3),
            }
            for step in (
                "completion_to_email",
                "completion_to_smtp_stored",
                "queued_and_status_call",
                "handler_confirmed_to_email",
                "insights_provider_and_llm",
                "report_and_smtp",
            )
        },
        "partitions_busy": len(by_partition),
        "meetings_per_partition": dict(sorted(by_partition.items())),
        "email_counts": {
            "emails_collection": dict(sorted(Counter(per_meeting_mails).items())),
            "smtp_sink": dict(sorted(Counter(per_meeting_sink).items())),
        },
        "one_email_per_meeting": set(per_meeting_mails) == {1} and set(per_meeting_sink) == {1},
        "per_meeting": rows,
    }


# ------------------------------------------------------------------ the benchmark


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    base = uuid.uuid4().hex[:6]
    audio_dir = CACHE / f"notifier-{base}-audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    audio = make_tone_audio(audio_dir / "two-speakers.flac", ([(0.5, 1.5)], [(2.0, 3.0)]), 3.5)
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "concurrent": []}
    try:
        for index in range(1, args.runs + 1):
            for kind, jobs_at_once in (("baseline", 1), ("concurrent", args.concurrent_jobs)):
                what = f"run {index}/{args.runs}, concurrent_jobs={jobs_at_once}"
                result = await one_run(args, audio, f"{base}-{kind[0]}{index}", jobs_at_once, what)
                runs[kind].append(result)
                steps = result["steps"]["completion_to_email"]
                log(
                    f"{what}: completion → e-mail median {steps['median']}s, p95 {steps['p95']}s, "
                    f"max {steps['max']}s; completions within {result['completion_spread_seconds']}s; "
                    f"one e-mail each: {result['one_email_per_meeting']}; notifier CPU "
                    f"{result['notifier_cpu_ms_per_meeting']} ms/meeting, {result['notifier_cores_busy']} cores busy"
                )
    finally:
        shutil.rmtree(audio_dir, ignore_errors=True)
    return report(args, runs)


def report(args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for kind, results in runs.items():
        summary[kind] = {
            "concurrent_jobs": results[0]["concurrent_jobs"],
            "meetings": args.meetings,
            "one_email_per_meeting": all(r["one_email_per_meeting"] for r in results),
            "completion_spread_seconds": spread(r["completion_spread_seconds"] for r in results),
            "wall_seconds": spread(r["wall_seconds"] for r in results),
            "partitions_busy": spread((r["partitions_busy"] for r in results), 0),
            "callbacks_refused_at_first": spread((r["callbacks_refused_at_first"] for r in results), 0),
            "notifier_cpu_ms_per_meeting": spread(r["notifier_cpu_ms_per_meeting"] for r in results),
            "notifier_cores_busy": spread(r["notifier_cores_busy"] for r in results),
            **{
                f"{step}_{stat}": spread(r["steps"][step][stat] for r in results)
                for step in results[0]["steps"]
                for stat in ("median", "p95", "max")
            },
        }
    ratios = {
        f"completion_to_email_{stat}": spread(
            c["steps"]["completion_to_email"][stat] / b["steps"]["completion_to_email"][stat]
            for b, c in zip(runs["baseline"], runs["concurrent"], strict=True)
        )
        for stat in ("median", "p95", "max")
    }
    p95 = summary["concurrent"]["completion_to_email_p95"]["median"]
    return {
        "benchmark": "notifier",
        "what": "provider completion (callback accepted) to report e-mail accepted by SMTP, the notifier alone, "
        f"{args.meetings} meetings completing at once, concurrent_jobs=1 (baseline) vs {args.concurrent_jobs}",
        "path": "default tenant: AssemblyAI sandbox + LLM sandbox insights",
        "mongo": MONGO_SERVERS[args.mongo],
        # Which code ran: the working tree, or a snapshot on PYTHONPATH (others edit the tree meanwhile).
        "notifier_code": str(Path(importlib.util.find_spec("zoomsymbl_notifier").origin or "?").parent),  # type: ignore[union-attr]
        "partitions": PARTITIONS,
        "config": dict(vars(args)),
        "summary": summary,
        "ratio_to_baseline": ratios,
        "target": {"completion_to_email_p95_seconds": 5.0, "met": p95 is not None and p95 <= 5.0},
        "raw": runs,
    }


def merge_latest(result: dict[str, Any], size: str, name: str) -> None:
    """Lay this result over bench/results/latest.json as ``run_all.py --only notifier`` does."""
    path = RESULTS / "latest.json"
    if not path.is_file():
        return
    previous: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if previous.get("size") != size:
        log(f"latest.json holds a {previous.get('size')!r} run, not {size!r}: not merged (run_all --only notifier)")
        return
    for entry in previous["benchmarks"].values():
        entry.setdefault("measured_at", previous["machine"]["date"])
    body = {k: v for k, v in result.items() if k != "machine"}
    now = datetime.now(tz=UTC).isoformat(timespec="seconds")
    previous["benchmarks"][name] = {"status": "ok", "seconds": body.pop("seconds", 0), **body, "measured_at": now}
    path.write_text(json.dumps(previous, indent=2) + "\n", encoding="utf-8")
    log(f"merged into {path.relative_to(ROOT)}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="30 meetings instead of 100")
    parser.add_argument("--runs", type=int, default=3, help="runs of each setting (≥3), alternating")
    parser.add_argument("--meetings", type=int, default=100, help="meetings completing at once")
    parser.add_argument("--concurrent-jobs", type=int, default=6, help="the notifier setting measured")
    parser.add_argument("--stall", type=float, default=300.0, help="give up when nothing moved for this long")
    parser.add_argument("--merge", action="store_true", help="also merge into bench/results/latest.json")
    parser.add_argument(
        "--mongo", choices=list(MONGO_SERVERS), default="sqlite", help="the MongoDB-wire server (see mongo_pg.py)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.meetings = min(args.meetings, 30)
    if args.runs < MIN_RUNS:
        parser.error("--runs must be at least 3 (a median needs a spread)")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    stop_on_sigterm()
    started = time.monotonic()
    try:
        with mongo_server(args.mongo, CACHE):  # this process's observers and the notifier's process
            result = asyncio.run(bench(args))
    except BenchFailed as exc:
        log(f"notifier benchmark failed: {exc}")
        sys.exit(1)
    except KeyboardInterrupt as exc:
        log(f"notifier benchmark interrupted ({exc or 'Ctrl-C'}); the stack was stopped")
        sys.exit(130)
    result["seconds"] = round(time.monotonic() - started)
    name = result_name("notifier", args.mongo)
    write_result(name, result)
    if args.merge:
        merge_latest(result, "quick" if args.quick else "default", name)
    print(json.dumps({"summary": result["summary"], "ratio_to_baseline": result["ratio_to_baseline"]}, indent=2))


if __name__ == "__main__":
    main()
