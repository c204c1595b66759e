"""What S3's error answers mean to zoomsymbl: a missing object, a refused one, an upload aborted under us, or an
unavailable server.

Only an answer that repeating the same request cannot change is poison (:class:`ObjectRejected`); throttling
and server errors are retryable (:class:`StorageUnavailable`), and so is a multipart upload someone else aborted
(:class:`UploadAborted`: a new one can be started); anything else is left to the caller.
:data:`CLIENT_ERRORS` and :func:`raise_translated` are the one place every call to the minio client (the object
store's, the mixer's multipart uploads) has its errors translated.
"""

from __future__ import annotations

import re
from typing import Final, NoReturn
from xml.etree import ElementTree

import urllib3
from minio.error import InvalidResponseError, S3Error, ServerError

from zoomsymbl_common.errors import (
    ObjectNotFound,
    ObjectRejected,
    RetryableError,
    StorageUnavailable,
    UploadAborted,
    ZoomsymblError,
)
from zoomsymbl_common.zoom_retries import retry_after_seconds

# 4xx answers that repeating the same request cannot change: the key, name or size itself is refused.
# File-system servers also answer a path clash (or versitygw, a directory name over 255 bytes) with 409.
_REJECTED_CODES: Final = frozenset(
    {
        "KeyTooLongError",
        "InvalidArgument",
        "InvalidObjectName",
        "XMinioInvalidObjectName",
        "EntityTooLarge",
        "EntityTooSmall",
        "MetadataTooLarge",
        "ExistingObjectIsDirectory",
        "ObjectParentIsFile",
        "XMinioObjectExistsAsDirectory",
        "XMinioParentIsObject",
    }
)
# MinIO's own "retry later" codes (it sends them with Retry-After) besides S3's: they mean unavailable whatever the
# status, also inside a 200 answer (:func:`error_in_answer`).
_UNAVAILABLE_CODES: Final = frozenset(
    {
        "SlowDown",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        "XMinioServerNotInitialized",
        "XMinioReadQuorum",
        "XMinioWriteQuorum",
    }
)
_XML_DECLARATION: Final = re.compile(r"<\?xml[^>]*\?>")
_REFUSED_STATUSES: Final = frozenset({401, 403})


class StorageThrottled(StorageUnavailable):
    """The S3 server, or a proxy in front of it, answered 429: waited out like S3's own ``SlowDown``, for its
    ``Retry-After`` (``retry_after``; None when it named none) where the caller can."""

    def __init__(self, retry_after: float | None) -> None:
        super().__init__("throttled (HTTP 429)" + (f", retry after {retry_after:g} s" if retry_after else ""))
        self.retry_after = retry_after


class StorageRefused(RetryableError):
    """An answer 401 or 403 that is not S3's XML: a proxy, firewall or gateway in front of S3 refused the request
    (its page is left out). Retried within the attempt budget (not waited out as an outage), then given up with this
    message, which names what to check."""

    def __init__(self, status: int, bucket: str, key: str) -> None:
        super().__init__(
            f"s3 request for {key!r} in bucket {bucket!r} refused with HTTP {status} and a page that is not S3's: a"
            " proxy, firewall or gateway answered; check that ZOOMSYMBL_S3_ENDPOINT is the S3 server, its access"
            " rules for this service, and the credentials (ZOOMSYMBL_S3_ACCESS_KEY)"
        )
        self.status = status


def throttled(response: urllib3.BaseHTTPResponse) -> StorageThrottled | None:
    """:class:`StorageThrottled` when ``response`` is a 429 (S3's ``SlowDown`` or a proxy's page), else None."""
    if response.status != 429:
        return None
    return StorageThrottled(retry_after_seconds(response.headers))


def translate_s3_error(exc: S3Error, bucket: str, key: str) -> ZoomsymblError | None:
    """The zoomsymbl error an S3 error answer means, or None when it is not classified.

    A missing object is :class:`ObjectNotFound`; a refused key, name or size is :class:`ObjectRejected`
    (poison: retrying cannot help); a multipart upload of ours aborted while it ran (``zoomsymbl forget`` aborts a
    meeting's) is :class:`UploadAborted` (retryable: not an outage, and a new upload can be started); a server error
    or throttling is :class:`StorageUnavailable` (retryable).
    """
    code = exc.code or ""
    status = getattr(exc.response, "status", 0) or 0
    if code in ("NoSuchKey", "NoSuchObject"):
        return ObjectNotFound(bucket, key)
    if code == "NoSuchUpload" and status < 500:
        return UploadAborted(bucket, key)
    if code in _REJECTED_CODES and status < 500:
        return ObjectRejected(bucket, key, code, exc.message or "")
    if code in _UNAVAILABLE_CODES or status >= 500:
        return StorageUnavailable(f"S3Error {code or status!r}")
    return None


CLIENT_ERRORS: Final = (S3Error, ServerError, InvalidResponseError, urllib3.exceptions.HTTPError, OSError)
"""What a minio client call raises that :func:`raise_translated` translates."""


def raise_translated(exc: Exception, bucket: str, key: str) -> NoReturn:
    """Raise what ``exc`` (one of :data:`CLIENT_ERRORS`) means for ``key``: the :func:`translate_s3_error` of an error
    answer, :class:`StorageUnavailable` for a 5xx without an S3 body (a proxy's HTML page, with a status urllib3
    does not retry: 507, 520…) or a connection that failed, :class:`StorageThrottled` for a 429 and
    :class:`StorageRefused` for a 401 or 403 without one, else ``exc``."""
    if isinstance(exc, S3Error):
        translated = translate_s3_error(exc, bucket, key)
        if translated is None:
            raise exc
        if isinstance(translated, ObjectNotFound):
            raise translated from None
        raise translated from exc
    if isinstance(exc, ServerError | InvalidResponseError):
        status = non_xml_status(exc)
        if status == 429:
            raise StorageThrottled(None) from exc
        if status in _REFUSED_STATUSES:
            raise StorageRefused(status, bucket, key) from None  # not chained: the page may be anything
        if status < 500:
            raise exc
        raise StorageUnavailable(f"{type(exc).__name__} {status!r}") from exc
    raise StorageUnavailable(f"{type(exc).__name__}: {exc}") from exc


def error_in_answer(response: urllib3.BaseHTTPResponse) -> S3Error | None:
    """The S3 error document a 200 answer holds, if it is one (else None).

    S3 and MinIO answer a CompleteMultipartUpload that takes a while with 200 at once, then spaces to keep the
    connection; a completion that fails after that ends the answer with an ``<Error>`` document instead of the
    result. minio reads that as a completed upload (with no ETag): the object was never written.
    """
    text = _XML_DECLARATION.sub("", (response.data or b"").decode("utf-8", "replace"), count=1).strip()
    if not text.startswith("<Error"):
        return None
    try:
        element = ElementTree.fromstring(text)  # noqa: S314 (our storage server's answer, as minio parses it)
    except ElementTree.ParseError:
        element = ElementTree.Element("Error")  # cut short: still no result
    return S3Error(
        response,
        element.findtext("Code") or "",
        element.findtext("Message"),
        element.findtext("Resource"),
        element.findtext("RequestId"),
        element.findtext("HostId"),
        bucket_name=element.findtext("BucketName"),
        object_name=element.findtext("Key"),
    )


def non_xml_status(exc: ServerError | InvalidResponseError) -> int:
    """The HTTP status of an answer minio could not read as S3's XML (0 when it does not say)."""
    if isinstance(exc, ServerError):
        return exc.status_code
    status = getattr(exc, "_code", 0)  # minio keeps it private; its message says it too
    return status if isinstance(status, int) else 0
