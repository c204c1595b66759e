"""The erasure log: one small object per forgotten meeting in the configured bucket,
``erasures/<tenant>/<day forgotten>/<key>.json``.

MongoDB's ``tombstones`` are what the services check; they go with MongoDB. A backup restored from before an erasure
brings the meeting's documents back without its tombstone, and a lost MongoDB loses every tombstone. So
:func:`~zoomsymbl_common.ops.forget.forget` (``zoomsymbl forget --yes``, ``--ahead``, ``zoomsymbl retention --yes``)
writes this entry right after the tombstone and before anything is erased, and ``zoomsymbl erasures --yes``
(:mod:`~zoomsymbl_common.ops.erasures_command`) writes back the tombstones the log has and MongoDB lacks, and erases
again what came back. An entry holds what the tombstone holds of the meeting: tenant, UUID and when it was forgotten;
never its content. Entries are kept for ever, as tombstones are; nothing else writes or deletes under ``erasures/``
(a meeting's own objects are under ``raw/`` and ``mixed/``).

Entries are read as outside input (a bucket may be shared, an object edited): each is bounded, parsed and checked, and
one that does not fit is reported by key, never trusted. The day in the key lets a reader take the erasures since a
day (a restore's backup time) without reading the older ones.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

from minio.error import S3Error

from zoomsymbl_common.bounded import collect
from zoomsymbl_common.errors import ObjectNotFound
from zoomsymbl_common.ops.at_once import READS_AT_ONCE, in_order
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.storage_keys import meeting_key as key_segment
from zoomsymbl_common.tenants import TENANT_ID_PATTERN

LOG_PREFIX = "erasures/"
MAX_ENTRY_BYTES = 8192
"""An entry is well under 2 KiB (a UUID of at most 1,024 characters, JSON-escaped); anything longer is not one."""
MAX_UUID = 1024


@dataclass(frozen=True)
class Erasure:
    """One logged erasure: whose meeting, and when it was first forgotten."""

    tenant: str
    meeting_uuid: str
    forgotten_at: datetime

    def as_json(self) -> dict[str, object]:
        """The entry's content (and ``zoomsymbl erasures --json``'s item)."""
        return {"tenant": self.tenant, "meeting_uuid": self.meeting_uuid, "forgotten_at": self.forgotten_at}


def log_key(tenant: str, meeting_uuid: str, forgotten_at: datetime) -> str:
    """Where the meeting's entry is: ``erasures/<tenant>/<YYYY-MM-DD, UTC>/<url-safe key of the UUID>.json``."""
    return f"{LOG_PREFIX}{tenant}/{forgotten_at.astimezone(UTC):%Y-%m-%d}/{key_segment(meeting_uuid)}.json"


async def log_erasure(store: ObjectStore, erasure: Erasure) -> None:
    """Write (or write again: same key, same content) ``erasure``'s entry; the bucket is created when it is not there
    yet (a deletion request ahead of the deployment's first recording)."""
    await store.ensure_bucket()
    body = json.dumps(erasure.as_json(), default=_iso, sort_keys=True).encode("utf-8")

    async def chunks() -> AsyncIterator[bytes]:
        yield body

    key = log_key(erasure.tenant, erasure.meeting_uuid, erasure.forgotten_at)
    await store.put_stream(key, chunks(), content_type="application/json")


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


async def read_log(
    store: ObjectStore, tenant: str | None = None, since: date | None = None, at_once: int = READS_AT_ONCE
) -> tuple[list[Erasure], list[str]]:
    """Every entry (of ``tenant``, else all; of erasures on ``since`` or later, else all), oldest erasure first, and
    the keys of objects that are not entries (``at_once`` read at a time)."""
    prefix = f"{LOG_PREFIX}{tenant}/" if tenant else LOG_PREFIX
    entries: list[Erasure] = []
    malformed: list[str] = []
    try:
        keys = await store.keys(prefix)
    except S3Error as exc:
        if exc.code != "NoSuchBucket":  # nothing ever erased here (the others: as any S3 call's failure)
            raise
        keys = []

    async def read(key: str) -> tuple[str, bytes | None] | None:
        try:
            async with contextlib.aclosing(store.get_stream(key, chunk_size=MAX_ENTRY_BYTES + 1)) as chunks:
                return key, await collect(chunks, MAX_ENTRY_BYTES)
        except ObjectNotFound:  # deleted between the listing and the read
            return None

    # An older erasure is not read (a key without a day is read, and reported).
    wanted = [key for key in sorted(keys) if since is None or (day := _day(key)) is None or day >= since]
    for found in await in_order(wanted, read, at_once):
        if found is None:
            continue
        key, body = found
        entry = parse_entry(key, body)
        if entry is None:
            malformed.append(key)
        else:
            entries.append(entry)
    entries.sort(key=lambda entry: (entry.forgotten_at, entry.tenant, entry.meeting_uuid))
    return entries, malformed


def parse_entry(key: str, body: bytes | None) -> Erasure | None:
    """The entry stored at ``key``, or None when ``body`` is not one, or not the one its key says."""
    if body is None:
        return None
    try:
        data = json.loads(body.decode("utf-8"))
        tenant, uuid, when = data["tenant"], data["meeting_uuid"], datetime.fromisoformat(data["forgotten_at"])
    except (UnicodeDecodeError, ValueError, TypeError, KeyError):
        return None
    if not isinstance(tenant, str) or not re.fullmatch(TENANT_ID_PATTERN, tenant):
        return None
    if not isinstance(uuid, str) or not 0 < len(uuid) <= MAX_UUID or when.tzinfo is None:
        return None
    if log_key(tenant, uuid, when) != key:  # an entry copied to another key names another meeting than its key
        return None
    return Erasure(tenant, uuid, when.astimezone(UTC))


def _day(key: str) -> date | None:
    """The day in an entry's key (``erasures/<tenant>/<day>/...``), or None when the key has none."""
    parts = key.split("/")
    try:
        return date.fromisoformat(parts[2]) if len(parts) == 4 else None
    except ValueError:
        return None
