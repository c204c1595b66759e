"""``zoomsymbl erasures``: every erasure, from the log in S3 and the tombstones in MongoDB; with ``--yes``, made whole.

The erasure log (:mod:`~zoomsymbl_common.ops.forget_log`) outlives MongoDB. After a restore from a backup older than
some erasures (or a MongoDB rebuilt empty), this compares the two and says, per meeting: ``in place`` (tombstone
and log entry, nothing stored), ``tombstone missing`` (the log has it, MongoDB does not), ``stored again`` (documents
or objects came back, or provider copies are still to delete), ``not logged`` (a tombstone older than the log, or
an entry deleted). With ``--yes``: each meeting whose tombstone is missing or that is stored again is forgotten
again, as ``zoomsymbl forget --yes --force`` does, under its first ``forgotten_at``; each ``not logged`` tombstone
gets its entry. Run it before the services start again (docs/operations.md, "MongoDB restored from a backup"), with
``--since`` the backup's time: every meeting listed is surveyed in MongoDB and S3 (a few at once,
:data:`~zoomsymbl_common.ops.at_once.READS_AT_ONCE`), so a whole archive's erasures take a while.
Counts only, never contents; meeting UUIDs come from outside and are shown printable.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from zoomsymbl_common.mongo import Document, Mongo, guarded, make_mongo
from zoomsymbl_common.ops.at_once import READS_AT_ONCE, in_order
from zoomsymbl_common.ops.command import EXIT_FAILED, Command, Result, UsageError, utc_time
from zoomsymbl_common.ops.forget import Holdings, buckets_named, forget, survey
from zoomsymbl_common.ops.forget_log import Erasure, log_erasure, read_log
from zoomsymbl_common.ops.output import printable
from zoomsymbl_common.ops.status import parse_records
from zoomsymbl_common.records import TOMBSTONES, Tombstone
from zoomsymbl_common.settings import InfraSettings, load_settings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.tenants import TENANT_ID_PATTERN

EXAMPLES = (
    "zoomsymbl erasures",
    "zoomsymbl erasures --tenant acme --json",
    "zoomsymbl erasures --since 2026-11-30T02:00 --yes   # after restoring that night's backup",
)
TO_ERASE = ("tombstone missing", "stored again")


def arguments(parser: argparse.ArgumentParser) -> None:
    """A tenant, and the confirmation."""
    parser.add_argument("--tenant", help="only this tenant's erasures")
    parser.add_argument(
        "--since", type=utc_time, help="only erasures on this day or later (UTC; after a restore: the backup's time)"
    )
    parser.add_argument(
        "--yes", action="store_true", help="erase again what came back, write back tombstones and missing log entries"
    )


@dataclass
class Item:
    """One erased meeting as the log and MongoDB have it."""

    erasure: Erasure
    state: str
    stored: int = 0
    done: str | None = None
    problem: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` item."""
        found: dict[str, Any] = {**self.erasure.as_json(), "state": self.state, "stored": self.stored}
        return found | ({"done": self.done} if self.done else {}) | ({"problem": self.problem} if self.problem else {})

    def text(self) -> str:
        """One line."""
        head = f"{self.erasure.tenant}  {printable(self.erasure.meeting_uuid)}  {self.state}"
        return head + (f" -> {self.done}" if self.done else "") + (f" ({self.problem})" if self.problem else "")


