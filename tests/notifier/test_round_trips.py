"""How many MongoDB round trips one completion costs the notifier: a ceiling, so it cannot creep back up.

The local MongoDB-wire server is the shared bound of the notifier's throughput (docs/performance.md,
"Notifier: 100 meetings completing at once"): each command costs a few milliseconds of its CPU, and
100 meetings completing at once queue behind each other there. So the count of commands one
completion sends is a property worth pinning, measured here with pymongo's command monitoring on a
client of the notifier's own: every command of one job status message as the consumer policy runs
it (attempts counted in MongoDB, as the service does), from the attempt counted to the message done,
the e-mail accepted by SMTP in between. The attempt count is dropped behind the message (queued, then
one ``delete`` command for a batch of messages): not on the path, and checked here to be dropped all the
same. The callback endpoint's job lookup (one ``find`` before the message exists) is not part of it.

It can fail: one more read or write on the path pushes the count over the ceiling, and the failure
lists every command with its collection.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from pymongo import AsyncMongoClient, monitoring
from zoomsymbl_common.attempts import MongoAttempts
from zoomsymbl_common.events import Event, InsightsReady, JobStatusReported, stable_id
from zoomsymbl_common.kafka import Consumer, make_broker, topic_name
from zoomsymbl_common.mongo import Document, Mongo
from zoomsymbl_common.records import CONSUMER_ATTEMPTS, EMAILS, JOBS
from zoomsymbl_common.service import MONGO, TENANTS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.tenants import Tenants
from zoomsymbl_notifier.app import HTTP, REGISTRY, SETTINGS, build_pipeline
from zoomsymbl_notifier.handlers import on_give_up, on_job_status_reported
from zoomsymbl_notifier.jobs import JobRecord
from zoomsymbl_notifier.pipeline import Pipeline
from zoomsymbl_sandbox.provider_testkit import CallbackReceiver

from tests.notifier.harness import Submitter, SymblSandbox, make_settings, make_tenant
from tests.notifier.harness_smtp import SmtpSink
from tests.support.eventually import eventually

pytestmark = pytest.mark.integration

# The commands of one first completion of a one-part meeting, and of a redelivery of it: 22 and 12
# before reads were passed down instead of repeated and a first send was recorded claimed, 12 and 3
# before the attempt count was dropped behind the message (issue 21).
# A first completion: attempt counted, job read, status applied, meeting to processing (its facts
# returned), slot freed, insights stored, meeting completed, e-mail recorded claimed, e-mail marked
# sent, meeting notified, job marked (insights stored, processed). The meeting records the job's plan
# (the submitter's mark once the part went in), read with its facts: nothing more is looked up.
FIRST_COMPLETION_MAX = 11
# The job finished before the submitter marked its meeting: the generation's jobs are read too, to tell whether
# another plan of it finished first (the rule the meeting page shows by, zoomsymbl_common.part_plans).
UNMARKED_COMPLETION_MAX = FIRST_COMPLETION_MAX + 1
# A redelivery of a finished job: attempt counted, job read.
REDELIVERY_MAX = 2


class Commands(monitoring.CommandListener):
    """Every command the client sent, as ``(command, collection)``."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.filters: list[object] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.append((event.command_name, str(event.command.get(event.command_name, ""))))
        self.filters.append(event.command.get("filter"))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@dataclasses.dataclass
class Counted:
    """The notifier's pipeline on a client whose commands are counted, under the service's consumer policy."""

    pipeline: Pipeline
    consumer: Consumer
    attempts: MongoAttempts
    commands: Commands
    ready: list[Event]

    async def handle(self, event: JobStatusReported) -> list[tuple[str, str]]:
        """Run ``event`` as the job-status consumer does; the commands it sent."""
        self.commands.sent.clear()
        topic = topic_name(self.consumer.infra, JobStatusReported.topic)
        await self.consumer.consume(
            topic,
            event.model_dump_json().encode(),
            JobStatusReported,
            partial(on_job_status_reported, self.pipeline),
            partial(on_give_up, self.pipeline),
        )
        return list(self.commands.sent)

    async def dropped_behind(self) -> list[tuple[str, str]]:
        """Delete the queued attempt counts as the service does behind its messages; the commands it sent."""
        self.commands.sent.clear()
        await self.attempts.flush()
        return list(self.commands.sent)


@pytest.fixture
async def counted(infra: InfraSettings, mongo: Mongo, symbl: SymblSandbox, smtp: SmtpSink) -> AsyncIterator[Counted]:
    commands = Commands()
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        infra.mongo_uri.get_secret_value(), tz_aware=True, event_listeners=[commands]
    )
    ready: list[Event] = []

    async def publish(event: Event) -> None:
        ready.append(event)

    async with aiohttp.ClientSession() as session:
        app = web.Application()
        app[SETTINGS], app[TENANTS] = make_settings(infra, smtp.port), Tenants([make_tenant(symbl.url)])
        app[MONGO], app[HTTP], app[REGISTRY] = Mongo(client, client[infra.mongo_database]), session, CollectorRegistry()
        broker = make_broker(infra, "notifier")  # never started: only a dead letter would use it
        pipeline = dataclasses.replace(build_pipeline(app, broker), publish=publish)
        # Deleted behind only when asked (the service's linger is 0.1 s): its delete is counted on its own.
        attempts = MongoAttempts(app[MONGO], linger=3600)
        consumer = Consumer(broker, infra, "notifier", attempts=attempts)
        yield Counted(pipeline, consumer, attempts, commands, ready)
        await attempts.close()
    await client.close()


