"""The real ingest and notifier webhook apps in memory, with a record of everything they publish.

Ingest runs its real routes and intake with FastStream's in-memory Kafka broker and in-memory
receipt/token stores; the notifier runs its real callback routes with a jobs table of two known jobs.
Each request is a real HTTP request to an aiohttp test server, so a crash shows as a 5xx.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from zoomsymbl_common.callback_tokens import make_callback_token
from zoomsymbl_common.events import Event
from zoomsymbl_common.service import TENANTS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_ingest.app import create_app
from zoomsymbl_ingest.handlers import INTAKE
from zoomsymbl_ingest.intake import Intake
from zoomsymbl_ingest.metrics import IngestMetrics
from zoomsymbl_ingest.settings import Settings as IngestSettings
from zoomsymbl_ingest.signature import sign
from zoomsymbl_notifier.jobs import JobRecord, Jobs
from zoomsymbl_notifier.settings import Settings as NotifierSettings
from zoomsymbl_notifier.webhooks import CALLBACK_DEPS, CallbackDeps, CallbackMetrics, add_webhook_routes

from tests.ingest.support import MemoryReceipts, MemoryTokens
from tests.reliability.fuzz_inputs import CallbackRequest, ZoomRequest

WEBHOOK_SECRET = "fuzz-webhook-secret-0123456789"
OTHER_SECRET = "fuzz-other-secret-9876543210"
CALLBACK_SECRET = "fuzz-callback-secret-0123456789"
INFRA = InfraSettings(kafka_topic_prefix="fuzz-")
JOBS = {
    "symbl": ("ref-symbl-0001", "job-symbl-0001"),
    "assemblyai": ("ref-aai-0001", "transcript-aai-0001"),
}


@dataclass
class Tally:
    """Requests sent and what came back."""

    statuses: Counter[int] = field(default_factory=Counter)
    published: int = 0
    slowest_s: float = 0.0

    def add(self, status: int, seconds: float) -> None:
        self.statuses[status] += 1
        self.slowest_s = max(self.slowest_s, seconds)

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def zoom_headers(request: ZoomRequest) -> dict[str, str]:
    """Headers for ``request.signing``: right, wrong, stale or missing."""
    now = int(time.time())
    stamp = {"stale": str(now - 3600), "valid_ms": str(now * 1000)}.get(request.signing, str(now))
    secret = OTHER_SECRET if request.signing == "other_secret" else WEBHOOK_SECRET
    headers = {"x-zm-request-timestamp": stamp, "x-zm-signature": sign(secret, stamp, request.body)}
    if request.content_type:
        headers["content-type"] = request.content_type
    if request.signing == "none":
        headers.pop("x-zm-signature")
    elif request.signing == "garbage":
        headers["x-zm-signature"] = "v0=" + "0" * 64
    elif request.signing == "no_timestamp":
        headers.pop("x-zm-request-timestamp")
    return headers


@dataclass
class IngestUnderTest:
    """The in-memory ingest app and what reached its Kafka topic."""

    client: TestClient[Any, Any]
    kafka: list[bytes]
    max_bytes: int
    tally: Tally = field(default_factory=Tally)

    async def send(self, request: ZoomRequest) -> tuple[int, dict[str, Any], int]:
        """POST ``request``; (status, JSON answer or {}, events published by it)."""
        before = len(self.kafka)
        started = time.perf_counter()
        response = await self.client.post(request.path, data=request.body, headers=zoom_headers(request))
        raw = await response.read()
        self.tally.add(response.status, time.perf_counter() - started)
        added = len(self.kafka) - before
        self.tally.published += added
        try:
            answer = await response.json(content_type=None) if raw else {}
        except ValueError:
            answer = {}
        return response.status, answer if isinstance(answer, dict) else {}, added


class KnownJobs(Jobs):
    """The jobs table with one Symbl and one AssemblyAI job (no MongoDB)."""

    def __init__(self) -> None:
        self.records = {ref: _job(provider, ref, job_id) for provider, (ref, job_id) in JOBS.items()}

    async def by_ref(self, job_ref: str) -> JobRecord | None:
        return self.records.get(job_ref)


def _job(provider: str, ref: str, job_id: str) -> JobRecord:
    return JobRecord.from_doc(
        {
            "_id": ref,
            "tenant": "acme",
            "meeting_uuid": f"meeting-{provider}==",
            "provider": provider,
            "job_id": job_id,
            "job_ref": ref,
            "idempotency_key": ref,
            "status": "in_progress",
        }
    )


def notifier_settings() -> NotifierSettings:
    return NotifierSettings(infra=INFRA, callback_secret=SecretStr(CALLBACK_SECRET), max_body_bytes=16 * 1024)


def callback_token(request: CallbackRequest) -> str:
    """The token ``request.token_kind`` stands for."""
    other = "assemblyai" if request.provider == "symbl" else "symbl"
    if request.token_kind == "valid":
        return make_callback_token(CALLBACK_SECRET, JOBS[request.provider][0])
    if request.token_kind == "other_provider":
        return make_callback_token(CALLBACK_SECRET, JOBS[other][0])
    if request.token_kind == "unknown_job":
        return make_callback_token(CALLBACK_SECRET, "ref-nobody-knows")
    if request.token_kind == "tampered":
        token = make_callback_token(CALLBACK_SECRET, JOBS[request.provider][0])
        return token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    return "" if request.token_kind == "empty" else request.random_token


@dataclass
class NotifierUnderTest:
    """The notifier's callback routes and the events they published."""

    client: TestClient[Any, Any]
    published: list[Event]
    tally: Tally = field(default_factory=Tally)

    async def send(self, request: CallbackRequest) -> tuple[int, int]:
        """POST ``request``; (status, events published by it)."""
        token = callback_token(request)
        headers = {"content-type": "application/json"}
        path = "/webhooks/assemblyai"
        if request.provider == "symbl":
            path = "/webhooks/symbl/" + quote(token, safe="", errors="surrogatepass")
        else:
            # HTTP forbids control characters in a header value (CR/LF would end it); clients refuse to send them.
            raw = token.encode("utf-8", "surrogatepass").decode("latin-1")
            headers["x-zoomsymbl-callback"] = "".join(c for c in raw if c == "\t" or " " <= c != "\x7f")
        before = len(self.published)
        data: Any = _chunks(request.body) if request.chunked else request.body
        started = time.perf_counter()
        response = await self.client.post(path, data=data, headers=headers)
        await response.read()
        self.tally.add(response.status, time.perf_counter() - started)
        added = len(self.published) - before
        self.tally.published += added
        return response.status, added


