"""The S3 side of ``zoomsymbl forget``: a meeting's key prefixes, and counting or deleting what is under them.

Every object of a meeting is under one of two prefixes (the mixer's and the submitter's key functions):
``raw/{tenant}/{meeting_key}/`` holds the participant tracks, Zoom's transcripts and ``metadata.json``;
``mixed/{tenant}/{meeting_key}.`` the mixed file, its split parts (``.part{N}.{ext}``) and its mono mix
(``.mono-{digest}.flac``). A meeting key is urlsafe base64 (or its digest form): it holds neither ``/`` nor
``.``, so neither prefix reaches another meeting's objects (``YWJj.`` is not a prefix of ``YWJjZA.flac``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import urllib3
from minio.error import S3Error

from zoomsymbl_common.errors import StorageUnavailable
from zoomsymbl_common.storage import ObjectStore, translate_s3_error
from zoomsymbl_common.storage import meeting_key as key_segment


@dataclass(frozen=True)
class PrefixCount:
    """How many objects (and bytes) of a meeting one bucket holds under one prefix."""

    bucket: str
    prefix: str
    objects: int
    bytes: int


def meeting_prefixes(tenant: str, meeting_uuid: str) -> tuple[str, str]:
    """The raw and the mixed prefix of the meeting's objects."""
    key = key_segment(meeting_uuid)
    return f"raw/{tenant}/{key}/", f"mixed/{tenant}/{key}."


async def listed(store: ObjectStore, prefix: str) -> list[tuple[str, int]]:
    """(key, size) of every object under ``prefix`` in the store's bucket (none when the bucket does not exist).

    Raises :class:`StorageUnavailable` when the server does not answer.
    """

    def names() -> list[tuple[str, int]]:
        found = store.client.list_objects(store.bucket, prefix=prefix, recursive=True)
        return [(item.object_name, int(item.size or 0)) for item in found if item.object_name]

    try:
        return await asyncio.to_thread(names)
    except S3Error as exc:
        if exc.code == "NoSuchBucket":
            return []
        translated = translate_s3_error(exc, store.bucket, prefix)
        if translated is None:
            raise
        raise translated from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise StorageUnavailable(f"{type(exc).__name__}: {exc}") from exc


async def count(store: ObjectStore, prefix: str) -> PrefixCount:
    """The objects under ``prefix``, counted."""
    found = await listed(store, prefix)
    return PrefixCount(store.bucket, prefix, len(found), sum(size for _, size in found))


async def delete(store: ObjectStore, prefix: str) -> int:
    """Delete every object under ``prefix``; returns how many there were."""
    found = await listed(store, prefix)
    for key, _ in found:
        await store.remove(key)
    return len(found)
