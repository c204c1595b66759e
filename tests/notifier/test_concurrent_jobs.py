"""``concurrent_jobs`` > 1 on real Kafka: meetings completing at once on several partitions each get one e-mail.

With ``ZOOMSYMBL_NOTIFIER_CONCURRENT_JOBS=6`` the notifier runs six consumers of
``provider.job-status.v1`` (6 partitions here, the chart's default) in one group, so the meetings of
different partitions are handled at once. What can break the one-e-mail guarantee is not two
meetings at once but one meeting handled twice at once: a consumer group of several members
rebalances (another consumer or replica joins, a pod restarts), and a partition moves to a new owner
while its message is still being handled; the new owner reads from the last committed offset, so
the same completion runs in two handlers together. Only the outbox stands between that and two
e-mails: each handler, having stored the insights itself, records the intent already claimed for its
first send (insights event, meeting stage and composing come first), and the unique index
``email_unique`` refuses the second one, whose handler then finds the e-mail sent or being sent.

The test makes that race happen on purpose, with positive signals and no sleeps: two notifier
processes with ``concurrent_jobs=6`` share the group (twelve consumers, six partitions); the Symbl
API they call goes through a proxy that holds every job-status request. Twelve meetings whose keys
cover all six partitions complete at once while only the first process runs; once each busy
partition's handler is held, the second process joins, the group rebalances, and the moved
partitions' messages are delivered again (more status requests are held than partitions are busy).
Then everything is released together: the original and the redelivered handler of each moved
meeting race through insights → claimed intent. The test asserts exactly one ``emails`` document and
exactly one SMTP message per meeting, after the consumer groups have committed everything.

It can fail: without the unique index both racing handlers (held at the provider's status call and
released together) insert an intent claimed for sending, so a moved meeting has two ``emails``
documents and two messages. A consumer mode that handled one partition's messages at once, or a
rebalance that lost a completion (a meeting with no e-mail), fails it too. The speed of
``concurrent_jobs`` is measured in bench/bench_notifier.py, not here.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiokafka.partitioner import DefaultPartitioner
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import EMAILS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.topics import TopicPlan, create_topics, topic_specs
from zoomsymbl_sandbox.provider_jobs import JobTimings

from tests.notifier.harness import APP_ID, APP_SECRET, SECRET, TENANT, Submitter
from tests.notifier.harness_smtp import SmtpSink, free_port
from tests.support.consumer_lag import wait_drained
from tests.support.eventually import eventually
from tests.support.providers import ProviderSandboxes, url

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARTITIONS = 6
JOBS_AT_ONCE = "6"
MEETINGS = 12


def partition_of(meeting_uuid: str) -> int:
    """The partition of ``provider.job-status.v1`` a meeting's statuses land on (the producer's partitioner)."""
    every = list(range(PARTITIONS))
    return int(DefaultPartitioner()(f"{TENANT}\x1f{meeting_uuid}".encode(), every, every))


def meeting_names() -> list[str]:
    """``MEETINGS`` meeting uuids whose keys land on every partition (a fixed, deterministic choice)."""
    names: list[str] = []
    seen: Counter[int] = Counter()
    index = 0
    while len(names) < MEETINGS:
        name = f"m-concurrent-{index:03d}"
        index += 1
        if seen[partition_of(name)] < MEETINGS // PARTITIONS:
            seen[partition_of(name)] += 1
            names.append(name)
    return names


@dataclass
class HoldingProxy:
    """In front of the Symbl sandbox: holds every job-status request until ``release`` is set."""

    upstream: str
    url: str = ""
    held: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    runner: web.AppRunner | None = None
    session: aiohttp.ClientSession | None = None

    async def start(self) -> str:
        self.session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def _forward(self, request: web.Request) -> web.Response:
        if request.method == "GET" and request.path.startswith("/v1/job/"):
            async with self.changed:
                self.held += 1
                self.changed.notify_all()
            await self.release.wait()
        assert self.session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with self.session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=await request.read()
        ) as resp:
            body = await resp.read()
            return web.Response(status=resp.status, body=body, content_type=resp.content_type)

    async def wait_held(self, more_than: int, timeout: float = 60.0) -> int:
        """Until more than ``more_than`` status requests are held; how many are."""
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: self.held > more_than), timeout)
            return self.held

    async def stop(self) -> None:
        self.release.set()
        if self.runner is not None:
            await self.runner.cleanup()
        if self.session is not None:
            await self.session.close()


class Notifier:
    """One ``python -m zoomsymbl_notifier`` process with its log file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.base = f"http://127.0.0.1:{env['ZOOMSYMBL_NOTIFIER_HTTP_PORT']}"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, session: aiohttp.ClientSession) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "zoomsymbl_notifier", env=self.env, stdout=out, stderr=out
            )

        async def ready() -> bool:
            assert self.proc is not None and self.proc.returncode is None, self.log.read_text()[-3000:]
            try:
                async with session.get(f"{self.base}/readyz") as resp:
                    return resp.status == 200
            except aiohttp.ClientError:
                return False

        await eventually(ready, timeout=60, what="the notifier to be ready")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 40)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