async def _chunks(body: bytes) -> Any:
    for start in range(0, len(body), 1000):
        yield body[start : start + 1000]


@asynccontextmanager
async def running_ingest(max_bytes: int) -> AsyncIterator[IngestUnderTest]:
    """Ingest's real routes and intake, an in-memory Kafka broker, tenants ``acme`` (default) and ``globex``."""
    received: list[bytes] = []

    class Bodies:
        """What Kafka would have been given: each event's JSON (its headers: tests/ingest/test_producer.py)."""

        async def publish(self, event: Event, *, timeout: float) -> None:
            received.append(event.model_dump_json().encode())

    metrics = IngestMetrics.create()
    app = create_app(IngestSettings(infra=INFRA, max_body_bytes=max_bytes), metrics)
    app[TENANTS] = Tenants(
        [
            TenantConfig(id="acme", zoom_webhook_secret=SecretStr(WEBHOOK_SECRET)),
            TenantConfig(id="globex", zoom_webhook_secret=SecretStr(OTHER_SECRET)),
        ],
        default="acme",
    )
    app[INTAKE] = Intake(Bodies(), MemoryReceipts(), MemoryTokens(), metrics, store_timeout=0.5)
    async with TestClient(TestServer(app)) as client:
        yield IngestUnderTest(client, received, max_bytes)


@asynccontextmanager
async def running_notifier() -> AsyncIterator[NotifierUnderTest]:
    """The notifier's real callback routes; published events go through JSON as on the way to Kafka."""
    settings = notifier_settings()
    published: list[Event] = []

    async def publish(event: Event, timeout: float) -> None:
        published.append(type(event).model_validate_json(event.model_dump_json()))

    app = web.Application(client_max_size=settings.max_body_bytes)
    add_webhook_routes(app)
    app[CALLBACK_DEPS] = CallbackDeps(settings, KnownJobs(), publish, CallbackMetrics(CollectorRegistry()))
    async with TestClient(TestServer(app)) as client:
        yield NotifierUnderTest(client, published)
