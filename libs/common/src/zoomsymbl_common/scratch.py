"""Scratch directories for one piece of work, and the sweep of those a killed process left behind.

A meeting's tracks, its mix or a job's audio go to a directory of their own that is removed however the work
ends, except when the process itself dies (an OOM kill, SIGKILL at the end of the grace period). Kubernetes
keeps an ``emptyDir`` across container restarts, so each such death left a whole meeting's files behind in the
pod's scratch volume, until the volume's ``sizeLimit`` got the pod evicted with the work of every meeting in it.
Each directory holds a lock (``flock``) while it is in use; at start-up a service removes the directories with
its prefix whose lock nobody holds, so a volume shared by live processes is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, BinaryIO

from pydantic import BeforeValidator

log = logging.getLogger("zoomsymbl.scratch")
LOCK = ".in-use"
"""The file each work directory holds an exclusive ``flock`` on while its work runs."""
_UNLOCKED_GRACE_SECONDS = 3600.0
"""A directory without its lock file is only taken for a leftover this long after it was made (it may be new)."""


def scratch_root(configured: str | Path | None) -> Path:
    """The configured scratch directory, else the system's temporary directory."""
    return Path(configured) if configured else Path(tempfile.gettempdir())


@contextlib.asynccontextmanager
async def work_dir(root: Path, prefix: str) -> AsyncIterator[Path]:
    """A new directory under ``root`` (made if missing) named ``prefix…``, locked while the body runs and removed
    when it ends, whatever the end."""
    path, lock = await asyncio.to_thread(_make, root, prefix)
    try:
        yield path
    finally:
        await asyncio.to_thread(_remove, path, lock)


def _make(root: Path, prefix: str) -> tuple[Path, BinaryIO]:
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    lock = (path / LOCK).open("wb")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # new and ours: never held by anyone else
    return path, lock


def _remove(path: Path, lock: BinaryIO) -> None:
    shutil.rmtree(path, ignore_errors=True)
    lock.close()


def sweep(root: Path, prefix: str, *, now: float | None = None) -> list[str]:
    """Remove the directories under ``root`` named ``prefix…`` that no live process works in; return their names.

    In use means its lock is held; a directory without a lock file is left alone for an hour (it may have been
    made an instant ago, its lock not yet taken). Anything else in ``root`` is never touched.
    """
    if not root.is_dir():
        return []
    removed: list[str] = []
    clock = time.time() if now is None else now
    for path in sorted(root.iterdir()):
        if not path.name.startswith(prefix) or path.is_symlink() or not path.is_dir():
            continue
        if _abandoned(path, clock):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    if removed:
        extra = {"directories": removed[:20], "count": len(removed)}
        log.warning("scratch left by a stopped process removed", extra=extra)
    return removed


def _abandoned(path: Path, now: float) -> bool:
    try:
        lock = (path / LOCK).open("rb")
    except FileNotFoundError:
        try:
            return now - path.stat().st_mtime > _UNLOCKED_GRACE_SECONDS
        except FileNotFoundError:
            return False  # removed meanwhile by its owner
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True  # nobody holds it: its process is gone (the lock goes when we close the file)


_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$")
_UNITS = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50,
          "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}  # fmt: skip


def quantity_bytes(value: str) -> int:
    """Bytes of a Kubernetes quantity as a volume's size is written (``20Gi``, ``500M``, ``1073741824``; binary and
    decimal suffixes, https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/); ValueError
    for anything else."""
    match = _QUANTITY.match(value.strip())
    if match is None:
        raise ValueError(f"{value[:40]!r} is not a size such as 20Gi, 500M or 1073741824")
    return int(float(match[1]) * _UNITS.get(match[2] or "", 1))


def _limit_setting(value: object) -> object:
    return quantity_bytes(value) if isinstance(value, str) else value


ScratchLimit = Annotated[int | None, BeforeValidator(_limit_setting)]
"""A ``*_SCRATCH_LIMIT_BYTES`` setting: ``20Gi`` as the chart writes a volume's size, or a number of bytes."""


@dataclass(frozen=True)
class Volume:
    """A scratch volume of ``size`` bytes whatever its file system reports: everything under ``root`` counts.

    An ``emptyDir`` (the chart's default scratch) is a folder on the node's disk: its file system reports the node's
    size and free space, while Kubernetes evicts the pod once the folder holds more than the volume's ``sizeLimit``.
    """

    root: Path
    size: int


def room(at: Path, limit: Volume | None = None) -> tuple[int, int]:
    """The size and the free bytes of the scratch volume holding ``at``: as its file system reports them, or, with
    ``limit``, at most ``limit.size`` and what ``limit.root`` does not hold of it yet."""
    usage = shutil.disk_usage(at)
    if limit is None:
        return usage.total, usage.free
    return min(usage.total, limit.size), min(usage.free, max(0, limit.size - written(limit.root)))


def written(directory: Path) -> int:
    """Bytes of the files under ``directory`` (a scratch folder: a few dozen files)."""
    total = 0
    for root, _, names in os.walk(directory):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                continue  # removed meanwhile (an MP4 replaced by its ADTS copy)
    return total
