"""Our S3 wrapper against the real local S3 server."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator

import psutil
import pytest
from zoomsymbl_common.errors import ObjectNotFound, StorageUnavailable
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


async def _pattern(total: int, chunk: int, digest: hashlib._Hash) -> AsyncIterator[bytes]:
    block = os.urandom(chunk)
    sent = 0
    while sent < total:
        piece = block[: min(chunk, total - sent)]
        digest.update(piece)
        sent += len(piece)
        yield piece


async def test_500_mb_object_streams_through_with_bounded_memory(store: ObjectStore) -> None:
    total = 500 * MIB
    process = psutil.Process()
    before = process.memory_info().rss
    peak = before
    sent_digest = hashlib.sha256()

    async def tracked() -> AsyncIterator[bytes]:
        nonlocal peak
        async for piece in _pattern(total, MIB, sent_digest):
            peak = max(peak, process.memory_info().rss)
            yield piece

    size = await store.put_stream("big/object.bin", tracked(), part_size=8 * MIB)
    assert size == total
    assert await store.size("big/object.bin") == total
    got_digest = hashlib.sha256()
    received = 0
    async for piece in store.get_stream("big/object.bin"):
        got_digest.update(piece)
        received += len(piece)
        peak = max(peak, process.memory_info().rss)
    assert received == total
    assert got_digest.hexdigest() == sent_digest.hexdigest()
    assert peak - before < 50 * MIB, f"RSS grew by {(peak - before) / MIB:.1f} MiB"


async def test_failed_producer_aborts_the_upload(store: ObjectStore) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * MIB
        raise ConnectionResetError("zoom closed the connection")

    with pytest.raises(ConnectionResetError):
        await store.put_stream("broken.bin", broken(), part_size=5 * MIB)
    assert not await store.exists("broken.bin")


async def test_missing_object_and_presigned_url(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        await store.size("nope")

    async def small() -> AsyncIterator[bytes]:
        yield b"hello"

    await store.put_stream("small.txt", small())
    url = store.presigned_get("small.txt")
    assert "X-Amz-Signature" in url


async def test_unreachable_server_raises_a_typed_error(infra: InfraSettings) -> None:
    dead = ObjectStore(infra.model_copy(update={"s3_endpoint": "127.0.0.1:1"}), timeout=1)
    with pytest.raises(StorageUnavailable):
        await dead.ping()
