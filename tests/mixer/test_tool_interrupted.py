"""An ffmpeg killed mid-merge (the pod's OOM killer) or out of scratch space is retried, not the meeting failed.

The merge runs the real ffmpeg through a wrapper on ``PATH`` that either kills it with SIGKILL, as the kernel's
OOM killer does when the container reaches its memory limit, or points its output at ``/dev/full``, where the
real ffmpeg fails with ``No space left on device``. Neither says anything about the tracks: the next try of the
same event mixes the meeting.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
from zoomsymbl_common.errors import PoisonInputError, RetryableError
from zoomsymbl_common.records import MEETINGS

from tests.mixer.conftest import TYPICAL, Rig

# The merge is the one ffmpeg run whose output is the scratch's mixed file; every other run goes through as it is.
WRAPPER = """#!/bin/sh
last=""
for arg in "$@"; do last="$arg"; done
case "$last" in
  */mixed.*)
    if [ "{fault}" = kill ]; then kill -KILL $$; fi
    n=$#; i=0
    for arg in "$@"; do
      i=$((i + 1))
      if [ "$i" -eq "$n" ]; then set -- "$@" /dev/full; else set -- "$@" "$arg"; fi
    done
    shift "$n"
    ;;
esac
exec {real} "$@"
"""


def fake_ffmpeg(directory: Path, fault: str) -> Path:
    real = shutil.which("ffmpeg")
    assert real is not None, "the tests need ffmpeg"
    directory.mkdir()
    script = directory / "ffmpeg"
    script.write_text(WRAPPER.format(fault=fault, real=real))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return directory


@pytest.mark.integration
@pytest.mark.parametrize(
    ("fault", "why"),
    [("kill", "was killed (SIGKILL"), ("full", "ran out of scratch space (No space left on device)")],
    ids=["oom-killed", "volume-full"],
)
async def test_a_merge_killed_or_out_of_space_is_retried_and_the_next_try_mixes(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str, why: str
) -> None:
    event = await rig.event(TYPICAL)
    monkeypatch.setenv("PATH", f"{fake_ffmpeg(tmp_path / 'bin', fault)}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(RetryableError) as caught:
        await rig.mixer().on_recording_completed(event)
    assert not isinstance(caught.value, PoisonInputError), "the meeting would be failed for good"
    assert why in str(caught.value)
    assert rig.published == []
    doc = await rig.mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": TYPICAL})
    assert (doc or {}).get("stage") != "failed"

    monkeypatch.undo()  # the next try, with memory and space again
    mixed = await rig.mixer().on_recording_completed(event)
    assert mixed.channels == 3
    assert [e.event_id for e in rig.published] == [mixed.event_id]


def test_only_a_kill_or_a_full_volume_is_the_machines_fault() -> None:
    from zoomsymbl_mixer.errors import interrupted

    assert interrupted("ffmpeg", -9, ()) is not None
    full = interrupted("ffmpeg", 1, ("Error writing trailer of /scratch/m/mixed.flac: No space left on device",))
    assert full is not None and "scratch space" in str(full)
    # A crash on the input (SIGSEGV), or an ordinary error exit, stays the input's fault: the meeting fails.
    assert interrupted("ffmpeg", -11, ("Segmentation fault",)) is None
    assert interrupted("ffmpeg", 1, ("Invalid data found when processing input",)) is None
