"""Benchmark: the real ingest app (real Kafka, real MongoDB) against a durable receiver and a bare HMAC check.

Every server runs as its own process; this process is the load generator: ``--concurrency``
connections (64 by default) each post signed ``recording.completed`` webhooks, every one a new
recording (the full path: parse, keep the token, publish with acks=all, answer, write the receipt
behind the answer). Five apps alternate ``--runs`` times (≥3), so drift in machine load hits all:

- ``baseline``: bare aiohttp, reads the body and checks the signature, answers 200 (no durable write;
  the old target's yardstick, still reported);
- ``durable``: bare aiohttp + the signature check + aiokafka ``send_and_wait`` of the body with acks=all
  and an idempotent producer, 200 after the acknowledgement — the fair ceiling of any receiver whose
  200 means "on Kafka" (issue 21), to the same broker as ingest, on asyncio's event loop (issue 21's yardstick);
- ``durable-uvloop``: the same receiver on uvloop, the loop ingest runs on since issue 21 (like for like);
- ``after``: ingest as it is, for a tenant without OAuth credentials (its download token must be
  in MongoDB before the 200);
- ``after-oauth``: ingest as it is, for a tenant with OAuth credentials (token written behind).

The report gives, per app, the median and spread (min-max) of throughput and latency percentiles,
and each app's throughput as a fraction of the bare baseline's and of both durable ones' (run by run).
After each run that publishes, the topic's end offsets are compared with the number of 200s: an
accepted webhook must be on Kafka.

    uv run python bench/bench_ingest.py [--runs 3] [--duration 10] [--concurrency 64] [--mongo postgresql]

Prints JSON on stdout and writes bench/results/ingest.json (``ingest-postgresql.json`` with ``--mongo
postgresql``: ingest's MongoDB is then FerretDB on PostgreSQL, see mongo_pg.py). Needs the local
servers (make infra-up).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import os
import shutil
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import uvloop
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from common import (  # bench/ is on sys.path (the script's folder)
    CACHE,
    MIN_RUNS,
    delete_topics,
    infra_pid,
    spread,
    write_result,
)
from mongo_pg import MONGO_SERVERS, mongo_server, result_name
from pymongo.errors import PyMongoError
from zoomsymbl_common.errors import ZoomsymblError
from zoomsymbl_common.events import RecordingCompleted
from zoomsymbl_common.kafka import make_broker, publish_event, start_broker
from zoomsymbl_common.mongo import ensure_indexes, make_mongo
from zoomsymbl_common.records import RECEIPTS, SECRETS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_ingest.signature import SignatureRejected, sign, verify

SELF = Path(__file__).resolve()
PROFILES = SELF.parent / "results" / "profiles"
APPS = ("baseline", "durable", "durable-uvloop", "after", "after-oauth")
INGEST_APPS = ("after", "after-oauth")
SECRET = "bench-webhook-secret-0123456789"  # noqa: S105 (a benchmark's own test value)
PATH = "/webhooks/zoom"
MONGO_CONCURRENCY = 4  # ingest's default ZOOMSYMBL_INGEST_MONGO_CONCURRENCY
# The runs' settings: their databases dropped (a no-op where a run used none) and topics deleted at the end.
USED: list[InfraSettings] = []


# ------------------------------------------------------------------ the baseline server


def signature_refused(body: bytes, request: web.Request) -> web.Response | None:
    """A 401 when Zoom's signature does not check out (what any receiver must do at least), else None."""
    try:
        verify(
            SECRET,
            timestamp=request.headers.get("x-zm-request-timestamp"),
            signature=request.headers.get("x-zm-signature"),
            body=body,
            now=time.time(),
            tolerance_seconds=300,
        )
    except SignatureRejected as exc:
        return web.json_response({"error": exc.reason}, status=401)
    return None


def baseline_app() -> web.Application:
    """What any receiver must do at least: read the body and check Zoom's signature."""

    async def webhook(request: web.Request) -> web.Response:
        body = await request.read()
        return signature_refused(body, request) or web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post(PATH, webhook)
    app.router.add_get("/readyz", ready)
    return app


