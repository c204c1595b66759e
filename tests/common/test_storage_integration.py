"""Our S3 wrapper against the real local S3 server."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
from zoomsymbl_common.errors import ObjectNotFound, StorageUnavailable
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore

from tests.support.eventually import eventually

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


async def test_a_file_download_is_the_object(store: ObjectStore, tmp_path: Path) -> None:
    sent = hashlib.sha256()
    await store.put_stream("files/whole.bin", _pattern(3 * MIB + 17, MIB, sent), part_size=8 * MIB)
    await store.get_file("files/whole.bin", str(tmp_path / "whole.bin"))
    assert hashlib.sha256((tmp_path / "whole.bin").read_bytes()).hexdigest() == sent.hexdigest()
    assert [p.name for p in tmp_path.iterdir()] == ["whole.bin"]


async def test_a_file_download_cut_short_leaves_nothing_on_disk(store: ObjectStore, tmp_path: Path) -> None:
    await store.put_stream("files/cut.bin", _pattern(256 * MIB, MIB, hashlib.sha256()), part_size=16 * MIB)
    loop = asyncio.get_running_loop()
    threads = ThreadPoolExecutor(4)
    loop.set_default_executor(threads)
    try:
        download = asyncio.create_task(store.get_file("files/cut.bin", str(tmp_path / "job.audio")))

        async def started() -> bool:
            return any(p.stat().st_size > 0 for p in tmp_path.iterdir())

        await eventually(started, interval=0.001, max_interval=0.001, what="the download's first bytes")
        download.cancel()  # the service stops (SIGTERM) mid-download
        with pytest.raises(asyncio.CancelledError):
            await download
        threads.shutdown(wait=True)  # whatever a thread of the download still had to do is done now
    finally:
        loop.set_default_executor(ThreadPoolExecutor())
    # minio's fget_object finished the download in its thread and renamed it into place: 256 MiB nobody deletes.
    assert list(tmp_path.iterdir()) == []


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
