"""The S3 side of ``zoomsymbl forget``: a meeting's key prefixes, and counting or deleting what is under them.

Every object of a meeting is under one of two prefixes (the mixer's and the submitter's key functions):
``raw/{tenant}/{meeting_key}/`` holds the participant tracks, Zoom's transcripts and ``metadata.json``;
``mixed/{tenant}/{meeting_key}.`` the mixed file, its split parts (``.part{N}.{ext}``) and its mono mix
(``.mono-{digest}.flac``). A meeting key is urlsafe base64 (or its digest form): it holds neither ``/`` nor
``.``, so neither prefix reaches another meeting's objects (``YWJj.`` is not a prefix of ``YWJjZA.flac``).

In a bucket with versioning (enabled, or suspended after it was), deleting a key keeps every earlier version
and adds a delete marker: the recording would stay stored. There every version and delete marker under the
prefixes is listed, counted and deleted by its version id (which removes it for good, and adds no marker).
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
    """(key, size) of every object under ``prefix`` in the store's bucket (none when the bucket does not exist);
    in a versioned bucket every version and delete marker, each once.

    Raises :class:`StorageUnavailable` when the server does not answer.
    """
    return [(key, size) for key, size, _ in await _versions(store, prefix)]


async def _versions(store: ObjectStore, prefix: str) -> list[tuple[str, int, str | None]]:
    """(key, size, version id) under ``prefix``; the version id None where the bucket never had versioning."""

    def names() -> list[tuple[str, int, str | None]]:
        versioned = _versioning(store) in ("Enabled", "Suspended")
        found = store.client.list_objects(store.bucket, prefix=prefix, recursive=True, include_version=versioned)
        return [
            (item.object_name, int(item.size or 0), item.version_id if versioned else None)
            for item in found
            if item.object_name
        ]

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


def _versioning(store: ObjectStore) -> str | None:
    """The bucket's versioning status; None when it never had versioning, or when the credentials may not read it
    (``s3:GetBucketVersioning``, docs/forget.md: then only current objects are seen, as in an unversioned bucket)."""
    try:
        status: str | None = store.client.get_bucket_versioning(store.bucket).status
    except S3Error as exc:
        # A server that has no versioning says so (versitygw without a versioning folder: VersioningNotConfigured).
        if exc.code not in ("AccessDenied", "VersioningNotConfigured", "NotImplemented"):
            raise
        return None
    return status


async def delete(store: ObjectStore, prefix: str) -> int:
    """Delete every object under ``prefix`` (in a versioned bucket every version and delete marker, each by its
    version id); returns how many there were."""
    found = await _versions(store, prefix)
    for key, _, version in found:
        await store.remove(key, version_id=version)
    return len(found)
