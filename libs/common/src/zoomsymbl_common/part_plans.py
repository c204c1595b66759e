"""Which submission of a generation makes its meeting's transcript: the rule the notifier's report joins parts by
(``zoomsymbl_notifier.parts``) and the meeting page shows them by (``zoomsymbl_web.plans``), kept in one place so the
page shows the parts the host's report was made of.

A long meeting goes to its provider in parts, one job each (``part_index`` of ``part_count``). One generation can
hold the jobs of two plans (:class:`Plan`: provider and part count): the tenant's provider changed between two
deliveries of the same ``AudioMixed``. Each plan cuts its own file at its own points, so parts of two plans never
make one transcript. The plan joined is the one the meeting records for the generation (:func:`recorded_plan`:
``submitted_generation``, ``provider``, ``part_count``, set by the submitter's ``mark_submitted``), else the first
plan whose every part finished (:func:`finished_parts`). A zoom job that replaced a failed one (its ``_id``:
``stable_id("fallback", <the failed job's _id>)``) belongs to the failed job's plan (:func:`plan_under`).

Once the notifier's report of a generation joined a plan, the meeting keeps it (:data:`JOINED_PLAN`, written with
the move to ``completed``) and that plan is the generation's from then on, whatever the submitter records later
(:func:`recorded_plan`'s ``joined``): a redelivery of a reporting run that died before its e-mail joins what it
joined, and the page shows what the e-mail told.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, TypeVar

from zoomsymbl_common.events import stable_id
from zoomsymbl_common.records import Document, Job

JOINED_PLAN = "joined_plan"
"""The meeting's field naming the plan its report of a generation joined (``generation``, ``provider``,
``part_count``: :func:`joined_fields`), written by the notifier as the meeting completes in that generation."""


class Plan(NamedTuple):
    """One submission of a generation: the provider its parts went to, and how many there are."""

    provider: str
    part_count: int


class PlannedJob(Protocol):
    """What the rule reads of a provider job (the notifier's ``JobRecord``, :class:`JobPart`)."""

    @property
    def key(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def part_index(self) -> int: ...
    @property
    def part_count(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def insights_stored(self) -> bool: ...


J = TypeVar("J", bound=PlannedJob)


@dataclass(frozen=True)
class JobPart:
    """A ``jobs`` document as the rule reads it, with the conversation its insights are stored under."""

    key: str
    provider: str
    part_index: int
    part_count: int
    status: str
    insights_stored: bool
    conversation_id: str

    @classmethod
    def of(cls, job: Job) -> JobPart:
        """The rule's view of a validated job document."""
        return cls(
            key=job.id,
            provider=job.provider,
            part_index=job.part_index,
            part_count=job.part_count,
            status=job.status,
            insights_stored=job.insights_stored_at is not None,
            conversation_id=job.conversation_id or "",
        )


def plan_of(job: PlannedJob) -> Plan:
    """The plan ``job`` was submitted under (a fallback's own: see :func:`plan_under` for the one it stands in)."""
    return Plan(job.provider, job.part_count)


def plans(parts: Sequence[J]) -> dict[Plan, list[J]]:
    """``parts`` (one generation's jobs) by plan, a zoom job that replaced a failed one under that job's plan."""
    replaced = _replaced(parts)
    grouped: dict[Plan, list[J]] = {}
    for part in parts:
        grouped.setdefault(replaced.get(part.key, plan_of(part)), []).append(part)
    return grouped


def plan_under(parts: Sequence[PlannedJob], job: PlannedJob) -> Plan:
    """The plan ``job`` is joined under among ``parts``: the failed job's when it is a zoom job that replaced it."""
    return _replaced(parts).get(job.key, plan_of(job))


def _replaced(parts: Sequence[PlannedJob]) -> dict[str, Plan]:
    """The ``_id`` a zoom job that replaced each of ``parts`` has, with the plan of the job it replaced."""
    return {stable_id("fallback", part.key): plan_of(part) for part in parts}


def finished_parts(parts: Sequence[J], recorded: Plan | None = None) -> list[J] | None:
    """The jobs to join, in part order, once every part of their plan completed with its insights stored, else None:
    those of ``recorded`` (the plan the meeting records for the generation) and no other, or, when it records none,
    of the first finished plan in :class:`Plan` order. A failed job replaced by a zoom job of the same part is left
    behind by its completed replacement."""
    grouped = plans(parts)
    for plan in [recorded] if recorded is not None else sorted(grouped):
        done = done_parts(grouped.get(plan, []))
        if all(index in done for index in range(plan.part_count)):
            return [done[index] for index in range(plan.part_count)]
    return None


def done_parts(jobs: Sequence[J]) -> dict[int, J]:
    """``jobs`` that completed with their insights stored, by part index."""
    return {job.part_index: job for job in jobs if job.status == "completed" and job.insights_stored}


def recorded_plan(
    submitted_generation: object, provider: object, part_count: object, generation: int, *, joined: object = None
) -> Plan | None:
    """The plan a meeting's record names for ``generation``: the one its report joined (``joined``, the meeting's
    :data:`JOINED_PLAN`) when that is of ``generation``, else the submitter's (its ``submitted_generation``,
    ``provider`` and ``part_count`` fields); None when they name another generation's, or none, or are not as they
    are written (a document edited by hand: as if it recorded none)."""
    return joined_plan(joined, generation) or _plan(submitted_generation, provider, part_count, generation)


def joined_plan(joined: object, generation: int) -> Plan | None:
    """The plan the meeting's report of ``generation`` joined, from its :data:`JOINED_PLAN` value ``joined``; None
    when it names another generation (or is not as :func:`joined_fields` writes it)."""
    if not isinstance(joined, dict):
        return None
    return _plan(joined.get("generation"), joined.get("provider"), joined.get("part_count"), generation)


def joined_fields(generation: int, plan: Plan) -> Document:
    """The ``$set`` fields that keep ``plan`` as the one the report of ``generation`` joined."""
    return {JOINED_PLAN: {"generation": generation, "provider": plan.provider, "part_count": plan.part_count}}


def _plan(of_generation: object, provider: object, part_count: object, generation: int) -> Plan | None:
    if of_generation != generation or not isinstance(provider, str):
        return None
    if type(part_count) is not int or part_count < 1:
        return None
    return Plan(provider, part_count)


def shown_parts(parts: Sequence[J], recorded: Plan | None) -> list[J] | None:
    """What a meeting shows of its generation: the parts of ``recorded`` once every one finished, else those of a
    plan that finished first (a plan that finished before the meeting recorded the other one was reported then:
    the report goes out once, whatever the record says later); None while no plan finished."""
    return (finished_parts(parts, recorded) if recorded is not None else None) or finished_parts(parts)
