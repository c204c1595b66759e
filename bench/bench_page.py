"""Benchmark: server time of the meeting page (``GET /m/{token}``) for a 4-hour, 32-speaker meeting.

The meeting is synthesized into MongoDB as the pipeline leaves it (``meetings``, ``conversations`` with 32
speakers' metrics, ``insights`` in two parts of a split recording: one utterance every ~1.5 s, so ~9,600
transcript lines, plus summary topics, action items, questions, follow-ups). The web service runs as its
own process (``python -m zoomsymbl_web``), as in production; each request's server time is the service's
``Server-Timing`` header (read, merge, timeline, render), the round trip is measured on the client too.
Three runs of ``--requests`` requests each (after one warm-up request): per run the median and p95; once
with the service's page cache off (cold: every request reads MongoDB) and once on (warm: a page reloaded).

    uv run python bench/bench_page.py            # 3 runs × 20 requests
    uv run python bench/bench_page.py --quick    # 3 runs × 5 requests (same meeting size)

Prints JSON on stdout and writes bench/results/page.json. Needs the local servers (make infra-up).
Target: median server time < 300 ms (issue 19).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from common import free_port, log, percentile, spread, write_result
from zoomsymbl_common import stored_insights
from zoomsymbl_common.mongo import Mongo, make_mongo
from zoomsymbl_common.page_tokens import make_page_token, page_url
from zoomsymbl_common.records import (
    CONVERSATIONS,
    INSIGHTS,
    MEETINGS,
    ConversationMetadata,
    Meeting,
    MeetingObjects,
    SpeakerMetrics,
    StoredInsights,
    StoredObject,
)
from zoomsymbl_common.settings import InfraSettings

TARGET_MS = 300.0
PAGE_KEY = "bench-page-key-0123456789abcdef"
TENANT = "bench"
WORDS = ("we", "should", "ship", "the", "release", "on", "friday", "after", "the", "review", "of", "budget", "numbers")


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 24))).capitalize() + "."


def _insights(rng: random.Random, start: float, end: float, speakers: int) -> dict[str, Any]:
    messages, at = [], 0.0
    while start + at < end:
        channel = rng.randint(1, speakers)
        length = rng.uniform(0.5, 2.5)
        messages.append(
            {"speaker": f"Speaker {channel:02d}", "text": _sentence(rng), "start_seconds": round(at, 3),
             "end_seconds": round(at + length, 3), "email": None, "channel": channel}
        )  # fmt: skip
        at += 1.5
    span = end - start

    def items(count: int) -> list[dict[str, Any]]:
        return [
            {"text": _sentence(rng), "assignee": f"Speaker {rng.randint(1, speakers):02d}", "due": None,
             "score": None, "speaker": f"Speaker {rng.randint(1, speakers):02d}",
             "start_seconds": round(rng.uniform(0, span), 3), "quote": None, "assignee_email": None}
            for _ in range(count)
        ]  # fmt: skip

    topics = [
        {
            "headline": f"Topic {i}",
            "text": _sentence(rng) * 3,
            "start_seconds": i * 600.0,
            "end_seconds": i * 600.0 + 600,
        }
        for i in range(int(span // 600))
    ]
    return {"messages": messages, "topics": items(20), "questions": items(30), "action_items": items(40),
            "follow_ups": items(20), "decisions": items(10), "summary": [], "summary_url": None,
            "extra": {"source": "AssemblyAI"}, "summary_topics": topics, "unavailable": {}}  # fmt: skip


async def synthesize(mongo: Mongo, hours: float, speakers: int, meeting_uuid: str) -> int:
    """The meeting's documents; returns the number of transcript lines."""
    rng = random.Random(19)
    duration = hours * 3600
    meeting = Meeting(
        tenant=TENANT, meeting_uuid=meeting_uuid, generation=0, stage="notified", topic="Bench: 4-hour all-hands",
        host_email="host@example.test", start_time=datetime(2026, 12, 1, 9, tzinfo=UTC), duration_seconds=duration,
        objects=MeetingObjects(mixed=StoredObject(bucket="zoomsymbl", key="mixed/bench/x.flac", size=1)),
    )  # fmt: skip
    conversation = ConversationMetadata(
        tenant=TENANT, meeting_uuid=meeting_uuid, source_platform="Zoom Meeting", duration_seconds=duration,
        speakers=[SpeakerMetrics(channel=c, name=f"Speaker {c:02d}", talk_seconds=duration / speakers / 2,
                                 silence_ratio=0.5, talk_over_ratio=0.05) for c in range(1, speakers + 1)],
    )  # fmt: skip
    half = duration / 2
    parts = [
        StoredInsights(
            provider="assemblyai",
            conversation_id=f"{meeting_uuid}-{i}",
            tenant=TENANT,
            meeting_uuid=meeting_uuid,
            generation=0,
            job_id=f"job-{i}",
            part_index=i,
            part_offset_seconds=i * half,
            # As the notifier stores it (the transcript compressed: zoomsymbl_common.stored_insights).
            insights=stored_insights.encode(stored_insights.decode(_insights(rng, i * half, (i + 1) * half, speakers))),
            stored_at=datetime.now(tz=UTC),
        )
        for i in range(2)
    ]
    await mongo.db[MEETINGS].insert_one(meeting.to_document())
    await mongo.db[CONVERSATIONS].insert_one(conversation.to_document())
    await mongo.db[INSIGHTS].insert_many([p.to_document() for p in parts])
    return sum(len(stored_insights.decode(p.insights).messages) for p in parts)


