"""Work directories and the start-up sweep of those a killed process left behind (zoomsymbl_common.scratch)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from zoomsymbl_common.scratch import LOCK, quantity_bytes, sweep, work_dir

# A process that takes a work directory, writes a "track" into it, says where, and waits to be killed.
_HOLDER = """
import asyncio, sys
from pathlib import Path
from zoomsymbl_common.scratch import work_dir

async def main() -> None:
    async with work_dir(Path(sys.argv[1]), "meeting-") as path:
        (path / "0001.m4a").write_bytes(b"x" * 4096)
        print(path, flush=True)
        await asyncio.sleep(3600)

asyncio.run(main())
"""


@pytest.fixture
def holders() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        process.kill()
        process.wait(timeout=10)


def hold(root: Path, holders: list[subprocess.Popen[str]]) -> Path:
    """A work directory under ``root`` held by another, live process."""
    process = subprocess.Popen([sys.executable, "-c", _HOLDER, str(root)], stdout=subprocess.PIPE, text=True)
    holders.append(process)
    assert process.stdout is not None
    return Path(process.stdout.readline().strip())


async def test_a_work_directory_is_removed_however_the_work_ends(tmp_path: Path) -> None:
    used: list[Path] = []

    async def mix() -> None:
        async with work_dir(tmp_path / "scratch", "meeting-") as path:
            used.append(path)
            (path / "mixed.flac").write_bytes(b"flac")
            raise RuntimeError("ffmpeg failed")

    with pytest.raises(RuntimeError):
        await mix()
    assert used[0].parent == tmp_path / "scratch" and not used[0].exists()


def test_the_directory_of_a_killed_process_is_swept_and_a_live_ones_is_not(
    tmp_path: Path, holders: list[subprocess.Popen[str]]
) -> None:
    killed, alive = hold(tmp_path, holders), hold(tmp_path, holders)
    os.kill(holders[0].pid, signal.SIGKILL)  # an OOM kill: no cleanup ran
    holders[0].wait(timeout=10)
    assert (killed / "0001.m4a").exists()

    assert sweep(tmp_path, "meeting-") == [killed.name]
    assert not killed.exists()
    assert (alive / "0001.m4a").exists()  # its process still works in it


async def test_the_sweep_leaves_its_own_work_and_everything_not_its_own(tmp_path: Path) -> None:
    (tmp_path / "other-tool").mkdir()
    (tmp_path / "meeting-notes.txt").write_text("not a directory")
    fresh = tmp_path / "meeting-just-made"  # made an instant ago: its lock not taken yet
    fresh.mkdir()
    async with work_dir(tmp_path, "meeting-") as mine:
        assert sweep(tmp_path, "meeting-") == []
        assert mine.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meeting-just-made", "meeting-notes.txt", "other-tool"]


def test_a_directory_without_its_lock_is_a_leftover_once_it_is_old(tmp_path: Path) -> None:
    old = tmp_path / "meeting-from-an-older-version"
    old.mkdir()
    (old / "mixed.flac").write_bytes(b"flac")
    made = old.stat().st_mtime
    assert sweep(tmp_path, "meeting-", now=made + 60) == []
    assert sweep(tmp_path, "meeting-", now=made + 2 * 3600) == [old.name]
    assert not old.exists()


def test_a_released_lock_file_marks_a_leftover(tmp_path: Path) -> None:
    left = tmp_path / "meeting-abc"
    left.mkdir()
    (left / LOCK).write_bytes(b"")
    assert sweep(tmp_path, "meeting-", now=time.time()) == [left.name]


@pytest.mark.parametrize(
    ("quantity", "size"),
    [("20Gi", 20 << 30), ("512Mi", 512 << 20), ("1Ti", 1 << 40), ("500M", 500_000_000), ("2G", 2_000_000_000),
     ("100k", 100_000), ("1.5Gi", 3 << 29), ("1073741824", 1 << 30), (" 10Gi ", 10 << 30)],
)  # fmt: skip
def test_a_volume_size_is_read_as_kubernetes_writes_it(quantity: str, size: int) -> None:
    assert quantity_bytes(quantity) == size


@pytest.mark.parametrize("quantity", ["", "20 GB", "20gi", "-1Gi", "1e9", "Gi", "20GiB", "0x10"])
def test_anything_else_is_refused(quantity: str) -> None:
    with pytest.raises(ValueError, match="is not a size"):
        quantity_bytes(quantity)
