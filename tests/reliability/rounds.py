"""One round of meetings through the stack, whatever is injected meanwhile, and what came of it.

A round records its meetings in the Zoom sandbox, has "Zoom" deliver their webhooks, runs the
round's faults at the same time, waits until every meeting is notified or failed, then until every
service has handled every Kafka message it was given (a duplicate is on its way or done by then),
and reads every figure from the servers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import aiohttp
from zoomsymbl_sandbox.stack import Stack
from zoomsymbl_sandbox.zoom import MeetingSpec

from tests.reliability.meetings import Deliver, Delivery, add_meetings, by_sandbox, deliver_all
from tests.reliability.observe import Outcome, State, dead_letters, read_topics, stage_counts
from tests.reliability.private_infra import PrivateInfra
from tests.reliability.stack_config import TENANT
from tests.support.consumer_lag import wait_drained

SETTLE_TIMEOUT_S = 300.0  # a pipeline still busy this long after its meetings ended is stuck


async def settle(stack: Stack, infra: PrivateInfra) -> None:
    """Wait until every consumer group of ``stack`` has committed its last message (see ``consumer_lag``)."""
    await wait_drained(infra.kafka_bootstrap, stack.config.topic_prefix, timeout=SETTLE_TIMEOUT_S)


async def sandbox_stats(stack: Stack, name: str) -> dict[str, Any]:
    """``GET /_sandbox/stats`` of a sandbox."""
    async with aiohttp.ClientSession() as session:
        async with session.get(stack.config.url(name) + "/_sandbox/stats") as response:
            data: dict[str, Any] = await response.json()
            return data


async def sandbox_call(stack: Stack, name: str, method: str, path: str, body: object = None) -> Any:
    """Call a sandbox control route (``/_sandbox/...``); its JSON answer."""
    async with aiohttp.ClientSession() as session:
        async with session.request(method, stack.config.url(name) + path, json=body) as response:
            if response.status >= 400:
                raise RuntimeError(f"{name} sandbox refused {method} {path}: {await response.text()}")
            return await response.json()


async def dlq_total(stack: Stack, infra: PrivateInfra) -> int:
    """Messages on all dead-letter topics of the stack."""
    return sum(dead_letters(await read_topics(infra.kafka_bootstrap, stack.config.topic_prefix)).values())


@dataclass
class RoundResult:
    """What one round measured."""

    specs: list[MeetingSpec]
    deliveries: list[Delivery]
    outcomes: dict[str, Outcome]
    submissions: dict[str, int]  # meeting uuid → submissions the provider accepted
    resubmitted: set[str]  # meetings the submitter flagged as submitted again after a crash mid-submit
    dead_letters_added: int
    slots_in_flight: int
    seconds: float

    @property
    def stages(self) -> dict[str, int]:
        return stage_counts(self.outcomes)

    def unexplained_submissions(self) -> dict[str, int]:
        """Meetings submitted other than once, except a second submission the submitter flagged as made
        after a crash mid-submit: the one window no provider contract lets us close (neither Symbl nor
        AssemblyAI can be asked whether a job was accepted before its ids were stored)."""
        return {uuid: n for uuid, n in self.submissions.items() if n != 1 and not (n == 2 and uuid in self.resubmitted)}

    def message_ids(self) -> list[int]:
        return [self.outcomes[s.uuid].message_ids for s in self.specs]

    def figures(self) -> dict[str, Any]:
        """The common figures of a round, for results.record."""
        subs = [self.submissions[s.uuid] for s in self.specs]
        mails = self.message_ids()
        return {
            "meetings sent": len(self.specs),
            "stages": self.stages,
            "submissions per meeting (min/max)": f"{min(subs)}/{max(subs)}",
            "meetings submitted twice: a kill between the provider's 201 and the job's record": sum(
                1 for s in self.specs if self.submissions[s.uuid] == 2 and s.uuid in self.resubmitted
            ),
            "e-mails per meeting (min/max Message-IDs)": f"{min(mails)}/{max(mails)}",
            "smtp copies per meeting (max)": max(o.copies for o in self.outcomes.values()),
            "webhook attempts (max per meeting)": max(d.attempts for d in self.deliveries),
            "dead letters added": self.dead_letters_added,
            "slots in flight after": self.slots_in_flight,
            "round seconds": round(self.seconds, 1),
        }


async def run_meetings(
    stack: Stack,
    infra: PrivateInfra,
    state: State,
    specs: list[MeetingSpec],
    *,
    during: Awaitable[object] | None = None,
    spread_s: float = 0.0,
    timeout: float = 900.0,
    how: Deliver = by_sandbox,
) -> RoundResult:
    """Deliver ``specs`` (spread over ``spread_s`` seconds) while ``during`` runs; measure the outcome."""
    hosts = {spec.uuid: spec.host_email for spec in specs}
    await add_meetings(stack, specs)
    dlq_before = await dlq_total(stack, infra)
    started = time.monotonic()
    deliveries = asyncio.create_task(deliver_all(stack, specs, spread_s=spread_s, how=how))
    if during is not None:
        await during
    delivered = await deliveries
    await state.wait_terminal(TENANT, hosts, infra, timeout=timeout)
    await settle(stack, infra)
    outcomes = await state.outcomes(TENANT, hosts, infra)
    seconds = time.monotonic() - started
    by_name = (await sandbox_stats(stack, "symbl"))["submissions_by_name"]
    return RoundResult(
        specs=specs,
        deliveries=delivered,
        outcomes=outcomes,
        submissions={s.uuid: int(by_name.get(s.topic, 0)) for s in specs},
        resubmitted=await state.resubmitted_after_crash(TENANT, hosts),
        dead_letters_added=await dlq_total(stack, infra) - dlq_before,
        slots_in_flight=await state.slots_in_flight(),
        seconds=seconds,
    )
