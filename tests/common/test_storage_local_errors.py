"""A download's local file that cannot be written is the caller's failure, not an S3 outage (real S3 server)."""

from __future__ import annotations

import errno
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from zoomsymbl_common.errors import InfrastructureUnavailable, RetryableError
from zoomsymbl_common.storage import LocalFileError, ObjectStore

pytestmark = pytest.mark.integration


async def one_chunk() -> AsyncIterator[bytes]:
    yield b"audio" * 100_000


async def test_a_full_disk_is_a_local_failure_not_an_s3_outage(store: ObjectStore, tmp_path: Path) -> None:
    """Before, ENOSPC of the scratch disk became StorageUnavailable: waited out as an S3 outage, attempts unspent."""
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    await store.put_stream("files/full.bin", one_chunk())
    target = tmp_path / "job.audio"
    target.symlink_to("/dev/full")  # every write to it fails with ENOSPC, as a full scratch volume does
    with pytest.raises(LocalFileError) as caught:
        await store.get_file("files/full.bin", str(target))
    assert isinstance(caught.value, RetryableError) and not isinstance(caught.value, InfrastructureUnavailable)
    assert caught.value.errno == errno.ENOSPC
    assert "ENOSPC" in str(caught.value) and "scratch" in str(caught.value)
    assert list(tmp_path.iterdir()) == []  # what was begun is removed


async def test_a_scratch_directory_that_is_gone_is_a_local_failure(store: ObjectStore, tmp_path: Path) -> None:
    await store.put_stream("files/gone.bin", one_chunk())
    with pytest.raises(LocalFileError) as caught:
        await store.get_file("files/gone.bin", str(tmp_path / "missing" / "job.audio"))
    assert caught.value.errno == errno.ENOENT