class Erasures:
    """Reads the log and the tombstones, and (``--yes``) makes them whole."""

    def __init__(self, mongo: Mongo, infra: InfraSettings, at_once: int = READS_AT_ONCE) -> None:
        self.mongo = mongo
        self.infra = infra
        self.at_once = at_once  # meetings surveyed (and log entries read) at a time
        self.log = ObjectStore(infra)
        self.stores: dict[str, ObjectStore] = {infra.s3_bucket: self.log}

    async def items(self, tenant: str | None, since: datetime | None) -> tuple[list[Item], list[str]]:
        """Every erasure of the log or of MongoDB (oldest first; of ``since``'s day or later), and the log's objects
        that are not entries."""
        day = since.astimezone(UTC).date() if since else None
        logged, malformed = await read_log(self.log, tenant, day, at_once=self.at_once)
        query: Document = {"tenant": tenant} if tenant else {}
        if day is not None:
            query["forgotten_at"] = {"$gte": datetime.combine(day, time.min, UTC)}
        unreadable: list[str] = []
        documents = await guarded(self.mongo.db[TOMBSTONES].find(query).to_list(None))
        tombstones = parse_records(Tombstone, documents, unreadable)
        malformed += [f"tombstone {line}" for line in unreadable]
        entries = {(e.tenant, e.meeting_uuid): e for e in logged}
        kept = {(t.tenant, t.meeting_uuid): t for t in tombstones}
        unlogged = [Erasure(t.tenant, t.meeting_uuid, t.forgotten_at) for key, t in kept.items() if key not in entries]

        async def item(erasure: Erasure) -> Item:
            holdings, _ = await self.holdings(erasure)
            logged_here = (erasure.tenant, erasure.meeting_uuid) in entries
            return Item(erasure, _state(holdings, logged_here), holdings.stored)

        ordered = sorted([*logged, *unlogged], key=lambda e: (e.forgotten_at, e.tenant, e.meeting_uuid))
        return await in_order(ordered, item, self.at_once), malformed

    async def holdings(self, erasure: Erasure) -> tuple[Holdings, list[ObjectStore]]:
        """What is stored of the meeting, and the stores of the buckets its documents name (the configured one too)."""
        buckets = {self.infra.s3_bucket} | await buckets_named(self.mongo, erasure.tenant, erasure.meeting_uuid)
        for bucket in buckets - self.stores.keys():
            self.stores[bucket] = ObjectStore(self.infra, bucket=bucket)
        stores = [self.stores[bucket] for bucket in sorted(buckets)]
        return await survey(self.mongo, stores, erasure.tenant, erasure.meeting_uuid), stores

    async def repair(self, item: Item) -> None:
        """Forget the meeting again (its first date kept), or write its missing log entry."""
        erasure = item.erasure
        if item.state == "not logged":
            await log_erasure(self.log, erasure)
            item.done = "logged"
            return
        if item.state not in TO_ERASE:
            return
        holdings, stores = await self.holdings(erasure)
        if holdings.unusable_buckets:
            item.problem = "a bucket its documents name cannot be read: see zoomsymbl forget"
            return
        done = await forget(self.mongo, stores, holdings, erasure.forgotten_at, log=self.log)
        item.done, item.stored = "erased again", done.left.stored
        if done.failed or done.left.stored:
            item.problem = "not all erased: run zoomsymbl forget --yes for it"


def _state(holdings: Holdings, logged: bool) -> str:
    if holdings.tombstone is None:
        return "tombstone missing"
    if holdings.stored or holdings.copies:
        return "stored again"
    return "in place" if logged else "not logged"


async def _run(infra: InfraSettings, args: argparse.Namespace) -> Result:
    mongo = make_mongo(infra)
    try:
        erasures = Erasures(mongo, infra)
        items, malformed = await erasures.items(args.tenant, args.since)
        if args.yes:
            for item in items:
                await erasures.repair(item)
    finally:
        await mongo.close()
    return _result(items, malformed, args.yes)


def _result(items: list[Item], malformed: list[str], yes: bool) -> Result:
    counts: dict[str, int] = {}
    for item in items:
        counts[item.state] = counts.get(item.state, 0) + 1
    notes = []
    if malformed:
        notes.append(f"{len(malformed)} log object(s) or tombstone(s) unreadable: {'; '.join(malformed[:5])}")
    pending = sum(counts.get(state, 0) for state in (*TO_ERASE, "not logged"))
    if pending and not yes:
        notes.append(f"{pending} erasure(s) to make whole: run again with --yes")
    failed = [item for item in items if item.problem]
    if failed:
        notes.append(f"{len(failed)} erasure(s) not made whole (see each item)")
    data = {"items": [item.as_json() for item in items], "counts": counts, "malformed": malformed}
    text = "\n".join(item.text() for item in items) or "no erasures"
    code = EXIT_FAILED if failed or malformed else 0
    return Result(data=data, text=text, code=code, message="; ".join(notes) or None)


def run(args: argparse.Namespace) -> Result:
    """List, or make whole, every erasure (of ``--tenant``)."""
    if args.tenant is not None and not re.fullmatch(TENANT_ID_PATTERN, args.tenant):
        raise UsageError(f"{printable(args.tenant)!r} is not a tenant id ({TENANT_ID_PATTERN})")
    return asyncio.run(_run(load_settings(InfraSettings), args))


def register() -> Command:
    """The ``erasures`` subcommand."""
    return Command(
        name="erasures",
        summary="every erasure, from the log in S3 and MongoDB's tombstones; --yes makes them whole after a restore",
        description=__doc__ or "",
        examples=EXAMPLES,
        arguments=arguments,
        run=run,
    )
