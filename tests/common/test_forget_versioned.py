"""``zoomsymbl forget`` in a bucket with versioning: every version of the meeting's objects goes, not only the
current one. A private versitygw (the same build as the shared test server) with versioning on, its own port
and folders, stopped after the module."""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from minio import Minio
from minio.error import MinioException
from minio.versioningconfig import VersioningConfig
from pydantic import SecretStr
from zoomsymbl_common.ops import forget_objects
from zoomsymbl_common.ops.forget_objects import count, delete, listed, meeting_prefixes
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore

from tests.common.test_smtp_sink import free_port
from tests.support.eventually import eventually_sync

pytestmark = pytest.mark.integration
VERSITYGW = Path(__file__).resolve().parents[2] / ".cache" / "bin" / "versitygw"
ACCESS, SECRET = "versioned-access", "versioned-secret-key"
UUID, NEIGHBOUR = "aBcD1234+xyz/==", "aBcD1234+xyz/==d"


@pytest.fixture(scope="module")
def versioned_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of a versitygw whose buckets may have versioning."""
    if not VERSITYGW.is_file():
        pytest.fail(f"{VERSITYGW} missing: make infra-up builds it")
    root = tmp_path_factory.mktemp("versioned-s3")
    folders = [root / name for name in ("buckets", "meta", "versions")]
    for folder in folders:
        folder.mkdir()
    address = f"127.0.0.1:{free_port()}"
    env = {"PATH": os.environ["PATH"], "ROOT_ACCESS_KEY": ACCESS, "ROOT_SECRET_KEY": SECRET}
    args = [str(VERSITYGW), "--port", address, "--quiet", "posix", "--sidecar", str(folders[1])]
    proc = subprocess.Popen(
        [*args, "--versioning-dir", str(folders[2]), str(folders[0])], env=env, stderr=subprocess.DEVNULL
    )
    client = Minio(address, ACCESS, SECRET, secure=False)

    def answers() -> bool:
        assert proc.poll() is None, f"versitygw exited with {proc.returncode}"
        try:
            client.list_buckets()
        except (MinioException, urllib3.exceptions.HTTPError, OSError):  # not listening yet
            return False
        return True

    try:
        eventually_sync(answers, timeout=20, what="the versioned versitygw to answer")
        yield address
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def store(versioned_s3: str, request: pytest.FixtureRequest) -> ObjectStore:
    """A bucket of this test's own, versioning enabled."""
    bucket = f"versioned-{abs(hash(request.node.name)) % 10**8}"
    update = {"s3_endpoint": versioned_s3, "s3_access_key": SecretStr(ACCESS), "s3_secret_key": SecretStr(SECRET)}
    infra = InfraSettings().model_copy(update={**update, "s3_bucket": bucket, "s3_secure": False})
    store = ObjectStore(infra)
    store.client.make_bucket(bucket)
    store.client.set_bucket_versioning(bucket, VersioningConfig("Enabled"))
    return store


def put_twice(store: ObjectStore, key: str) -> None:
    """Two versions of ``key``: the mixer's retry writing an object again keeps the first in a versioned bucket."""
    for body in (b"first take of the recording", b"second take"):
        store.client.put_object(store.bucket, key, io.BytesIO(body), len(body))


def versions(store: ObjectStore, prefix: str) -> list[tuple[str, str | None]]:
    found = store.client.list_objects(store.bucket, prefix=prefix, recursive=True, include_version=True)
    return [(item.object_name or "", item.version_id) for item in found]


async def test_every_version_of_the_meetings_objects_is_counted_and_deleted(store: ObjectStore) -> None:
    raw, mixed = meeting_prefixes("acme", UUID)
    keys = [f"{raw}f1.m4a", f"{raw}metadata.json", f"{mixed}flac", f"{mixed}part1.flac"]
    for key in keys:
        put_twice(store, key)
    neighbour_raw, neighbour_mixed = meeting_prefixes("acme", NEIGHBOUR)
    put_twice(store, f"{neighbour_mixed}flac")

    assert (await count(store, raw)).objects == 4 and (await count(store, mixed)).objects == 4
    assert len(await listed(store, raw)) == 4, "each version counted: what the bucket really stores"

    deleted = await delete(store, raw) + await delete(store, mixed)

    assert deleted == 8
    assert versions(store, raw) == [] and versions(store, mixed) == [], "no earlier version, no delete marker left"
    assert len(versions(store, neighbour_mixed)) == 2, "the neighbour's versions are untouched"
    assert await listed(store, neighbour_raw) == []


def remaining(store: ObjectStore, prefix: str) -> bytes:
    """The server's own ListObjectVersions answer under ``prefix``, unparsed (no client library in between)."""
    response = store.client._execute("GET", store.bucket, query_params={"versions": "", "prefix": prefix})
    return bytes(response.data)


async def test_objects_already_deleted_leave_delete_markers_which_are_listed_and_deleted_too(
    store: ObjectStore,
) -> None:
    # The mixer deletes its raw tracks once mixed: in a versioned bucket each delete leaves a marker, which versitygw
    # dates in nanoseconds (minio-py's own listing refused the whole answer, and the meeting could not be forgotten).
    raw, mixed = meeting_prefixes("acme", UUID)
    put_twice(store, f"{raw}f1.m4a")
    store.client.remove_object(store.bucket, f"{raw}f1.m4a")
    put_twice(store, f"{mixed}flac")
    assert b"<DeleteMarker>" in remaining(store, raw), "the server kept the earlier versions behind a marker"

    assert (await count(store, raw)).objects == 3, "two versions and the marker"
    assert (await count(store, raw)).bytes == len(b"first take of the recording") + len(b"second take")

    assert await delete(store, raw) + await delete(store, mixed) == 5
    assert b"<Key>" not in remaining(store, raw) and b"<Key>" not in remaining(store, mixed)


async def test_a_listing_of_many_pages_is_followed_to_its_end(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(forget_objects, "VERSION_PAGE_KEYS", 2)  # the real server pages at 2 entries
    raw, _ = meeting_prefixes("acme", UUID)
    keys = [f"{raw}f{n}.m4a" for n in range(3)]
    for key in keys:
        put_twice(store, key)
    store.client.remove_object(store.bucket, keys[1])

    # versitygw lists f2's current version on two pages (the page after the one ending with it): counted once.
    assert len(await listed(store, raw)) == 7, "3 keys × 2 versions and one marker, over 4 pages"
    assert await delete(store, raw) == 7
    assert b"<Key>" not in remaining(store, raw)