def durable_app(bootstrap: str, topic: str) -> web.Application:
    """The signature check, then the body on Kafka (acks=all, idempotent producer) before the 200."""
    producers: list[AIOKafkaProducer] = []  # made in the app's loop (aiokafka needs a running loop)

    async def webhook(request: web.Request) -> web.Response:
        body = await request.read()
        refused = signature_refused(body, request)
        if refused is not None:
            return refused
        try:
            await producers[0].send_and_wait(topic, body, key=hashlib.sha256(body).digest()[:16])
        except KafkaError:
            return web.json_response({"error": "kafka unavailable"}, status=503)
        return web.json_response({"status": "published"})

    async def kafka(app: web.Application) -> AsyncIterator[None]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=0)
        await producer.start()
        producers.append(producer)
        yield
        await producer.stop()

    app = web.Application()
    app.router.add_post(PATH, webhook)
    app.router.add_get("/readyz", ready)
    app.cleanup_ctx.append(kafka)
    return app


async def ready(request: web.Request) -> web.Response:
    """The baseline is ready as soon as it listens."""
    return web.json_response({"status": "ready"})


# ------------------------------------------------------------------ load generation


def webhook_body(n: int, run: str) -> bytes:
    """A realistic recording.completed body (three participants) for a recording never seen before."""
    meeting = f"{run}-{n:07d}//bench=="
    base = "https://zoom.us/rec/download"
    files = [
        {
            "id": f"{meeting}-p{i}",
            "recording_start": "2024-05-02T10:00:00Z",
            "recording_end": "2024-05-02T10:30:00Z",
            "file_name": f"Audio only - {name}",
            "file_type": "M4A",
            "file_extension": "M4A",
            "file_size": 14_000_000 + i,
            "download_url": f"{base}/{run}{n}p{i}",
            "status": "completed",
        }
        for i, name in enumerate(("Elisa L", "Jean-Luc Pérez", "Zoë 🎧 Ng"))
    ]
    obj = {
        "uuid": meeting,
        "id": 84712345678,
        "account_id": "bench-account",
        "host_id": "bench-host",
        "host_email": "host@example.com",
        "topic": "Weekly sync",
        "start_time": "2024-05-02T10:00:00Z",
        "duration": 30,
        "recording_files": [
            {
                "id": f"{meeting}-a",
                "recording_start": "2024-05-02T10:00:00Z",
                "recording_end": "2024-05-02T10:30:00Z",
                "file_type": "M4A",
                "file_extension": "M4A",
                "file_size": 40_000_000,
                "download_url": f"{base}/{run}{n}a",
                "status": "completed",
                "recording_type": "audio_only",
            }
        ],
        "participant_audio_files": files,
    }
    event = {
        "event": "recording.completed",
        "event_ts": int(time.time() * 1000),
        "payload": {"account_id": "bench-account", "object": obj},
        "download_token": "bench-download-token-" + uuid.uuid4().hex,
    }
    return json.dumps(event, ensure_ascii=False).encode()


async def load(port: int, *, seconds: float, concurrency: int, run: str) -> dict[str, Any]:
    """Post for ``seconds`` over ``concurrency`` connections; latencies of every answer, counts by status."""
    counter = itertools.count()
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    url = f"http://127.0.0.1:{port}{PATH}"
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        end = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < end:
                body = webhook_body(next(counter), run)
                ts = str(int(time.time()))
                headers = {
                    "content-type": "application/json",
                    "x-zm-request-timestamp": ts,
                    "x-zm-signature": sign(SECRET, ts, body),
                }
                started = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        key = str(response.status)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    key = type(exc).__name__
                latencies.append(time.perf_counter() - started)
                statuses[key] = statuses.get(key, 0) + 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return summarize(latencies, statuses, elapsed)


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] if ordered else float("nan")


