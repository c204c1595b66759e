"""The earlier generation's completion and the re-run's failure handled at the same time, by two notifier replicas
(real MongoDB-wire server, real SMTP server, the Symbl sandbox): the host is never left with nothing.

A forced replay re-ran the meeting (generation 1) while generation 0's job was still at the provider. Then, at once,
replica A handles generation 0's completion and replica B generation 1's failure (its provider job failed, or the
mixer gave up on it). Each writes before it reads: A marks its insights stored, then re-reads the meeting
(``Pipeline._superseded``); B marks the meeting failed, then reads the meeting's jobs for a finished earlier
generation (``generations.stand_in``). Whatever the order of those four calls, one side sees the other, so the
finished report goes out; when both see each other, the outbox's unique key keeps it to one e-mail.

Each round forces one order (a :class:`Schedule`: "ABBA" lets A's first call through, then B's first and second,
then A's second; the other calls run freely, so two stand-ins still race on the outbox). All six orders are run for
each way the re-run fails; the rounds without a schedule let the two handlers race as they come (the failure's path
is the shorter one: they mostly end as ``BBAA`` does).

FerretDB's conditional updates, as released, are not isolated under concurrency (``zoomsymbl_common.limiter``): no
document here is updated by both sides (A writes generation 0's job, B the meeting, whose filter on generation 0 A's
own moves never match); the one both write, the stand-in report's intent, is a unique-key insert, which stays exact.

What the host gets, by order: the report of generation 0 standing in for the failed re-run, once, except when B's
read comes before A's write (``BBAA``): B sees nothing finished and sends the failure notice, then A sees the meeting
failed and sends the report after it (the two e-mails the host gets when the failure is handled first, as
``test_superseded_generation`` pins for that sequence). A tenant without failure notices gets the report alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Literal

import pytest
from zoomsymbl_common.events import JobStatusReported, MeetingFailed
from zoomsymbl_common.mongo import Mongo, make_mongo
from zoomsymbl_common.records import EMAILS, MEETINGS
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_notifier.handlers import on_job_status_reported, on_meeting_failed
from zoomsymbl_notifier.jobs import JobRecord, Jobs, Mark
from zoomsymbl_notifier.meetings import Meetings, Position
from zoomsymbl_notifier.outbox import Backoff, Outbox
from zoomsymbl_notifier.pipeline import Pipeline
from zoomsymbl_notifier.smtp import SmtpTransport

from tests.notifier.conftest import Notifier
from tests.notifier.harness import TENANT, make_tenant

pytestmark = pytest.mark.integration

Side = Literal["A", "B"]
Failure = Literal["provider", "mixer"]
UNUSED = "http://127.0.0.1:9/unused"  # the sandbox's own callbacks go nowhere: the test hands the reports over
REPORT = ("Meeting summary",)  # generation 0's report, standing in for the re-run's notice
NOTICE_AND_REPORT = ("Meeting summary", "[Update 1] Processing failed")
ORDERS = ("AABB", "ABAB", "ABBA", "BAAB", "BABA", "BBAA")
# What the host gets in each order (of A's write and read, B's write and read) when the tenant wants notices.
WITH_NOTICES = {order: REPORT for order in ORDERS} | {"BBAA": NOTICE_AND_REPORT}
WITHOUT_NOTICES = dict.fromkeys(ORDERS, REPORT)
FREE_ROUNDS = 4


class Schedule:
    """Lets the two replicas' gated calls reach MongoDB one at a time, in ``order`` (a string of sides): a side's
    call waits for the side's next turn and hands the turn on once MongoDB answered. A side with no turn left (or no
    schedule: ``order`` empty) is not held; the turns of a side whose handler returned are dropped."""

    def __init__(self, order: str) -> None:
        self._order: list[str] = list(order)
        self._changed = asyncio.Condition()
        self.taken: list[str] = []

    @contextlib.asynccontextmanager
    async def turn(self, side: Side, call: str) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: side not in self._order or self._order[0] == side)
        try:
            yield
        finally:
            async with self._changed:
                if side in self._order:
                    self._order.remove(side)
                    self.taken.append(f"{side}: {call}")
                self._changed.notify_all()

    async def returned(self, side: Side) -> None:
        async with self._changed:
            self._order = [s for s in self._order if s != side]
            self._changed.notify_all()


class CompletionJobs(Jobs):
    """Replica A's jobs: its write, the first mark that records the insights stored, takes a turn."""

    def __init__(self, mongo: Mongo, schedule: Schedule) -> None:
        super().__init__(mongo)
        self._schedule, self._written = schedule, False

    async def mark(self, job: JobRecord, field: Mark, *also: Mark) -> None:
        if self._written or "insights_stored_at" not in (field, *also):
            return await super().mark(job, field, *also)
        self._written = True
        async with self._schedule.turn("A", "marks its insights stored"):
            await super().mark(job, field, *also)


