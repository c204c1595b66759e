"""Bytes from outside read whole only within a bound: an HTTP answer, a request body, a stored object.

``read()`` would hold whatever a server (or a client) sends; these stop as soon as the bound is passed.
"""

from __future__ import annotations

from collections.abc import AsyncIterable

import aiohttp

CHUNK_BYTES = 64 * 1024


async def collect(chunks: AsyncIterable[bytes], limit: int) -> bytes | None:
    """Every chunk joined, or None as soon as they add up to more than ``limit`` bytes."""
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


async def read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The (decompressed) body of ``response``, or None when it is longer than ``limit`` bytes.

    Read in chunks and abandoned past ``limit``, where ``read()`` would hold any answer whole; the
    connection of an abandoned answer is closed on release, not reused.
    """
    declared = response.content_length
    if declared is not None and declared > limit:
        return None
    return await collect(response.content.iter_chunked(CHUNK_BYTES), limit)
