"""SANDBOX job state machine shared by the Symbl and AssemblyAI sandboxes.

Every job walks ``waiting -> running -> done | failed``; each provider maps these phases to its own
status names (Symbl: scheduled/in_progress/completed/failed; AssemblyAI: queued/processing/completed/
error). Concurrency is counted in "slots": Symbl takes a slot at submit time and answers 429 when none
is free; AssemblyAI takes one only when a queued job starts processing, so extra jobs wait in the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Literal, TypeVar

from zoomsymbl_sandbox.provider_audio import AudioError

Phase = Literal["waiting", "running", "done", "failed"]
T = TypeVar("T")


@dataclass(frozen=True)
class JobTimings:
    """How long a job stays in each phase; keep these short (e.g. 0.2 s) in tests."""

    waiting_s: float = 1.0
    running_s: float = 2.0


@dataclass
class Job(Generic[T]):
    """One provider job; ``request`` is the provider's parsed submit options, ``result`` its analysis."""

    key: str
    request: T
    audio_path: Path | None
    fail_requested: bool = False
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: float = field(default_factory=time.time)
    phase: Phase = "waiting"
    error: str | None = None
    result: object | None = None
    history: list[tuple[Phase, float]] = field(default_factory=list)
    has_slot: bool = False

    @property
    def finished(self) -> bool:
        return self.phase in ("done", "failed")


Analyse = Callable[[Job[T]], Awaitable[object]]
Notify = Callable[[Job[T]], Awaitable[None]]


class JobBoard(Generic[T]):
    """Owns the jobs of one sandbox, their tasks, and the concurrency statistics."""

    def __init__(
        self, cap: int, timings: JobTimings, analyse: Analyse[T], notify: Notify[T], queue_when_full: bool
    ) -> None:
        self.cap = cap
        self.timings = timings
        self.queue_when_full = queue_when_full
        self.jobs: dict[str, Job[T]] = {}
        self.max_concurrency = 0
        # Jobs held back only because every slot was taken: the "queued beyond the cap" case.
        self.blocked = 0
        self.max_blocked = 0
        self._analyse = analyse
        self._notify = notify
        self._slots_free = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def in_flight(self) -> int:
        return sum(1 for job in self.jobs.values() if job.has_slot)

    @property
    def queued(self) -> int:
        return sum(1 for job in self.jobs.values() if job.phase == "waiting" and not job.has_slot)

    def has_free_slot(self) -> bool:
        return self.in_flight < self.cap

    def submit(self, job: Job[T]) -> None:
        """Register and start a job. Without queueing the caller must check ``has_free_slot`` first
        with no ``await`` in between, which keeps check-and-take atomic on the event loop."""
        if not self.queue_when_full and not self.has_free_slot():
            raise RuntimeError("no free slot: check has_free_slot() before submit()")
        self.jobs[job.id] = job
        if not self.queue_when_full:
            self._take_slot(job)
        job.history.append(("waiting", time.time()))
        task = asyncio.create_task(self._run(job), name=f"sandbox-job-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _take_slot(self, job: Job[T]) -> None:
        job.has_slot = True
        self.max_concurrency = max(self.max_concurrency, self.in_flight)

    async def _release_slot(self, job: Job[T]) -> None:
        job.has_slot = False
        async with self._slots_free:
            self._slots_free.notify_all()

    async def _wait_for_slot(self, job: Job[T]) -> None:
        async with self._slots_free:
            if not self.has_free_slot():
                self.blocked += 1
                self.max_blocked = max(self.max_blocked, self.blocked)
                try:
                    await self._slots_free.wait_for(self.has_free_slot)
                finally:
                    self.blocked -= 1
            self._take_slot(job)

    async def _move(self, job: Job[T], phase: Phase) -> None:
        job.phase = phase
        job.history.append((phase, time.time()))
        await self._notify(job)

    async def _run(self, job: Job[T]) -> None:
        try:
            await asyncio.sleep(self.timings.waiting_s)
            if not job.has_slot:
                await self._wait_for_slot(job)
            await self._move(job, "running")
            await self._process(job)
        finally:
            await self._release_slot(job)

    async def _process(self, job: Job[T]) -> None:
        try:
            job.result = await self._analyse(job)
        except AudioError as exc:
            job.error = exc.message
        except OSError as exc:
            job.error = f"audio unavailable: {exc}"
        await asyncio.sleep(self.timings.running_s)
        if job.error is None and job.fail_requested:
            job.error = "processing failed (sandbox fault injected)"
        # The slot is freed before the terminal callback, as a real provider has finished by then.
        await self._release_slot(job)
        await self._move(job, "failed" if job.error else "done")

    def counts(self) -> dict[str, int]:
        return dict(Counter(job.phase for job in self.jobs.values()))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
