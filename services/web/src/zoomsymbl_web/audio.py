"""``GET /m/{token}/audio``: the meeting's mixed audio through the web service, with HTTP range requests.

With the chart's defaults S3 is only reachable inside the cluster, so a presigned S3 URL would not play in
the host's browser. Unless ``audio_public_url`` names an S3 address browsers reach (then the page hands out
a short-lived presigned URL instead), the page's player streams the audio from here, under the same token
as the page: one ``Range`` (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``) per request, as browsers send to seek
(RFC 9110 §14), read from S3 in chunks and never held whole in memory.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Final

from minio.error import S3Error
from zoomsymbl_common.records import StoredObject
from zoomsymbl_common.storage import ObjectStore

CHUNK: Final = 256 * 1024
CONTENT_TYPES: Final = {
    "flac": "audio/flac",
    "opus": "audio/ogg",
    "ogg": "audio/ogg",
    "wav": "audio/wav",
    "m4a": "audio/mp4",
    "mp3": "audio/mpeg",
}
AudioReader = Callable[[StoredObject, int, int], AsyncGenerator[bytes, None]]
"""Reads bytes ``start``..``end`` (inclusive) of a stored object."""


class RangeNotSatisfiable(ValueError):
    """The ``Range`` header asks for bytes the object does not have (416)."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range ``header`` asks for within ``size`` bytes; None for the whole object.

    One range only (a multi-range or unparsable header is served whole, as RFC 9110 allows); a range
    starting past the end raises :class:`RangeNotSatisfiable`.
    """
    if not header or size <= 0:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not _digits(first) or not _digits(last) or first == last == "":
        return None
    if len(first) > 19 or len(last) > 19:
        return None
    if first == "":  # the last n bytes
        n = int(last)
        if n == 0:
            raise RangeNotSatisfiable(f"bytes */{size}")
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size:
        raise RangeNotSatisfiable(f"bytes */{size}")
    if end < start:
        return None
    return start, end


def _digits(text: str) -> bool:
    """Empty or ASCII digits only (``str.isdigit`` also takes ``²`` and ``١``, which ``int`` refuses or reads)."""
    return text == "" or (text.isascii() and text.isdigit())


def content_type(key: str) -> str:
    """The audio MIME type of an object key's extension."""
    return CONTENT_TYPES.get(key.rsplit(".", 1)[-1].lower(), "application/octet-stream")


class StoredSizeWrong(RangeNotSatisfiable):
    """The range is within the size the meeting document records, but past the object's real end (S3 answered 416):
    the record is wrong. ``str()`` is the ``Content-Range`` of the 416 with the real size, as S3 would answer."""

    def __init__(self, size: int) -> None:
        super().__init__(f"bytes */{size}")
        self.size = size


def s3_reader(store: ObjectStore) -> AudioReader:
    """Reads a byte range of a stored object with ``store``'s client, chunk by chunk (the routes hand it only
    objects in the configured bucket). A range starting past the object's real end (a stored size larger than the
    object) raises :class:`StoredSizeWrong` with the real size, read with one HEAD."""

    async def read(obj: StoredObject, start: int, end: int) -> AsyncGenerator[bytes, None]:
        chunks = store.get_stream(obj.key, chunk_size=CHUNK, offset=start, length=end - start + 1, bucket=obj.bucket)
        try:
            async for chunk in chunks:
                yield chunk
        except S3Error as exc:
            if exc.code != "InvalidRange":
                raise
            raise StoredSizeWrong((await store.stat(obj.key)).size) from None
        finally:
            await chunks.aclose()

    return read