async def wait_ready(url: str, proc: asyncio.subprocess.Process, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise RuntimeError(f"the web service exited with {proc.returncode}")
            try:
                async with session.get(f"{url}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError("the web service did not become ready")


async def measure(url: str, requests: int) -> tuple[list[float], list[float], int]:
    """Server times and round trips (ms) of ``requests`` GETs after one warm-up; the page's size."""
    server, total, size = [], [], 0
    async with aiohttp.ClientSession() as session:
        for index in range(requests + 1):
            started = time.perf_counter()
            async with session.get(url) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"page answered {resp.status}")
                timing = resp.headers["Server-Timing"]
            if index == 0:
                continue  # warm-up
            total.append((time.perf_counter() - started) * 1000)
            server.append(float(timing.split("dur=", 1)[1]))
            size = len(body)
    return server, total, size


async def serve_and_measure(
    env: dict[str, str], cache: int, url: str, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Start the web service with ``cache`` pages kept in memory, measure ``args.runs`` runs, stop it."""
    own = {**env, "ZOOMSYMBL_WEB_PAGE_CACHE_SIZE": str(cache)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "zoomsymbl_web", env=own, stdout=asyncio.subprocess.DEVNULL
    )
    runs = []
    try:
        await wait_ready(url.split("/m/", 1)[0], proc)
        for number in range(1, args.runs + 1):
            server, total, size = await measure(url, args.requests)
            runs.append({"server_ms": server, "round_trip_ms": total, "bytes": size})
            median, p95 = statistics.median(server), percentile(server, 0.95)
            log(f"cache {cache}, run {number}: server median {median:.1f} ms, p95 {p95:.1f}")
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
    return runs


def figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-run median and p95 of the server time and the round trip, as spreads over the runs."""
    return {
        "server_median_ms": spread([statistics.median(r["server_ms"]) for r in runs], 1),
        "server_p95_ms": spread([percentile(r["server_ms"], 0.95) for r in runs], 1),
        "round_trip_median_ms": spread([statistics.median(r["round_trip_ms"]) for r in runs], 1),
        "runs": runs,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    run = uuid.uuid4().hex[:10]
    infra = InfraSettings().model_copy(update={"mongo_database": f"bench_page_{run}"})
    mongo = make_mongo(infra)
    meeting_uuid = f"bench-{run}=="
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        tenants = Path(tmp) / "tenants.json"
        tenants.write_text(json.dumps({"tenants": [{"id": TENANT, "zoom_webhook_secret": "bench-secret-0123"}]}))
        env = {**os.environ, "ZOOMSYMBL_MONGO_DATABASE": infra.mongo_database, "ZOOMSYMBL_WEB_PAGE_KEY": PAGE_KEY,
               "ZOOMSYMBL_WEB_HTTP_HOST": "127.0.0.1", "ZOOMSYMBL_WEB_HTTP_PORT": str(port),
               "ZOOMSYMBL_TENANTS_FILE": str(tenants), "ZOOMSYMBL_LOG_LEVEL": "WARNING"}  # fmt: skip
        try:
            lines = await synthesize(mongo, args.hours, args.speakers, meeting_uuid)
            log(f"page bench: {lines} transcript lines, {args.speakers} speakers, {args.hours} h")
            token = make_page_token(PAGE_KEY, TENANT, meeting_uuid, ttl=timedelta(hours=1))
            url = page_url(f"http://127.0.0.1:{port}", token)
            # Cold: every request reads the meeting from MongoDB; warm: the page data is in the service's cache.
            cold = await serve_and_measure(env, 0, url, args)
            warm = await serve_and_measure(env, 8, url, args)
        finally:
            await mongo.client.drop_database(infra.mongo_database)
            await mongo.close()
    warm_figures, cold_figures = figures(warm), figures(cold)
    return {
        "hours": args.hours,
        "speakers": args.speakers,
        "transcript_lines": lines,
        "requests_per_run": args.requests,
        "page_bytes": warm[-1]["bytes"],
        "target_ms": TARGET_MS,
        "warm": warm_figures,
        "cold": cold_figures,
        "target_met_warm": warm_figures["server_median_ms"]["median"] < TARGET_MS,
        "target_met_cold": cold_figures["server_median_ms"]["median"] < TARGET_MS,
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hours", type=float, default=4.0)
    parser.add_argument("--speakers", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="5 requests per run (the meeting keeps its size)")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests = 5
    return args


def main() -> None:
    report = asyncio.run(main_async(parse_args(sys.argv[1:])))
    write_result("page", report)
    brief = {k: ({n: f for n, f in v.items() if n != "runs"} if isinstance(v, dict) else v) for k, v in report.items()}
    print(json.dumps(brief, indent=2))


if __name__ == "__main__":
    main()