def summarize(latencies: list[float], statuses: dict[str, int], elapsed: float) -> dict[str, Any]:
    ok = statuses.get("200", 0)
    return {
        "requests": len(latencies),
        "ok": ok,
        "statuses": statuses,
        "seconds": round(elapsed, 3),
        "throughput_rps": round(ok / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(max(latencies, default=0.0) * 1000, 2),
    }


# ------------------------------------------------------------------ servers as processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ingest_env(infra: InfraSettings, port: int, kind: str = "after") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOOMSYMBL_")}
    env.update(
        {
            "ZOOMSYMBL_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
            "ZOOMSYMBL_KAFKA_TOPIC_PREFIX": infra.kafka_topic_prefix,
            "ZOOMSYMBL_MONGO_URI": infra.mongo_uri.get_secret_value(),
            "ZOOMSYMBL_MONGO_DATABASE": infra.mongo_database,
            "ZOOMSYMBL_INGEST_HTTP_HOST": "127.0.0.1",
            "ZOOMSYMBL_INGEST_HTTP_PORT": str(port),
            "ZOOMSYMBL_TENANT_ID": "bench",
            "ZOOMSYMBL_TENANT_ZOOM_WEBHOOK_SECRET": SECRET,
        }
    )
    if kind == "after-oauth":
        # S2S OAuth credentials: the mixer could download without the webhook's token, so ingest
        # writes that token behind the answer. Never used to call anything here.
        env.update(
            {
                "ZOOMSYMBL_TENANT_ZOOM_ACCOUNT_ID": "bench-account",
                "ZOOMSYMBL_TENANT_ZOOM_CLIENT_ID": "bench-client",
                "ZOOMSYMBL_TENANT_ZOOM_CLIENT_SECRET": "bench-client-secret-0123",
            }
        )
    return env


@asynccontextmanager
async def server(kind: str, infra: InfraSettings, pids: list[int] | None = None) -> AsyncIterator[int]:
    """Start an ingest app or a baseline in its own process; yield its port once it is ready (pid into ``pids``)."""
    port = free_port()
    env = dict(os.environ)
    if kind in INGEST_APPS:
        args = ["-m", "zoomsymbl_ingest"]
        env = ingest_env(infra, port, kind)
    elif kind in ("durable", "durable-uvloop"):
        topic = f"{infra.kafka_topic_prefix}{RecordingCompleted.topic}"
        args = [str(SELF), "--serve-durable", str(port), "--bootstrap", infra.kafka_bootstrap, "--topic", topic]
        args += ["--uvloop"] if kind == "durable-uvloop" else []
    else:
        args = [str(SELF), "--serve-baseline", str(port)]
    process = await asyncio.create_subprocess_exec(
        sys.executable, *args, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    if pids is not None:
        pids.append(process.pid)
    try:
        await wait_ready(port, process)
        yield port
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()


async def wait_ready(port: int, process: asyncio.subprocess.Process, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"server exited with {process.returncode} during start-up")
            try:
                async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("server never became ready")


async def degraded_counts(port: int) -> dict[str, float]:
    """ingest's own count of skipped MongoDB steps and 503s (warm-up included), from /metrics."""
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as response:
        text = await response.text()
    wanted = ("zoomsymbl_ingest_store_errors_total", "zoomsymbl_ingest_unavailable_total")
    return {
        name: float(value)
        for name, _, value in (line.rpartition(" ") for line in text.splitlines())
        if name.startswith(wanted)
    }


async def kafka_count(infra: InfraSettings) -> int:
    """How many events the run's topic holds (sum of its partitions' end offsets)."""
    topic = f"{infra.kafka_topic_prefix}{RecordingCompleted.topic}"
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        [description] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic, p["partition"]) for p in description.get("partitions", [])]
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions) if partitions else {}
    finally:
        await consumer.stop()
    return int(sum(ends.values()))


# ------------------------------------------------------------------ the runs


def fresh_infra() -> tuple[str, InfraSettings]:
    """A run's tag, and infra settings with a topic prefix and a database of that run's own."""
    tag = f"bench{uuid.uuid4().hex[:8]}"
    return tag, InfraSettings().model_copy(
        update={"kafka_topic_prefix": f"{tag}-", "mongo_database": f"bench_ingest_{tag}"}
    )


