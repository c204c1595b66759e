"""Faults the crash rounds inject: ``kill -9`` of a service, a server stopped and started again.

A killed service is started again the way Kubernetes would: at once, and again after a pause if it
exits during start-up (e.g. because Kafka is still down). Kills and outages run in two lanes side by
side, each action at a random moment, so a service may restart while a server is down; what actually
happened is kept for the figures.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from zoomsymbl_sandbox.stack import SERVICES, Stack

from tests.reliability.private_infra import Component, PrivateInfra

Kind = Literal["kill", "outage"]
RESTART_DEADLINE_S = 300.0


@dataclass(frozen=True)
class Action:
    """One fault: kill ``target`` (a service), or stop server ``target`` for ``seconds``."""

    kind: Kind
    target: str
    seconds: float = 0.0


@dataclass
class ChaosLog:
    """What was injected, and how long services took to come back."""

    kills: Counter[str] = field(default_factory=Counter)
    outages: Counter[str] = field(default_factory=Counter)
    outage_seconds: dict[str, float] = field(default_factory=dict)
    restart_attempts: Counter[str] = field(default_factory=Counter)


def outages_for_round(round_no: int, rounds: int) -> list[Component]:
    """A lone round stops every server; several rounds take turns, the last stops Kafka, MongoDB and S3."""
    if rounds == 1:
        return ["kafka", "mongo", "s3", "smtp"]
    turns: list[list[Component]] = [["kafka"], ["mongo"], ["s3"], ["smtp"], ["kafka", "mongo", "s3"]]
    return turns[round_no % len(turns)]


def plan_round(
    rng: random.Random, round_no: int, rounds: int, kills_per_service: int, infra_s: float, smtp_s: float
) -> tuple[list[Action], list[Action]]:
    """This round's two lanes of faults, each in random order: service kills, and server outages."""
    kills = [Action("kill", svc) for svc in SERVICES for _ in range(kills_per_service)]
    outages = [
        Action("outage", comp, smtp_s if comp == "smtp" else infra_s) for comp in outages_for_round(round_no, rounds)
    ]
    rng.shuffle(kills)
    rng.shuffle(outages)
    return kills, outages


def estimated_seconds(kills: list[Action], outages: list[Action]) -> float:
    """About how long the two lanes take (a Kafka start is the slowest step), to pace the meetings."""
    outage_lane = sum(a.seconds + (25.0 if a.target == "kafka" else 4.0) for a in outages)
    return max(6.0 * len(kills), outage_lane)


class Chaos:
    """Carries out a schedule of actions against one stack and its private servers."""

    def __init__(self, stack: Stack, infra: PrivateInfra, rng: random.Random) -> None:
        self.stack = stack
        self.infra = infra
        self.rng = rng
        self.log = ChaosLog()

    async def run(self, *lanes: list[Action], gap: tuple[float, float] = (0.5, 3.0)) -> ChaosLog:
        """The lanes side by side, each action after a random pause of ``gap`` seconds, so faults overlap."""
        await asyncio.gather(*(self._lane(lane, gap) for lane in lanes))
        return self.log

    async def _lane(self, actions: list[Action], gap: tuple[float, float]) -> None:
        for action in actions:
            await asyncio.sleep(self.rng.uniform(*gap))
            if action.kind == "kill":
                await self.kill_and_restart(action.target)
            else:
                await self.outage(action.target, action.seconds)  # type: ignore[arg-type]

    async def kill_and_restart(self, service: str) -> None:
        """``kill -9`` the service, leave it dead a moment, start it again until it is ready."""
        await asyncio.to_thread(self.stack.kill, service)
        self.log.kills[service] += 1
        await asyncio.sleep(self.rng.uniform(0.0, 2.0))
        await self.restart(service)

    async def restart(self, service: str) -> None:
        """Start ``service`` again; a start that fails is retried after a pause (CrashLoopBackOff)."""
        deadline = time.monotonic() + RESTART_DEADLINE_S
        while True:
            self.log.restart_attempts[service] += 1
            try:
                await self.stack.restart(service)
                return
            except (RuntimeError, TimeoutError):
                proc = self.stack.procs.get(service)
                if proc is not None and proc.poll() is None:
                    await asyncio.to_thread(self.stack.kill, service)
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(2.0)

    async def outage(self, component: Component, seconds: float) -> None:
        """Stop one server (SIGTERM, as on a node drain), keep it down ``seconds``, start it again."""
        started = time.monotonic()
        await asyncio.to_thread(self.infra.down, component)
        await asyncio.sleep(seconds)
        await asyncio.to_thread(self.infra.up, component)
        self.log.outages[component] += 1
        self.log.outage_seconds[component] = self.log.outage_seconds.get(component, 0.0) + round(
            time.monotonic() - started, 1
        )
