"""A raw track's parallel part upload, against the local S3 server."""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator
from pathlib import Path

import pytest
from zoomsymbl_common.errors import ObjectNotFound
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_mixer.tracks import tee_to_file
from zoomsymbl_mixer.upload import PartUploads

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
PART = 5 << 20  # the smallest part S3 takes


async def chunks(data: bytes, fail_after: int | None = None) -> AsyncGenerator[bytes, None]:
    for offset in range(0, len(data), 256 * 1024):
        if fail_after is not None and offset >= fail_after:
            raise ConnectionError("zoom went away")
        yield data[offset : offset + 256 * 1024]


async def stored(store: ObjectStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.get_stream(key)])


@pytest.mark.parametrize("size", [PART * 2 + 12345, PART * 3, 1000])
async def test_the_object_holds_every_byte_of_the_file(store: ObjectStore, tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    uploads = PartUploads(store, part_bytes=PART, parallel=2)
    try:
        sent = await uploads.upload(
            "raw/t/a.m4a", tee_to_file(chunks(data), tmp_path / "a"), tmp_path / "a", content_type="audio/mp4"
        )
    finally:
        uploads.close()
    assert sent == size
    assert await stored(store, "raw/t/a.m4a") == data
    assert (tmp_path / "a").read_bytes() == data


async def test_a_broken_download_leaves_no_object(store: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(PART * 3)
    uploads = PartUploads(store, part_bytes=PART, parallel=2)
    try:
        with pytest.raises(ConnectionError):
            await uploads.upload(
                "raw/t/b.m4a",
                tee_to_file(chunks(data, PART * 2), tmp_path / "b"),
                tmp_path / "b",
                content_type="audio/mp4",
            )
    finally:
        uploads.close()
    with pytest.raises(ObjectNotFound):
        await store.size("raw/t/b.m4a")


@pytest.mark.parametrize("size", [PART * 2 + 7, PART, 999])
async def test_a_finished_file_goes_up_in_parts_with_its_content_type(
    store: ObjectStore, tmp_path: Path, size: int
) -> None:
    data = os.urandom(size)
    (tmp_path / "mix.flac").write_bytes(data)
    uploads = PartUploads(store, part_bytes=PART, parallel=2)
    try:
        sent = await uploads.upload_file("mixed/t/m.flac", tmp_path / "mix.flac", content_type="audio/flac")
    finally:
        uploads.close()
    assert sent == size
    assert await stored(store, "mixed/t/m.flac") == data
    stat = await store._call(store.client.stat_object, store.bucket, "mixed/t/m.flac")
    assert stat.content_type == "audio/flac"
