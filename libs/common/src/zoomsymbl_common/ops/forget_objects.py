"""The S3 side of ``zoomsymbl forget``: a meeting's key prefixes, and counting or deleting what is under them.

Every object of a meeting is under one of two prefixes (the mixer's and the submitter's key functions):
``raw/{tenant}/{meeting_key}/`` holds the participant tracks, Zoom's transcripts and ``metadata.json``;
``mixed/{tenant}/{meeting_key}.`` the mixed files (``.mix-{digest}.{ext}``; ``.{ext}`` from earlier releases), their
split parts (``.cut-{digest}.part{N}.{ext}``; ``.part{N}.{ext}`` earlier) and mono mixes (``.mono-{digest}.flac``).
A meeting key is urlsafe base64 (or its digest form): it holds neither ``/`` nor ``.``, so neither prefix reaches
another meeting's objects (``YWJj.`` is not a prefix of ``YWJjZA.flac``).

In a bucket with versioning (enabled, or suspended after it was), deleting a key keeps every earlier version
and adds a delete marker: the recording would stay stored. There every version and delete marker under the
prefixes is listed, counted and deleted by its version id (which removes it for good, and adds no marker).
That listing (S3 ListObjectVersions, https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html:
``Version`` and ``DeleteMarker`` entries, pages chained by ``NextKeyMarker`` and ``NextVersionIdMarker`` while
``IsTruncated``) is read here, not by minio-py: minio-py parses every entry's ``LastModified`` and refuses one with
more than six fractional digits, which RFC 3339 allows and versitygw writes on delete markers (nanoseconds), so a
bucket holding a delete marker under the meeting could not be listed, and the meeting not be forgotten.

A multipart upload begun under a prefix and never completed (the mixer killed while it uploaded a long track in
parts) keeps the parts it was sent, audio of the meeting, though no object listing shows them: each is counted as an
object and aborted, which deletes its parts (AbortMultipartUpload). That listing (ListMultipartUploads) is read in
:mod:`~zoomsymbl_common.ops.forget_uploads`, not by minio-py, whose paging of it skips uploads.

A bucket's name comes from the meeting's documents, so it may be one no S3 bucket can have (a hand edit, another
writer): minio-py refuses such a name with a ``ValueError`` before any request, and a server with
``InvalidBucketName``. Both are :class:`UnusableBucket`, named, so the caller can leave that meeting alone and say why.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import urllib3
from minio.error import S3Error
from minio.helpers import DictType, check_bucket_name

from zoomsymbl_common.errors import StorageUnavailable, ZoomsymblError
from zoomsymbl_common.ops.forget_uploads import listed_uploads
from zoomsymbl_common.ops.s3_xml import child_text, local_name
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.storage_errors import CLIENT_ERRORS, raise_translated, translate_s3_error
from zoomsymbl_common.storage_keys import meeting_key as key_segment

T = TypeVar("T")


@dataclass(frozen=True)
class PrefixCount:
    """How many objects (and bytes) of a meeting one bucket holds under one prefix."""

    bucket: str
    prefix: str
    objects: int
    bytes: int


class UnusableBucket(ZoomsymblError):
    """A bucket named by a meeting's documents that cannot be asked about: its name is no S3 bucket's."""

    def __init__(self, bucket: str, reason: str) -> None:
        super().__init__(f"bucket {bucket!r} cannot be read: {reason}")
        self.bucket = bucket
        self.reason = reason


def check_bucket(bucket: str) -> None:
    """Raise :class:`UnusableBucket` for a name minio-py would refuse (S3's naming rules as it checks them).

    The check minio-py makes before each request, with its AWS rules on: a name it refuses only for AWS (``xn--…``,
    which S3's naming rules reserve) is refused here whatever the server.
    """
    try:
        check_bucket_name(bucket, s3_check=True)
    except ValueError as exc:
        raise UnusableBucket(bucket, str(exc)) from None


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
    """(key, size, version id) under ``prefix``; the version id None where the bucket never had versioning.

    Raises :class:`UnusableBucket` for a bucket name that is no S3 bucket's, before any request (or as the server
    refuses it), :class:`StorageUnavailable` when the server does not answer.
    """

    def names() -> list[tuple[str, int, str | None]]:
        if _versioning(store) in ("Enabled", "Suspended"):
            return list(_listed_versions(store, prefix))
        found = store.client.list_objects(store.bucket, prefix=prefix, recursive=True)
        # As in the versioned listing: an entry outside ``prefix`` (a server that ignored it) is not ours to delete.
        entries = ((item.object_name or "", item) for item in found)
        return [(name, int(item.size or 0), None) for name, item in entries if name.startswith(prefix)]

    return await _asked(store, prefix, names)


async def _asked(store: ObjectStore, prefix: str, listing: Callable[[], list[T]]) -> list[T]:
    """``listing`` (blocking, in a thread) of what is under ``prefix``, the storage server's refusals translated: none
    for a bucket that does not exist, :class:`UnusableBucket` for a name no S3 bucket has (checked before any
    request), :class:`StorageUnavailable` for a server that does not answer."""
    check_bucket(store.bucket)
    try:
        return await asyncio.to_thread(listing)
    except S3Error as exc:
        if exc.code == "NoSuchBucket":
            return []
        if exc.code == "InvalidBucketName":
            raise UnusableBucket(store.bucket, "the storage server refused the name (InvalidBucketName)") from exc
        translated = translate_s3_error(exc, store.bucket, prefix)
        if translated is None:
            raise
        raise translated from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise StorageUnavailable(f"{type(exc).__name__}: {exc}") from exc


async def unfinished_uploads(store: ObjectStore, prefix: str) -> list[tuple[str, str]]:
    """(key, upload id) of every multipart upload under ``prefix`` begun and neither completed nor aborted.

    Its parts are stored (a participant's track whose uploader, the mixer, was killed mid-upload) though no object
    listing shows them; aborting the upload deletes them (S3 AbortMultipartUpload)."""
    return await _asked(store, prefix, lambda: list(listed_uploads(store, prefix)))


async def _abort(store: ObjectStore, key: str, upload_id: str) -> None:
    """Abort one unfinished upload (its parts are deleted); one completed or aborted since it was listed is done."""
    try:
        await asyncio.to_thread(store.client._abort_multipart_upload, store.bucket, key, upload_id)
    except S3Error as exc:
        if exc.code != "NoSuchUpload":
            raise_translated(exc, store.bucket, key)
    except CLIENT_ERRORS as exc:
        raise_translated(exc, store.bucket, key)


# Entries per page of a version listing (S3's largest), and pages followed at most: far beyond any meeting's objects.
VERSION_PAGE_KEYS = 1000
MAX_VERSION_PAGES = 1000


def _listed_versions(store: ObjectStore, prefix: str) -> Iterator[tuple[str, int, str]]:
    """(key, size, version id) of every version and delete marker under ``prefix`` (ListObjectVersions, blocking).

    The answer is the storage server's: an entry outside ``prefix`` is not ours to delete and is skipped; an entry
    listed again is yielded once (versitygw repeats a key's current version on the page after a page that ended
    with it); an answer that cannot be read, a page that does not move the listing on, or more than
    :data:`MAX_VERSION_PAGES` pages raise :class:`StorageUnavailable` (:func:`delete` reads the whole listing
    first: nothing goes on part of it).
    """
    markers: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    for _ in range(MAX_VERSION_PAGES):
        query: DictType = {"versions": "", "prefix": prefix, "max-keys": str(VERSION_PAGE_KEYS), **markers}
        page = _version_page(store.client._execute("GET", store.bucket, query_params=query).data)
        for key, size, version in page.entries:
            if key.startswith(prefix) and (key, version) not in seen:
                seen.add((key, version))
                yield key, size, version
        if not page.truncated:
            return
        following = {"key-marker": page.next_key, "version-id-marker": page.next_version}
        if not page.next_key or following == markers:
            raise StorageUnavailable(f"version listing of {prefix!r} truncated without a next marker that moves on")
        markers = {name: value for name, value in following.items() if value}
    raise StorageUnavailable(f"version listing of {prefix!r} longer than {MAX_VERSION_PAGES} pages")


@dataclass(frozen=True)
class _VersionPage:
    entries: list[tuple[str, int, str]]
    truncated: bool
    next_key: str
    next_version: str


def _version_page(body: bytes) -> _VersionPage:
    """One ListObjectVersions answer: its ``Version`` and ``DeleteMarker`` entries (a marker's size is 0)."""
    try:
        root = ET.fromstring(body)  # noqa: S314 (our storage server's answer; the standard parser expands no external entity)
        entries = [_version_entry(child) for child in root if local_name(child.tag) in ("Version", "DeleteMarker")]
    except (ET.ParseError, ValueError) as exc:
        raise StorageUnavailable(f"unreadable version listing: {type(exc).__name__}: {str(exc)[:200]}") from exc
    return _VersionPage(
        entries,
        child_text(root, "IsTruncated") == "true",
        child_text(root, "NextKeyMarker"),
        child_text(root, "NextVersionIdMarker"),
    )


def _version_entry(entry: ET.Element) -> tuple[str, int, str]:
    key, version = child_text(entry, "Key"), child_text(entry, "VersionId")
    if not key or not version:
        raise ValueError(f"a {local_name(entry.tag)} entry without a key or a version id")
    size = int(child_text(entry, "Size") or 0) if local_name(entry.tag) == "Version" else 0
    if size < 0:
        raise ValueError(f"negative size {size}")
    return key, size, version


async def count(store: ObjectStore, prefix: str) -> PrefixCount:
    """The objects under ``prefix``, counted, with the unfinished uploads (whose parts' bytes are not counted)."""
    found = await listed(store, prefix)
    uploads = await unfinished_uploads(store, prefix)
    return PrefixCount(store.bucket, prefix, len(found) + len(uploads), sum(size for _, size in found))


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
    version id) and abort every unfinished upload there; returns how many there were.

    Uploads first: one completed while the objects are deleted would leave an object behind; aborted, it cannot be."""
    uploads = await unfinished_uploads(store, prefix)
    for key, upload_id in uploads:
        await _abort(store, key, upload_id)
    found = await _versions(store, prefix)
    for key, _, version in found:
        await store.remove(key, version_id=version)
    return len(uploads) + len(found)
