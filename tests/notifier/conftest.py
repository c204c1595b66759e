"""Fixtures of the notifier tests: an SMTP server of their own, the provider sandboxes, the notifier in memory.

Kafka is FastStream's in-memory test broker in the ``notifier`` fixture; MongoDB, the sandboxes and
the SMTP server are real. The sandboxes, ``tone_audio`` and ``receiver`` come from ``tests.support.providers``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from faststream import Context
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.message import KafkaMessage
from zoomsymbl_common.events import DeadLetter, Event, InsightsReady, JobStatusReported, MeetingFailed
from zoomsymbl_common.kafka import Consumer, RetryPolicy, make_broker, publish_event, topic_name
from zoomsymbl_common.mongo import Document, Mongo
from zoomsymbl_common.records import JOBS, MEETINGS
from zoomsymbl_common.service import MONGO, TENANTS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.tenants import Tenants
from zoomsymbl_notifier.app import HTTP, REGISTRY, SETTINGS, build_pipeline
from zoomsymbl_notifier.handlers import register_subscribers
from zoomsymbl_notifier.jobs import JobRecord, Jobs
from zoomsymbl_notifier.pipeline import Pipeline
from zoomsymbl_notifier.settings import Settings
from zoomsymbl_notifier.sweeper import Sweeper
from zoomsymbl_notifier.webhooks import CALLBACK_DEPS, CallbackDeps, CallbackMetrics, add_webhook_routes
from zoomsymbl_sandbox.provider_jobs import JobTimings

from tests.notifier.harness import (
    AAI_KEY,
    TENANT,
    Submitter,
    SymblSandbox,
    aai_tenant,
    make_settings,
    make_tenant,
)
from tests.notifier.harness_smtp import SmtpSink
from tests.support.eventually import eventually
from tests.support.providers import ProviderSandboxes, url

DRAIN_ERRORS: list[BaseException] = []
_MESSAGE = Context("message")


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpSink]:
    sink = SmtpSink()
    await sink.start()
    yield sink
    await sink.stop()


@pytest.fixture
async def symbl(sandboxes: ProviderSandboxes) -> SymblSandbox:
    server = await sandboxes.symbl(timings=JobTimings(0.3, 0.1), max_concurrent_jobs=10)
    return SymblSandbox(server, url(server))


@pytest.fixture
async def assemblyai(sandboxes: ProviderSandboxes) -> str:
    return url(await sandboxes.assemblyai(api_key=AAI_KEY, timings=JobTimings(0.3, 0.1)))


# ------------------------------------------------------------------ the notifier in memory (Kafka) + real Mongo


@dataclass
class Notifier:
    """The notifier's pipeline with an in-memory Kafka broker, and its callback routes on a test server."""

    settings: Settings
    mongo: Mongo
    pipeline: Pipeline
    submitter: Submitter
    symbl: SymblSandbox
    smtp: SmtpSink
    url: str
    queue: asyncio.Queue[Event]
    publish_to_kafka: Callable[[Event], Awaitable[None]]
    ready: list[InsightsReady]
    dead_letters: list[DeadLetter]

    @property
    def jobs(self) -> Jobs:
        return self.pipeline.jobs

    async def job(self, job: JobRecord) -> Document:
        doc = await self.mongo.db[JOBS].find_one({"_id": job.key})
        assert doc is not None
        return doc

    async def meeting(self, meeting_uuid: str, tenant: str = TENANT) -> Document:
        doc = await self.mongo.db[MEETINGS].find_one({"tenant": tenant, "meeting_uuid": meeting_uuid})
        assert doc is not None
        return doc

    async def processed(self, job: JobRecord, timeout: float = 20.0) -> Document:
        """Wait until everything the notifier does for ``job`` is done and no callback is pending."""

        async def done() -> bool:
            return (await self.job(job)).get("processed_at") is not None and self.queue.empty()

        await eventually(done, timeout=timeout, what=f"job {job.job_id!r} to be processed")
        await self.queue.join()
        assert not DRAIN_ERRORS, DRAIN_ERRORS
        return await self.job(job)

    async def sweep(self) -> None:
        await Sweeper(self.pipeline).sweep()

    async def sandbox_done(self, job: JobRecord) -> None:
        """Wait until the Symbl sandbox finished ``job`` (whatever became of its callbacks)."""

        async def finished() -> bool:
            sandbox_job = self.symbl.state.board.jobs.get(job.job_id)
            return sandbox_job is not None and sandbox_job.finished

        await eventually(finished, what="the sandbox job to finish")

    async def callback(self, job: JobRecord, status: str) -> int:
        """Post a Symbl callback for ``job`` with its valid token; the HTTP status of the answer."""
        assert job.job_ref is not None
        body = {"jobId": job.job_id, "status": status}
        async with self.submitter.session.post(self.submitter.callback_url(job.job_ref), json=body) as resp:
            return resp.status


