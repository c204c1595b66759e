"""The unfinished multipart uploads under a meeting's prefix, as ``zoomsymbl forget`` lists them to abort them.

The listing (S3 ListMultipartUploads, https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListMultipartUploads.html)
is read here, not by minio-py: minio 7.2.20's ``ListMultipartUploadsResult`` stores ``NextUploadIdMarker`` under the
attribute name ``"self._next_upload_id_marker"`` (a typo), so its ``next_upload_id_marker`` is always None. A truncated
page names both where the next one begins, ``NextKeyMarker`` and ``NextUploadIdMarker``; the next request sends them
as ``key-marker`` and ``upload-id-marker``. With ``key-marker`` alone, S3 lists only the keys after it ("If
upload-id-marker is not specified, only the keys lexicographically greater than the specified key-marker will be
included in the list", the request's reference:
https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/s3/aws.sdk.kotlin.services.s3.model/-list-multipart-uploads-request/key-marker.html).
Paging on minio's fields skipped the rest of the uploads of the key a page ended inside (left stored while forget
reported success), all but a page of them for a key with more uploads than a page.

versitygw (1.7.0, the local server) refuses its own markers there: it looks for the ``upload-id-marker`` among the
uploads of the first key *after* ``key-marker`` and answers ``InvalidArgument`` ("Invalid uploadId marker"). The
listing then stops on that refusal (:class:`~zoomsymbl_common.errors.ObjectRejected`, exit 1) before anything is
aborted, rather than report success with uploads left behind.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

from minio.error import S3Error
from minio.helpers import DictType

from zoomsymbl_common.errors import StorageUnavailable
from zoomsymbl_common.ops.s3_xml import child_text, local_name
from zoomsymbl_common.storage import ObjectStore

# Uploads per page (S3's largest), and pages followed at most: far beyond any meeting's unfinished uploads.
UPLOAD_PAGE = 1000
MAX_UPLOAD_PAGES = 1000


@dataclass(frozen=True)
class _UploadPage:
    uploads: list[tuple[str, str]]
    truncated: bool
    following: dict[str, str]
    """The markers of the next page, as query parameters (the empty ones left out)."""


def listed_uploads(store: ObjectStore, prefix: str) -> Iterator[tuple[str, str]]:
    """(key, upload id) of the unfinished uploads under ``prefix``, page by page (blocking), each once.

    The answer is the storage server's: an upload outside ``prefix`` is not ours to abort and is skipped; an answer
    that cannot be read, a page that does not move the listing on, or more than :data:`MAX_UPLOAD_PAGES` pages raise
    :class:`StorageUnavailable`. Credentials without ``s3:ListBucketMultipartUploads`` (AccessDenied), or a server
    without the call, see none (docs/forget.md) rather than no meeting forgotten at all.
    """
    markers: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    for _ in range(MAX_UPLOAD_PAGES):
        query: DictType = {"uploads": "", "prefix": prefix, "max-uploads": str(UPLOAD_PAGE), **markers}
        try:
            page = _upload_page(store.client._execute("GET", store.bucket, query_params=query).data)
        except S3Error as exc:
            if exc.code in ("AccessDenied", "NotImplemented") and not markers:
                return
            raise
        for key, upload_id in page.uploads:
            if key.startswith(prefix) and (key, upload_id) not in seen:
                seen.add((key, upload_id))
                yield key, upload_id
        if not page.truncated:
            return
        if "key-marker" not in page.following or page.following == markers:
            raise StorageUnavailable(f"upload listing of {prefix!r} truncated without a next marker that moves on")
        markers = page.following
    raise StorageUnavailable(f"upload listing of {prefix!r} longer than {MAX_UPLOAD_PAGES} pages")


def _upload_page(body: bytes) -> _UploadPage:
    """One ListMultipartUploads answer: its ``Upload`` entries (key, upload id) and where the next page begins."""
    try:
        root = ET.fromstring(body)  # noqa: S314 (our storage server's answer; the standard parser expands no external entity)
        uploads = [_upload_entry(child) for child in root if local_name(child.tag) == "Upload"]
    except (ET.ParseError, ValueError) as exc:
        raise StorageUnavailable(f"unreadable upload listing: {type(exc).__name__}: {str(exc)[:200]}") from exc
    following = {
        "key-marker": child_text(root, "NextKeyMarker"),
        "upload-id-marker": child_text(root, "NextUploadIdMarker"),
    }
    return _UploadPage(
        uploads, child_text(root, "IsTruncated") == "true", {name: value for name, value in following.items() if value}
    )


def _upload_entry(entry: ET.Element) -> tuple[str, str]:
    key, upload_id = child_text(entry, "Key"), child_text(entry, "UploadId")
    if not key or not upload_id:
        raise ValueError("an Upload entry without a key or an upload id")
    return key, upload_id
