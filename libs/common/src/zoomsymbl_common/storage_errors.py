"""What S3's error answers mean to zoomsymbl: a missing object, a refused one, or an unavailable server.

Only an answer that repeating the same request cannot change is poison (:class:`ObjectRejected`); throttling
and server errors are retryable (:class:`StorageUnavailable`); anything else is left to the caller.
"""

from __future__ import annotations

from typing import Final

from minio.error import S3Error

from zoomsymbl_common.errors import ObjectNotFound, ObjectRejected, StorageUnavailable, ZoomsymblError

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
_UNAVAILABLE_CODES: Final = frozenset({"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable"})


def translate_s3_error(exc: S3Error, bucket: str, key: str) -> ZoomsymblError | None:
    """The zoomsymbl error an S3 error answer means, or None when it is not classified.

    A missing object is :class:`ObjectNotFound`; a refused key, name or size is :class:`ObjectRejected`
    (poison: retrying cannot help); a server error or throttling is :class:`StorageUnavailable` (retryable).
    """
    code = exc.code or ""
    status = getattr(exc.response, "status", 0) or 0
    if code in ("NoSuchKey", "NoSuchObject"):
        return ObjectNotFound(bucket, key)
    if code in _REJECTED_CODES and status < 500:
        return ObjectRejected(bucket, key, code, exc.message or "")
    if code in _UNAVAILABLE_CODES or status >= 500:
        return StorageUnavailable(f"S3Error {code or status!r}")
    return None
