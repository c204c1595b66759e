"""Load: a burst of signed webhooks, many of them duplicates, against the running ingest process.

Every distinct meeting must be durable (exactly one event on Kafka) and processed once (one provider
submission, one e-mail); ingest's latency during the burst is measured at the client (what Zoom
sees, p50/p99/max) and read from ingest's own histogram. A meeting whose every delivery was refused
with 503 is delivered again afterwards, as Zoom would retry it; how many needed that is reported.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from statistics import quantiles
from typing import Any

import aiohttp
import pytest
from zoomsymbl_common.events import RecordingCompleted
from zoomsymbl_sandbox.stack import Stack
from zoomsymbl_sandbox.zoom import MeetingSpec

from tests.reliability.meetings import add_meetings, meeting_objects, signed_webhook, tiny_meeting
from tests.reliability.observe import State, read_topics
from tests.reliability.private_infra import PrivateInfra
from tests.reliability.results import record
from tests.reliability.rounds import sandbox_stats, settle
from tests.reliability.sizes import SIZES
from tests.reliability.stack_config import RUN_ID, TENANT, WEBHOOK_SECRET

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]
_BUCKET = re.compile(r"^zoomsymbl_ingest_webhook_seconds_bucket\{(?P<labels>[^}]*)\} (?P<n>[0-9.e+]+)$")


async def histogram(session: aiohttp.ClientSession, url: str) -> dict[float, float]:
    """Ingest's webhook latency histogram: upper bound → cumulative count, all outcomes together."""
    async with session.get(url + "/metrics") as response:
        text = await response.text()
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if (match := _BUCKET.match(line)) is not None:
            le = re.search(r'le="([^"]+)"', match["labels"])
            if le is not None:
                bound = float(le.group(1))
                buckets[bound] = buckets.get(bound, 0.0) + float(match["n"])
    return buckets


def bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """The upper bound of the histogram bucket holding quantile ``q`` of what was observed in between."""
    delta = {le: after.get(le, 0.0) - before.get(le, 0.0) for le in after}
    total = delta.get(float("inf"), 0.0)
    return next((le for le in sorted(delta) if total and delta[le] >= q * total), float("inf"))


@dataclass
class Burst:
    """Sends signed webhooks to ingest, at most ``concurrency`` at once, and keeps what it saw."""

    url: str
    bodies: list[dict[str, object]]  # meeting object per meeting index
    concurrency: int
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    accepted: set[int] = field(default_factory=set)

    async def send(self, session: aiohttp.ClientSession, gate: asyncio.Semaphore, index: int) -> None:
        body, headers = signed_webhook(self.bodies[index], WEBHOOK_SECRET)  # signed now: a fresh timestamp
        async with gate:
            started = time.perf_counter()
            async with session.post(f"{self.url}/webhooks/zoom/{TENANT}", data=body, headers=headers) as response:
                await response.read()
            self.latencies.append(time.perf_counter() - started)
        self.statuses[response.status] += 1
        if response.status == 200:
            self.accepted.add(index)

    async def run(self, order: list[int]) -> dict[str, object]:
        """Send ``order`` (meeting indexes) at once, then re-deliver meetings never answered 200 (as Zoom would)."""
        gate = asyncio.Semaphore(self.concurrency)
        connector = aiohttp.TCPConnector(limit=self.concurrency)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
            before = await histogram(session, self.url)
            started = time.monotonic()
            await asyncio.gather(*(self.send(session, gate, i) for i in order))
            seconds = time.monotonic() - started
            after = await histogram(session, self.url)
            retried = [i for i in range(len(self.bodies)) if i not in self.accepted]
            for index in retried:
                while index not in self.accepted:
                    await self.send(session, gate, index)
        cuts = quantiles(self.latencies, n=100)
        return {
            "statuses": dict(sorted(self.statuses.items())),
            "burst seconds": round(seconds, 1),
            "webhooks per second": round(len(order) / seconds),
            "ingest latency p50 / p99 / max (ms, client)": (
                f"{1000 * cuts[49]:.0f} / {1000 * cuts[98]:.0f} / {1000 * max(self.latencies):.0f}"
            ),
            "ingest p99 (s, bucket bound of its histogram)": bucket_quantile(before, after, 0.99),
            "meetings re-delivered after all-503": len(retried),
        }


async def per_meeting(stack: Stack, infra: PrivateInfra, specs: list[MeetingSpec], state: State) -> dict[str, Any]:
    """How many events on Kafka, submissions and e-mails each meeting got (value → number of meetings)."""
    hosts = {spec.uuid: spec.host_email for spec in specs}
    await state.wait_terminal(TENANT, hosts, infra, timeout=1800)
    await settle(stack, infra)
    outcomes = await state.outcomes(TENANT, hosts, infra)
    topic = stack.config.topic_prefix + RecordingCompleted.topic
    events = Counter(
        RecordingCompleted.model_validate_json(r.value or b"").meeting_uuid
        for r in (await read_topics(infra.kafka_bootstrap, topic))[topic]
    )
    submitted = (await sandbox_stats(stack, "symbl"))["submissions_by_name"]
    return {
        "events on kafka": dict(Counter(events[s.uuid] for s in specs)),
        "submissions": dict(Counter(int(submitted.get(s.topic, 0)) for s in specs)),
        "e-mails (Message-IDs)": dict(Counter(outcomes[s.uuid].message_ids for s in specs)),
        "stages": dict(Counter(str(o.stage) for o in outcomes.values())),
    }


async def test_a_burst_of_duplicated_webhooks_is_durable_and_processed_once(
    stack: Stack, private_infra: PrivateInfra, state: State
) -> None:
    specs = [tiny_meeting(f"l{RUN_ID}", i, participants=1) for i in range(SIZES.load_meetings)]
    await add_meetings(stack, specs)
    objects = await meeting_objects(stack)
    order = [i % len(specs) for i in range(SIZES.load_webhooks)]
    random.Random(RUN_ID).shuffle(order)
    burst = Burst(stack.config.url("ingest"), [objects[s.uuid] for s in specs], SIZES.load_concurrency)
    figures = await burst.run(order)
    counts = await per_meeting(stack, private_infra, specs, state)
    record(
        "load burst",
        injected="signed recording.completed webhooks, duplicates shuffled in, no download token (OAuth path)",
        how_often=f"{SIZES.load_webhooks} webhooks across {len(specs)} meetings, {SIZES.load_concurrency} at once",
        expected="1 event on Kafka, 1 submission, 1 e-mail per distinct meeting; no 5xx other than 503",
        measured={**figures, **counts},
    )
    assert set(burst.statuses) <= {200, 503}, burst.statuses
    assert counts["events on kafka"] == {1: len(specs)}
    assert counts["submissions"] == {1: len(specs)}
    assert counts["e-mails (Message-IDs)"] == {1: len(specs)}