@pytest.fixture
async def notifier(
    infra: InfraSettings, mongo: Mongo, symbl: SymblSandbox, assemblyai: str, smtp: SmtpSink, tone_audio: Path
) -> AsyncIterator[Notifier]:
    settings = make_settings(infra, smtp.port)
    broker = make_broker(infra, "notifier")
    async with aiohttp.ClientSession() as session:
        app = web.Application()
        tenants = Tenants([make_tenant(symbl.url), aai_tenant(assemblyai)])
        app[SETTINGS], app[TENANTS], app[MONGO], app[HTTP] = settings, tenants, mongo, session
        from prometheus_client import CollectorRegistry

        app[REGISTRY] = CollectorRegistry()
        pipeline = build_pipeline(app, broker)
        consumer = Consumer(
            broker, infra, "notifier", policy=RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.1)
        )
        register_subscribers(broker, consumer, pipeline)
        ready, dead = _collectors(broker, infra)
        async with TestKafkaBroker(broker):
            async with _callback_server(settings, pipeline, broker, infra, app[REGISTRY]) as (url, queue):
                submitter = Submitter(
                    mongo, session, symbl.url, tone_audio, callback_base=url, assemblyai_url=assemblyai
                )

                async def publish(event: Event) -> None:
                    await publish_event(broker, infra, event, timeout=60)

                yield Notifier(settings, mongo, pipeline, submitter, symbl, smtp, url, queue, publish, ready, dead)


def _collectors(broker: KafkaBroker, infra: InfraSettings) -> tuple[list[InsightsReady], list[DeadLetter]]:
    """Record what the notifier publishes: InsightsReady and dead letters of its input topics."""
    ready: list[InsightsReady] = []
    dead: list[DeadLetter] = []

    @broker.subscriber(topic_name(infra, InsightsReady.topic))
    async def on_ready(msg: KafkaMessage = _MESSAGE) -> None:
        ready.append(InsightsReady.model_validate_json(msg.body))

    @broker.subscriber(DeadLetter.topic_for(topic_name(infra, JobStatusReported.topic)))
    async def on_dead(msg: KafkaMessage = _MESSAGE) -> None:
        dead.append(DeadLetter.model_validate_json(msg.body))

    @broker.subscriber(DeadLetter.topic_for(topic_name(infra, MeetingFailed.topic)))
    async def on_dead_failure(msg: KafkaMessage = _MESSAGE) -> None:
        dead.append(DeadLetter.model_validate_json(msg.body))

    return ready, dead


@contextlib.asynccontextmanager
async def _callback_server(
    settings: Settings, pipeline: Pipeline, broker: Any, infra: InfraSettings, registry: Any
) -> AsyncIterator[tuple[str, asyncio.Queue[Event]]]:
    """The real callback routes; what they publish is fed to the in-memory broker one by one, in order."""
    queue: asyncio.Queue[Event] = asyncio.Queue()
    DRAIN_ERRORS.clear()

    async def publish(event: Event, timeout: float) -> None:
        await queue.put(event)

    async def drain() -> None:
        while True:
            event = await queue.get()
            try:
                await publish_event(broker, infra, event, timeout=60)
            except Exception as exc:  # surfaced by Notifier.processed, so a test fails with the cause
                DRAIN_ERRORS.append(exc)
            finally:
                queue.task_done()

    app = web.Application()
    add_webhook_routes(app)
    app[CALLBACK_DEPS] = CallbackDeps(settings, pipeline.jobs, publish, CallbackMetrics(registry))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    task = asyncio.create_task(drain())
    try:
        yield str(server.make_url("")).rstrip("/"), queue
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await server.close()