async def one_run(kind: str, index: int, args: argparse.Namespace) -> dict[str, Any]:
    tag, infra = fresh_infra()
    pids: list[int] = []
    async with server(kind, infra, pids) as port:
        warmup = await load(port, seconds=args.warmup, concurrency=args.concurrency, run=f"{tag}w")
        # Every process on these 2 cores: the server, the load generator (this one), Kafka and the
        # MongoDB-wire server (the local one only: mongo_pg's processes are not ours to name).
        named = {"server": pids[0], "load_generator": os.getpid(), "kafka": infra_pid("kafka")}
        named["mongo"] = infra_pid("mongo") if args.mongo == "sqlite" else None
        processes = {name: pid for name, pid in named.items() if pid is not None}
        cpu_before = {name: process_cpu_seconds(pid) for name, pid in processes.items()}
        busy_before, started = machine_busy_seconds(), time.monotonic()
        result = await load(port, seconds=args.duration, concurrency=args.concurrency, run=tag)
        busy, elapsed = machine_busy_seconds() - busy_before, time.monotonic() - started
        requests = max(result["requests"], 1)
        # CPU per answer of each process: the server's own is what the app costs, whatever the others leave it.
        per_request = {
            name: round(1e6 * (process_cpu_seconds(processes[name]) - before) / requests, 1)
            for name, before in cpu_before.items()
        }
        result["server_cpu_us_per_request"] = per_request["server"]
        result["cpu_us_per_request"] = per_request
        result["machine_busy_cores"] = round(busy / elapsed, 2)  # of psutil.cpu_count() cores
        if kind in INGEST_APPS:
            result["degraded"] = await degraded_counts(port)
    result.update({"app": kind, "run": index})
    if kind != "baseline":
        # Every 200 (warm-up included) must be on Kafka; a 503 may still have landed (at least once).
        accepted = warmup["ok"] + result["ok"]
        result["kafka_events"] = await kafka_count(infra)
        result["accepted_including_warmup"] = accepted
        result["every_200_on_kafka"] = result["kafka_events"] >= accepted
        USED.append(infra)
    return result


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores of this machine spent not idle so far (``/proc/stat``)."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


async def drop_databases() -> None:
    """Drop the runs' databases and delete their topics at the very end: the local FerretDB has crashed when a
    database was dropped while it was still busy with the next run's load."""
    await asyncio.sleep(1.0)
    for infra in USED:
        mongo = make_mongo(infra)
        try:
            await mongo.client.drop_database(infra.mongo_database)
        finally:
            await mongo.close()
        await delete_topics(infra.kafka_bootstrap, infra.kafka_topic_prefix)


async def dependency_capacity(concurrency: int, count: int = 512) -> dict[str, float]:
    """Operations per second of the local Kafka (at ``concurrency``) and MongoDB (at ingest's own limit)."""
    tag = f"benchdeps{uuid.uuid4().hex[:8]}"
    infra = InfraSettings().model_copy(update={"kafka_topic_prefix": f"{tag}-", "mongo_database": f"bench_{tag}"})

    async def rate(make: Callable[[int], Awaitable[object]], parallel: int = MONGO_CONCURRENCY) -> float:
        gate = asyncio.Semaphore(parallel)

        async def one(i: int) -> None:
            async with gate:
                await make(i)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        return round(count / (time.perf_counter() - started), 1)

    broker = make_broker(infra, "bench")
    await start_broker(broker)
    mongo = make_mongo(infra)
    await ensure_indexes(mongo)
    receipts, secrets = mongo.db[RECEIPTS], mongo.db[SECRETS]
    try:
        await publish_event(broker, infra, _event(-1))  # creates the topic
        return {
            "kafka_publish_acked_per_s": await rate(
                lambda i: publish_event(broker, infra, _event(i), timeout=10), concurrency
            ),
            "mongo_find_one_per_s": await rate(lambda i: receipts.find_one({"key": f"k{i}"})),
            "mongo_insert_one_per_s": await rate(lambda i: receipts.insert_one({"key": f"k{i}", "received_at": None})),
            "mongo_insert_many_docs_per_s": await batch_rate(receipts),
            "mongo_upsert_per_s": await rate(
                lambda i: secrets.update_one(
                    {"tenant": "b", "meeting_uuid": f"m{i}"}, {"$set": {"download_token": "x"}}, upsert=True
                )
            ),
        }
    finally:
        await broker.stop()
        await mongo.close()
        USED.append(infra)