@pytest.fixture
async def proxy(sandboxes: ProviderSandboxes) -> AsyncIterator[tuple[HoldingProxy, str]]:
    """The Symbl sandbox (room for every job at once) and the holding proxy in front of it."""
    server = await sandboxes.symbl(timings=JobTimings(0.3, 0.1), max_concurrent_jobs=MEETINGS)
    holding = HoldingProxy(url(server))
    await holding.start()
    yield holding, url(server)
    await holding.stop()


@pytest.fixture
async def notifiers(
    infra: InfraSettings, proxy: tuple[HoldingProxy, str], smtp: SmtpSink, tmp_path: Path
) -> AsyncIterator[list[Notifier]]:
    """Two notifier processes (not started) of one group, ``concurrent_jobs=6``, on 6-partition topics."""
    plan = TopicPlan(partitions=PARTITIONS, replication=1, prefix=infra.kafka_topic_prefix)
    await create_topics(infra.kafka_bootstrap, topic_specs(plan))
    tenants = tmp_path / "tenants.json"
    tenant = {"id": TENANT, "zoom_webhook_secret": "zoom-webhook-secret-for-tests", "provider": "symbl",
              "symbl_app_id": APP_ID, "symbl_app_secret": APP_SECRET, "symbl_api_base": proxy[0].url}  # fmt: skip
    tenants.write_text(json.dumps({"tenants": [tenant]}))
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZOOMSYMBL_")}
    env |= {
        "ZOOMSYMBL_TENANTS_FILE": str(tenants),
        "ZOOMSYMBL_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "ZOOMSYMBL_KAFKA_TOPIC_PREFIX": infra.kafka_topic_prefix,
        "ZOOMSYMBL_MONGO_URI": infra.mongo_uri.get_secret_value(),
        "ZOOMSYMBL_MONGO_DATABASE": infra.mongo_database,
        "ZOOMSYMBL_NOTIFIER_HTTP_HOST": "127.0.0.1",
        "ZOOMSYMBL_NOTIFIER_CALLBACK_SECRET": SECRET,
        "ZOOMSYMBL_NOTIFIER_SMTP_HOST": "127.0.0.1",
        "ZOOMSYMBL_NOTIFIER_SMTP_PORT": str(smtp.port),
        "ZOOMSYMBL_NOTIFIER_MAIL_FROM": "notifier@zoomsymbl.test",
        "ZOOMSYMBL_NOTIFIER_SUMMARY_RETRY_DELAY_SECONDS": "0.05",
        "ZOOMSYMBL_NOTIFIER_CONCURRENT_JOBS": JOBS_AT_ONCE,
        "ZOOMSYMBL_NOTIFIER_KAFKA_SESSION_TIMEOUT_MS": "6000",
    }
    started = [
        Notifier(env | {"ZOOMSYMBL_NOTIFIER_HTTP_PORT": str(free_port())}, tmp_path / f"notifier-{n}.log")
        for n in ("a", "b")
    ]
    yield started
    await asyncio.gather(*(n.stop() for n in started))


async def test_meetings_completing_at_once_across_a_rebalance_get_one_email_each(
    notifiers: list[Notifier],
    proxy: tuple[HoldingProxy, str],
    mongo: Mongo,
    smtp: SmtpSink,
    infra: InfraSettings,
    tone_audio: Path,
) -> None:
    holding, symbl_url = proxy
    first, second = notifiers
    names = meeting_names()
    busy = {partition_of(n) for n in names}
    assert busy == set(range(PARTITIONS)), "the meetings cover every partition"
    async with aiohttp.ClientSession() as session:
        await first.start(session)
        submitter = Submitter(mongo, session, symbl_url, tone_audio, callback_base=first.base)
        for name in names:
            await submitter.meeting(name, topic=f"Concurrent {name}")
        await asyncio.gather(*(submitter.submit(name) for name in names))

        # Every busy partition's handler is inside the job-status call (the first process's six consumers).
        await holding.wait_held(more_than=len(busy) - 1)
        before = holding.held
        await second.start(session)
        # The group rebalanced over twelve consumers and moved partitions were delivered again.
        await holding.wait_held(more_than=before)
        holding.release.set()

        async def reports() -> int:
            return await mongo.db[EMAILS].count_documents({"kind": "report", "status": "sent"})

        await eventually(reports, lambda n: n >= MEETINGS, timeout=60, what="a report e-mail for every meeting")
        await wait_drained(infra.kafka_bootstrap, infra.kafka_topic_prefix, timeout=60)

    emails = Counter(d["meeting_uuid"] for d in await mongo.db[EMAILS].find({}, {"meeting_uuid": 1}).to_list(None))
    assert emails == dict.fromkeys(names, 1), "one e-mail document per meeting"
    subjects = Counter(str(m["Subject"]) for m in smtp.messages)
    assert subjects == {f"Meeting summary: Concurrent {n}": 1 for n in names}, "one SMTP message per meeting"
