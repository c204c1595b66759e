"""A raw track's parallel part upload, against the local S3 server."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncGenerator
from pathlib import Path

import pytest
from minio.error import S3Error
from pydantic import SecretStr
from zoomsymbl_common.errors import ObjectNotFound, StorageUnavailable
from zoomsymbl_common.s3_chunked import ChunkSigner
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_mixer.tracks import tee_to_file
from zoomsymbl_mixer.upload import PartUploads, _Progress

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


@pytest.mark.parametrize(("size", "single_put_max"), [(PART * 2 + 7, 0), (PART, 0), (999, 0), (PART * 2 + 7, 5 << 30)])
async def test_a_finished_file_goes_up_with_its_content_type(
    store: ObjectStore, tmp_path: Path, size: int, single_put_max: int
) -> None:
    data = os.urandom(size)
    (tmp_path / "mix.flac").write_bytes(data)
    uploads = PartUploads(store, part_bytes=PART, parallel=2, single_put_max=single_put_max)
    try:
        sent = await uploads.upload_file("mixed/t/m.flac", tmp_path / "mix.flac", content_type="audio/flac")
    finally:
        uploads.close()
    assert sent == size
    assert await stored(store, "mixed/t/m.flac") == data
    stat = await store._call(store.client.stat_object, store.bucket, "mixed/t/m.flac")
    assert stat.content_type == "audio/flac"
    one_put = single_put_max >= size or size < PART  # below one part it was always a single PUT
    assert ((stat.etag or "") == hashlib.md5(data).hexdigest()) == one_put  # noqa: S324 (S3's ETag)


# ------------------------------------------------------------------ one streamed PUT (a size known beforehand)


async def streamed(store: ObjectStore, key: str, pieces: AsyncGenerator[bytes, None], path: Path, size: int) -> int:
    uploads = PartUploads(store, part_bytes=PART, parallel=2)
    try:
        return await uploads.upload(key, tee_to_file(pieces, path), path, content_type="audio/mp4", size=size)
    finally:
        uploads.close()


@pytest.mark.parametrize("size", [PART, PART * 2 + 12345, (1 << 20) * 7])
async def test_a_track_of_announced_size_goes_up_in_one_put_with_every_byte(
    store: ObjectStore, tmp_path: Path, size: int
) -> None:
    data = os.urandom(size)
    assert await streamed(store, "raw/t/s.m4a", chunks(data), tmp_path / "s", size) == size
    assert await stored(store, "raw/t/s.m4a") == data
    stat = await store._call(store.client.stat_object, store.bucket, "raw/t/s.m4a")
    # One PUT: the ETag is the MD5 of the bytes (a multipart upload's is "<md5 of the parts' md5s>-<parts>").
    assert stat.etag == hashlib.md5(data).hexdigest()  # noqa: S324 (S3's ETag, not a security digest)
    assert stat.content_type == "audio/mp4"
    assert (tmp_path / "s").read_bytes() == data


async def test_a_streamed_put_broken_by_the_download_leaves_no_object(store: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(PART * 3)
    with pytest.raises(ConnectionError):
        await streamed(store, "raw/t/sb.m4a", chunks(data, PART * 2), tmp_path / "sb", len(data))
    with pytest.raises(ObjectNotFound):
        await store.size("raw/t/sb.m4a")


async def test_pieces_that_end_short_of_the_announced_size_leave_no_object(store: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(PART * 2)
    with pytest.raises(StorageUnavailable, match=f"{len(data)} bytes of the {len(data) + 10} announced"):
        await streamed(store, "raw/t/ss.m4a", chunks(data), tmp_path / "ss", len(data) + 10)
    with pytest.raises(ObjectNotFound):
        await store.size("raw/t/ss.m4a")


async def test_pieces_beyond_the_announced_size_leave_no_object(store: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(PART * 2)
    with pytest.raises(StorageUnavailable, match=f"bytes of the {len(data) - 1} announced"):
        await streamed(store, "raw/t/sl.m4a", chunks(data), tmp_path / "sl", len(data) - 1)
    with pytest.raises(ObjectNotFound):
        await store.size("raw/t/sl.m4a")


async def test_the_server_checks_the_chunk_signatures(infra: InfraSettings, tmp_path: Path) -> None:
    """With a wrong secret the server refuses the streamed PUT (so it verifies what we sign), making no object."""
    wrong = ObjectStore(infra.model_copy(update={"s3_secret_key": SecretStr("not-the-secret-key-0123456789")}))
    data = os.urandom(PART)
    (tmp_path / "sig").write_bytes(data)
    progress = _Progress()
    progress.advance(len(data))
    progress.end(failed=False)
    uploads = PartUploads(wrong, part_bytes=PART, parallel=2)
    try:
        with pytest.raises(S3Error) as refused:
            await asyncio.to_thread(
                uploads._put_streamed, "raw/t/sig.m4a", tmp_path / "sig", len(data), "audio/mp4", progress
            )
    finally:
        uploads.close()
    assert refused.value.code == "SignatureDoesNotMatch"
    assert "not-the-secret" not in str(refused.value)
    with pytest.raises(ObjectNotFound):
        await ObjectStore(infra).size("raw/t/sig.m4a")


async def test_a_streamed_put_refused_midway_hands_the_file_to_the_parts(
    store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The server breaks the PUT off at a chunk whose signature is wrong; the parts upload the file instead."""
    sign = ChunkSigner.header
    signed: list[int] = []

    def third_chunk_wrong(self: ChunkSigner, data: bytes) -> bytes:
        header = sign(self, data)
        signed.append(len(data))
        return header.replace(b"signature=", b"signature=0") if len(signed) == 3 else header

    monkeypatch.setattr(ChunkSigner, "header", third_chunk_wrong)
    data = os.urandom(PART * 2 + 777)
    assert await streamed(store, "raw/t/fb.m4a", chunks(data), tmp_path / "fb", len(data)) == len(data)
    assert await stored(store, "raw/t/fb.m4a") == data
    stat = await store._call(store.client.stat_object, store.bucket, "raw/t/fb.m4a")
    assert (stat.etag or "").endswith("-3")  # the multipart upload's ETag: three parts
    assert "streamed upload failed, uploading in parts" in [r.getMessage() for r in caplog.records]
    assert len(signed) >= 3