class CompletionMeetings(Meetings):
    """Replica A's meetings: its read, the second read of the meeting's position (the first is ``_completes``'s,
    which finds the meeting re-run; the second is ``_superseded``'s, which decides), takes a turn."""

    def __init__(self, mongo: Mongo, schedule: Schedule) -> None:
        super().__init__(mongo)
        self._schedule, self._reads = schedule, 0

    async def position(self, tenant: str, meeting_uuid: str) -> Position | None:
        self._reads += 1
        if self._reads != 2:
            return await super().position(tenant, meeting_uuid)
        async with self._schedule.turn("A", "re-reads the meeting"):
            return await super().position(tenant, meeting_uuid)


class FailureJobs(Jobs):
    """Replica B's jobs: its read, the first look at the meeting's jobs of every generation, takes a turn."""

    def __init__(self, mongo: Mongo, schedule: Schedule) -> None:
        super().__init__(mongo)
        self._schedule, self._read = schedule, False

    async def of_meeting(self, tenant: str, meeting_uuid: str) -> list[JobRecord]:
        if self._read:
            return await super().of_meeting(tenant, meeting_uuid)
        self._read = True
        async with self._schedule.turn("B", "reads the meeting's jobs"):
            return await super().of_meeting(tenant, meeting_uuid)


class FailureMeetings(Meetings):
    """Replica B's meetings: its write, the meeting marked failed, takes a turn."""

    def __init__(self, mongo: Mongo, schedule: Schedule) -> None:
        super().__init__(mongo)
        self._schedule = schedule

    async def fail(self, tenant: str, meeting_uuid: str, generation: int, stage: str, reason: str) -> bool:
        async with self._schedule.turn("B", "marks the meeting failed"):
            return await super().fail(tenant, meeting_uuid, generation, stage, reason)


@dataclasses.dataclass
class Race:
    """Two replicas of the notifier (each its own MongoDB client) over the fixture's database, SMTP server and
    sandbox, and the rounds they race in."""

    notifier: Notifier
    clients: tuple[Mongo, Mongo]
    tenant: TenantConfig
    failure: Failure

    def replica(self, mongo: Mongo, jobs: Jobs, meetings: Meetings) -> Pipeline:
        settings = self.notifier.settings
        backoff = Backoff(
            settings.mail_retry_base_seconds,
            settings.mail_retry_max_seconds,
            settings.mail_lease_seconds,
            settings.mail_give_up_after_seconds,
        )
        return dataclasses.replace(
            self.notifier.pipeline,
            tenants=Tenants([self.tenant]),
            jobs=jobs,
            meetings=meetings,
            outbox=Outbox(mongo, SmtpTransport(settings), backoff),
        )

    async def round(self, label: str, order: str) -> tuple[str, ...]:
        """One meeting re-run, then A's completion and B's failure at once in ``order``: the subjects the host got."""
        meeting_uuid, topic = f"m-race-{label}", f"Budget review {label}"
        old, new = await self._two_generations(meeting_uuid, topic)
        schedule = Schedule(order)
        a_mongo, b_mongo = self.clients
        a = self.replica(a_mongo, CompletionJobs(a_mongo, schedule), CompletionMeetings(a_mongo, schedule))
        b = self.replica(b_mongo, FailureJobs(b_mongo, schedule), FailureMeetings(b_mongo, schedule))

        async def completion() -> None:
            await on_job_status_reported(a, _reported(old, "completed"))

        async def failure() -> None:
            if new is not None:
                await on_job_status_reported(b, _reported(new, "failed"))
                return
            # The mixer's give-up: the meeting marked failed (its write), then MeetingFailed for the notifier.
            await b.meetings.fail(TENANT, meeting_uuid, 1, "download", "zoom answered an error document")
            event = MeetingFailed(
                event_id=f"mixer-gave-up-{label}", tenant=TENANT, meeting_uuid=meeting_uuid, generation=1,
                service="mixer", stage="download", reason="zoom answered an error document",
            )  # fmt: skip
            await on_meeting_failed(b, event)

        await asyncio.gather(_side(schedule, "A", completion), _side(schedule, "B", failure))
        if order:
            assert len(schedule.taken) == 4, f"{label}: every gated call took its turn: {schedule.taken}"
        return await self._received(meeting_uuid, topic)

    async def _two_generations(self, meeting_uuid: str, topic: str) -> tuple[JobRecord, JobRecord | None]:
        """Generation 0's job done at the sandbox, the meeting re-run, and generation 1's job failed there (none when
        the mixer gives up on generation 1)."""
        submitter = self.notifier.submitter
        await submitter.meeting(meeting_uuid, topic=topic)
        old = await submitter.submit(meeting_uuid, webhook_url=UNUSED)
        meetings = self.notifier.mongo.db[MEETINGS]
        await meetings.update_one({"tenant": TENANT, "meeting_uuid": meeting_uuid}, {"$inc": {"generation": 1}})
        new = None
        if self.failure == "provider":
            new = await submitter.submit(meeting_uuid, generation=1, name="budget [fail]", webhook_url=UNUSED)
            await self.notifier.sandbox_done(new)
        await self.notifier.sandbox_done(old)
        return old, new

    async def _received(self, meeting_uuid: str, topic: str) -> tuple[str, ...]:
        """The subjects the SMTP server got for the meeting, sorted; every recorded e-mail is settled as sent."""
        cursor = self.notifier.mongo.db[EMAILS].find({"meeting_uuid": meeting_uuid})
        recorded = [
            (d["generation"], d["kind"], d.get("stands_in_for"), d["status"]) for d in await cursor.to_list(None)
        ]
        # Only these two, each sent: the report under generation 0's key, marked standing in for generation 1.
        assert set(recorded) <= {(0, "report", 1, "sent"), (1, "failure", None, "sent")}, recorded
        subjects = [str(m["Subject"]) for m in self.notifier.smtp.messages if str(m["Subject"]).endswith(topic)]
        return tuple(sorted(s.removesuffix(f": {topic}") for s in subjects))