async def _completed_job(
    mongo: Mongo, symbl: SymblSandbox, receiver: CallbackReceiver, tone_audio: Path, meeting_uuid: str, marked: bool
) -> JobRecord:
    """A one-part meeting whose Symbl job finished (its callbacks went elsewhere); ``marked``: the submitter recorded
    its plan (``mark_submitted``)."""
    record: dict[str, Any] = {"submitted_generation": 0, "provider": "symbl", "part_count": 1} if marked else {}
    async with aiohttp.ClientSession() as session:
        submitter = Submitter(mongo, session, symbl.url, tone_audio)
        await submitter.meeting(meeting_uuid, **record)
        job = await submitter.submit(meeting_uuid, webhook_url=f"{receiver.base_url}/cb")

    async def finished() -> bool:
        sandbox_job = symbl.state.board.jobs.get(job.job_id)
        return sandbox_job is not None and sandbox_job.finished

    await eventually(finished, what="the sandbox job to finish")
    return job


def _report(job: JobRecord, via: str) -> JobStatusReported:
    return JobStatusReported(
        event_id=stable_id(via, job.provider, job.job_id, "completed"),
        tenant=job.tenant,
        meeting_uuid=job.meeting_uuid,
        generation=job.generation,
        provider=job.provider,
        job_id=job.job_id,
        reported_status="completed",
        via=via,
    )


@pytest.mark.parametrize(("marked", "ceiling"), [(True, FIRST_COMPLETION_MAX), (False, UNMARKED_COMPLETION_MAX)])
async def test_a_completion_and_its_redelivery_stay_within_their_round_trips(
    counted: Counted,
    mongo: Mongo,
    symbl: SymblSandbox,
    smtp: SmtpSink,
    receiver: CallbackReceiver,
    tone_audio: Path,
    marked: bool,
    ceiling: int,
) -> None:
    job = await _completed_job(mongo, symbl, receiver, tone_audio, "m-round-trips", marked)

    first = await counted.handle(_report(job, "callback"))

    assert len(smtp.messages) == 1, "the completion was e-mailed"
    assert [type(e) for e in counted.ready] == [InsightsReady]
    assert len(first) <= ceiling, f"{len(first)} round trips: {first}"
    done = await mongo.db[JOBS].find_one({"_id": job.key})
    assert done is not None and done["processed_at"] and done["insights_stored_at"], "every step recorded"
    assert await counted.dropped_behind() == [("delete", CONSUMER_ATTEMPTS)], "the attempt count dropped behind"
    assert await mongo.db[CONSUMER_ATTEMPTS].count_documents({}) == 0

    again = await counted.handle(_report(job, "sweeper"))

    assert len(smtp.messages) == 1 and len(counted.ready) == 1, "a redelivery sends and announces nothing again"
    assert await mongo.db[EMAILS].count_documents({"meeting_uuid": "m-round-trips"}) == 1
    assert len(again) <= REDELIVERY_MAX, f"{len(again)} round trips: {again}"
    assert await counted.dropped_behind() == [("delete", CONSUMER_ATTEMPTS)]
    assert await mongo.db[CONSUMER_ATTEMPTS].count_documents({}) == 0, "the redelivery's count dropped too"


async def test_a_callbacks_job_lookup_and_its_status_messages_are_reads_by_id_alone(
    counted: Counted, mongo: Mongo
) -> None:
    # The submitter stores a job under its ref; the local FerretDB scans the collection for any other filter.
    await mongo.db[JOBS].insert_one(
        {"_id": "acme:m:0:0:ref", "job_ref": "acme:m:0:0:ref", "idempotency_key": "acme:m:0:0:ref", "tenant": "acme",
         "meeting_uuid": "m", "provider": "assemblyai", "job_id": "j-1", "status": "scheduled"}
    )  # fmt: skip
    counted.commands.sent.clear()
    counted.commands.filters.clear()
    job = await counted.pipeline.jobs.by_ref("acme:m:0:0:ref")
    assert job is not None and job.job_id == "j-1"
    assert (counted.commands.sent, counted.commands.filters) == ([("find", JOBS)], [{"_id": "acme:m:0:0:ref"}])
    # The job-status message the callback publishes is handled here too (one replica, or this one of two).
    counted.commands.sent.clear()
    counted.commands.filters.clear()
    again = await counted.pipeline.jobs.by_provider_id("assemblyai", "j-1")
    assert again is not None and again.key == "acme:m:0:0:ref"
    assert (counted.commands.sent, counted.commands.filters) == ([("find", JOBS)], [{"_id": "acme:m:0:0:ref"}])
