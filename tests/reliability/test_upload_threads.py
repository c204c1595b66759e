"""Streaming uploads must not starve the event loop's default thread pool (found by the hostile-meetings round).

``ObjectStore.put_stream`` hands the bytes to minio in a worker thread that blocks until the last
chunk arrives; the mixer produces those chunks with ``asyncio.to_thread`` (scratch-file writes) and
aiohttp resolves host names in the same default pool. When the uploads borrowed default-pool
threads, more parallel uploads than pool threads (mixer: 2 meetings x 4 tracks = 8; default pool on
2 CPUs: 6) left no thread to produce a chunk: the mixer hung with 0-byte scratch files. Here the
pool is made small (2 threads) so the deadlock would be certain; every upload must finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from zoomsymbl_common.storage import ObjectStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
POOL = 2
UPLOADS = 2 * POOL + 1


async def produced_in_threads(parts: int, size: int) -> AsyncIterator[bytes]:
    """Chunks made the way the mixer makes them: each one passes through ``asyncio.to_thread``."""
    for index in range(parts):
        yield await asyncio.to_thread(bytes, [index % 256]) * size


async def test_more_parallel_uploads_than_pool_threads_all_finish(store: ObjectStore) -> None:
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(max_workers=POOL)
    loop.set_default_executor(pool)
    try:
        sizes = await asyncio.wait_for(
            asyncio.gather(*(store.put_stream(f"t/{i}.bin", produced_in_threads(3, 1000)) for i in range(UPLOADS))),
            timeout=60,
        )
        stored = [await store.size(f"t/{i}.bin") for i in range(UPLOADS)]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    assert sizes == [3000] * UPLOADS
    assert stored == [3000] * UPLOADS