async def _side(schedule: Schedule, side: Side, handle: Callable[[], Awaitable[None]]) -> None:
    try:
        await handle()
    finally:
        await schedule.returned(side)


def _reported(job: JobRecord, status: str) -> JobStatusReported:
    return JobStatusReported(
        event_id=f"status-{job.job_id}-{status}", tenant=job.tenant, meeting_uuid=job.meeting_uuid,
        generation=job.generation, provider="symbl", job_id=job.job_id, reported_status=status,
    )  # fmt: skip


@contextlib.asynccontextmanager
async def _race(notifier: Notifier, failure: Failure, *, notices: bool) -> AsyncIterator[Race]:
    infra = notifier.settings.infra
    clients = (make_mongo(infra), make_mongo(infra))
    try:
        yield Race(notifier, clients, make_tenant(notifier.symbl.url, failure_notice=notices), failure)
    finally:
        for client in clients:
            await client.close()


@pytest.mark.parametrize(
    ("failure", "notices", "expected"),
    [("provider", True, WITH_NOTICES), ("provider", False, WITHOUT_NOTICES), ("mixer", True, WITH_NOTICES)],
    ids=["provider-failure", "provider-failure-no-notices", "mixer-gave-up"],
)
async def test_every_order_of_the_completion_and_the_reruns_failure_leaves_the_host_the_report(
    notifier: Notifier, failure: Failure, notices: bool, expected: dict[str, tuple[str, ...]]
) -> None:
    """Never nothing, never the report twice: the report in every order, after the notice when B read first."""
    async with _race(notifier, failure, notices=notices) as race:
        got = {order: await race.round(order, order) for order in ORDERS}

    assert got == expected


@pytest.mark.parametrize("notices", [True, False], ids=["notices", "no-notices"])
async def test_the_completion_and_the_reruns_failure_racing_freely_leave_the_host_the_report(
    notifier: Notifier, notices: bool
) -> None:
    """No order forced: each round's two handlers start together and interleave as the servers answer."""
    allowed = {REPORT, NOTICE_AND_REPORT} if notices else {REPORT}
    async with _race(notifier, "provider", notices=notices) as race:
        got = [await race.round(f"free-{n}", "") for n in range(FREE_ROUNDS)]

    assert [g for g in got if g not in allowed] == []