async def batch_rate(collection: Any, batches: int = 16, size: int = 64) -> float:
    """Documents per second written by ``insert_many`` of ``size`` (what group commit gets)."""
    started = time.perf_counter()
    for b in range(batches):
        await collection.insert_many([{"key": f"b{b}-{i}", "received_at": None} for i in range(size)], ordered=False)
    return round(batches * size / (time.perf_counter() - started), 1)


def _event(i: int) -> RecordingCompleted:
    return RecordingCompleted(event_id=f"bench-{i}", tenant="bench", meeting_uuid=f"bench-{i}==")


def aggregate(runs: list[dict[str, Any]], by_app: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Median and spread per metric; each throughput ratio is taken run by run against the baseline's run
    next to it (same minute, same machine load), then its median."""
    metrics = ("throughput_rps", "p50_ms", "p99_ms", "server_cpu_us_per_request", "machine_busy_cores")
    out: dict[str, Any] = {m: spread((r[m] for r in runs), 2) for m in metrics}
    processes = sorted({name for r in runs for name in r["cpu_us_per_request"]})
    out["cpu_us_per_request"] = {
        name: spread((r["cpu_us_per_request"][name] for r in runs if name in r["cpu_us_per_request"]), 1)
        for name in processes
    }
    out["error_share"] = spread((1 - r["ok"] / max(r["requests"], 1) for r in runs), 3)
    out["errors"] = sum(r["requests"] - r["ok"] for r in runs)
    for yardstick in ("baseline", "durable", "durable-uvloop"):
        if runs and runs[0]["app"] != yardstick and by_app.get(yardstick):
            pairs = zip(runs, by_app[yardstick], strict=True)
            ratios = (r["throughput_rps"] / max(b["throughput_rps"], 1e-9) for r, b in pairs)
            out[f"vs_{yardstick}_throughput"] = spread(ratios)
            pairs = zip(runs, by_app[yardstick], strict=True)
            costs = (r["server_cpu_us_per_request"] / max(b["server_cpu_us_per_request"], 1e-9) for r, b in pairs)
            out[f"vs_{yardstick}_cpu_per_request"] = spread(costs)
    if runs and runs[0]["app"] != "baseline":
        out["every_200_on_kafka"] = all(r.get("every_200_on_kafka", False) for r in runs)
    return out


THROUGHPUT_TARGET = 0.6  # of the durable receiver's throughput (issue 21)
P99_TARGET_MS = 100.0


def targets(summary: dict[str, Any]) -> dict[str, Any]:
    """Issue 21's targets per ingest app: ≥ 60 % of the durable receiver's throughput, p99 ≤ 100 ms (64 conns)."""
    found: dict[str, Any] = {}
    for app in INGEST_APPS:
        ratio, p99 = summary[app]["vs_durable_throughput"]["median"], summary[app]["p99_ms"]["median"]
        found[app] = {
            "throughput_ratio_to_durable": ratio,
            "throughput_ratio_to_bare": summary[app]["vs_baseline_throughput"]["median"],
            # ingest runs on uvloop: the same receiver on uvloop, for a like-for-like reading.
            "throughput_ratio_to_durable_uvloop": summary[app]["vs_durable-uvloop_throughput"]["median"],
            "throughput_target": THROUGHPUT_TARGET,
            "throughput_met": ratio >= THROUGHPUT_TARGET,
            "p99_ms": p99,
            "p99_target_ms": P99_TARGET_MS,
            "p99_met": p99 <= P99_TARGET_MS,
        }
    return found


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    for index in range(args.runs):
        for kind in APPS:  # alternate, so drift in machine load hits every app alike
            result = await one_run(kind, index, args)
            print(json.dumps(result), file=sys.stderr)
            runs.append(result)
    grouped = {kind: [r for r in runs if r["app"] == kind] for kind in APPS}
    by_app = {kind: aggregate(grouped[kind], grouped) for kind in APPS}
    try:
        dependencies: dict[str, Any] = await dependency_capacity(args.concurrency)
        await drop_databases()
    except (PyMongoError, KafkaError, ZoomsymblError) as exc:  # attribution only: never lose the report
        dependencies = {"error": f"{type(exc).__name__}: {exc}"}
    return {
        "benchmark": "ingest",
        "what": "signed recording.completed webhooks, each a new recording, over N concurrent connections",
        "config": {
            "runs": args.runs,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "concurrency": args.concurrency,
        },
        "summary": by_app,
        "targets": targets(by_app),
        # ingest: the claims and tokens of all waiting requests in one insert_many each (group commit).
        "dependency_capacity": dependencies,
        "runs": runs,
    }


async def profile(kind: str, args: argparse.Namespace) -> Path:
    """Sample ``kind``'s server with py-spy while it is under load; the collapsed stacks (speedscope opens them)."""
    tag, infra = fresh_infra()
    out = PROFILES / f"ingest-{kind}.collapsed.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    pids: list[int] = []
    async with server(kind, infra, pids) as port:
        await load(port, seconds=args.warmup, concurrency=args.concurrency, run=f"{tag}w")
        spy = await asyncio.create_subprocess_exec(
            *py_spy(), "record", "--pid", str(pids[0]), "--rate", "200", "--duration", str(int(args.duration)),
            "--format", "raw", "--output", str(out), "--nonblocking",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        result = await load(port, seconds=args.duration + 1, concurrency=args.concurrency, run=tag)
        await spy.wait()
    if kind in INGEST_APPS:
        USED.append(infra)
        await drop_databases()
    print(json.dumps({"app": kind, "profiled": str(out), **result}), file=sys.stderr)
    print(summarize_profile(out))
    return out


def py_spy() -> list[str]:
    """py-spy from PATH, else through uvx (the project's uv)."""
    found = shutil.which("py-spy")
    if found:
        return [found]
    uvx = shutil.which("uvx") or str(SELF.parents[1] / ".cache/tools/bin/uvx")
    return [uvx, "py-spy"]


def summarize_profile(path: Path, top: int = 30) -> str:
    """Inclusive share of samples per function (each counted once per stack), largest first, as Markdown."""
    totals: dict[str, int] = {}
    samples = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples += int(count)
        for frame in {_frame(f) for f in stack.split(";")}:
            totals[frame] = totals.get(frame, 0) + int(count)
    rows = sorted(totals.items(), key=lambda kv: -kv[1])[:top]
    lines = [f"{samples} samples", "", "| share | frame |", "|---|---|"]
    lines += [f"| {100 * n / samples:.1f} % | `{frame}` |" for frame, n in rows]
    return "\n".join(lines)


def _frame(raw: str) -> str:
    """``function (file.py)`` of py-spy's ``function (/path/file.py:line)``."""
    function, _, where = raw.partition(" (")
    return f"{function} ({where.split(':')[0].rsplit('/', 1)[-1].rstrip(')')})"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="runs per app (≥3)")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each run")
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent connections")
    parser.add_argument("--profile", choices=APPS, help="sample this app with py-spy under load instead of the runs")
    parser.add_argument("--serve-baseline", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--serve-durable", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    parser.add_argument("--uvloop", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--mongo",
        choices=list(MONGO_SERVERS),
        default="sqlite",
        help="ingest's MongoDB-wire server: the local FerretDB on SQLite, or FerretDB on PostgreSQL (mongo_pg.py)",
    )
    args = parser.parse_args(argv)
    if args.serve_baseline is None and args.serve_durable is None and args.profile is None and args.runs < MIN_RUNS:
        parser.error("--runs must be at least 3 (a median needs a spread)")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.serve_baseline is not None:
        web.run_app(baseline_app(), host="127.0.0.1", port=args.serve_baseline, print=None, access_log=None)
        return
    if args.serve_durable is not None:
        app = durable_app(args.bootstrap, args.topic)
        loop = uvloop.new_event_loop() if args.uvloop else None
        web.run_app(app, host="127.0.0.1", port=args.serve_durable, print=None, access_log=None, loop=loop)
        return
    with mongo_server(args.mongo, CACHE):  # for ingest's processes and this one's checks
        if args.profile is not None:
            asyncio.run(profile(args.profile, args))
            return
        report = asyncio.run(bench(args))
    report["mongo"] = args.mongo
    write_result(result_name("ingest", args.mongo), report)
    print(json.dumps({k: report[k] for k in ("summary", "targets")}, indent=2))


if __name__ == "__main__":
    main()
