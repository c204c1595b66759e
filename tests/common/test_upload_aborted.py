"""A multipart upload of ours that someone else aborts while it runs: ``zoomsymbl forget --force``, or retention of a
meeting a redelivery is mixing again, aborts every unfinished upload under the meeting's prefixes (docs/forget.md).
S3 then answers the upload's next part or its completion with ``NoSuchUpload``.

That is :class:`UploadAborted`, a retryable error: the next attempt of the message starts a new upload, or (the
meeting was forgotten) reads the tombstone first and stops. Left an untranslated ``S3Error``, it was the consumer's
"unexpected failure" (a traceback at ERROR, counted as a bug).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

import pytest
from minio.error import S3Error
from urllib3 import HTTPResponse
from zoomsymbl_common.errors import InfrastructureUnavailable, RetryableError, UploadAborted
from zoomsymbl_common.ops.forget_objects import delete, meeting_prefixes, unfinished_uploads
from zoomsymbl_common.storage import MIN_PART_SIZE, ObjectStore
from zoomsymbl_common.storage_errors import translate_s3_error

KEY = "raw/acme/bTE9PQ/track-1.m4a"


def test_no_such_upload_is_a_retryable_upload_aborted_not_an_outage() -> None:
    answer = S3Error(HTTPResponse(status=404), "NoSuchUpload", "The specified upload does not exist.", KEY, "r", "h")
    error = translate_s3_error(answer, "bucket", KEY)
    assert isinstance(error, UploadAborted) and isinstance(error, RetryableError)
    assert not isinstance(error, InfrastructureUnavailable), "not an outage: it must spend an attempt, not wait free"
    assert (error.bucket, error.key) == ("bucket", KEY)
    assert repr(KEY) in str(error) and "NoSuchUpload" in str(error)


def test_no_such_upload_in_a_server_error_stays_unavailable() -> None:
    answer = S3Error(HTTPResponse(status=503), "NoSuchUpload", "busy", KEY, "r", "h")
    assert not isinstance(translate_s3_error(answer, "bucket", KEY), UploadAborted)


async def until(condition: AsyncIterator[bool]) -> None:
    """Wait (30 s at most) until ``condition`` yields True."""
    async with asyncio.timeout(30):
        async for met in condition:
            if met:
                return
            await asyncio.sleep(0.05)


async def _first_part_stored(store: ObjectStore, prefix: str) -> AsyncIterator[bool]:
    while True:
        uploads = await unfinished_uploads(store, prefix)
        if not uploads:
            yield False
            continue
        key, upload_id = uploads[0]
        parts = await asyncio.to_thread(store.client._list_parts, store.bucket, key, upload_id)
        yield bool(parts.parts)


async def aborted_after_one_part(
    store: ObjectStore, data: bytes, prefix: str, *, then: Exception | None = None
) -> AsyncGenerator[bytes, None]:
    """``data`` in pieces; once the first part is stored, the meeting's uploads are aborted as forget aborts them
    (and then ``then`` is raised, when given: the download failing too)."""
    step = 256 * 1024
    for offset in range(0, len(data), step):
        if offset == MIN_PART_SIZE + step:
            await until(_first_part_stored(store, prefix))
            await delete(store, prefix)
            if then is not None:
                raise then
        yield data[offset : offset + step]


@pytest.mark.integration
async def test_a_streamed_put_whose_upload_forget_aborts_ends_in_upload_aborted(store: ObjectStore) -> None:
    raw = meeting_prefixes("acme", "m1==")[0]
    key = f"{raw}track-1.m4a"
    data = os.urandom(MIN_PART_SIZE * 2 + 1000)

    with pytest.raises(UploadAborted) as caught:
        await store.put_stream(key, aborted_after_one_part(store, data, raw), part_size=MIN_PART_SIZE)

    assert caught.value.key == key
    assert await unfinished_uploads(store, raw) == []
    assert not await store.exists(key)


async def _mixer_upload(store: ObjectStore, key: str, pieces: AsyncGenerator[bytes, None], scratch: Path) -> int:
    """The mixer's parallel part uploads (zoomsymbl_mixer.multipart), where a long participant track goes up."""
    from zoomsymbl_mixer.tracks import tee_to_file
    from zoomsymbl_mixer.upload import PartUploads

    uploads = PartUploads(store, part_bytes=MIN_PART_SIZE, parallel=1)
    try:
        return await uploads.upload(key, tee_to_file(pieces, scratch), scratch, content_type="audio/mp4")
    finally:
        uploads.close()


@pytest.mark.integration
async def test_the_mixers_part_upload_whose_upload_forget_aborts_ends_in_upload_aborted(
    store: ObjectStore, tmp_path: Path
) -> None:
    raw = meeting_prefixes("acme", "m2==")[0]
    key = f"{raw}track-1.m4a"
    pieces = aborted_after_one_part(store, os.urandom(MIN_PART_SIZE * 3 + 1000), raw)

    with pytest.raises(UploadAborted) as caught:
        await _mixer_upload(store, key, pieces, tmp_path / "t")

    assert caught.value.key == key
    assert not await store.exists(key)


@pytest.mark.integration
async def test_the_mixers_own_abort_of_an_upload_forget_aborted_keeps_the_error_that_ended_it(
    store: ObjectStore, tmp_path: Path
) -> None:
    """The download fails after forget aborted the upload: the mixer's abort on the way out finds the upload gone
    (NoSuchUpload, now :class:`UploadAborted`), which must not replace the download's error (nor a cancellation)."""
    raw = meeting_prefixes("acme", "m3==")[0]
    gone = ConnectionError("zoom went away")
    pieces = aborted_after_one_part(store, os.urandom(MIN_PART_SIZE * 3), raw, then=gone)

    with pytest.raises(ConnectionError) as caught:
        await _mixer_upload(store, f"{raw}track-1.m4a", pieces, tmp_path / "t")

    assert caught.value is gone
