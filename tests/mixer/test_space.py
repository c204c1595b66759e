"""Room on the scratch volume is checked before a meeting's tracks are downloaded (issue 18, item 3)."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from zoomsymbl_common.errors import PoisonInputError, RetryableError
from zoomsymbl_common.events import RecordingFile
from zoomsymbl_common.records import MEETINGS
from zoomsymbl_common.scratch import Volume
from zoomsymbl_mixer.selection import selections
from zoomsymbl_mixer.space import SpaceNeeded, check_space, space_needed
from zoomsymbl_sandbox.zoom import Fault

from tests.mixer.conftest import NO_TRACKS, TYPICAL, Rig

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def track(index: int, size: int | None, hours: float = 1.0) -> RecordingFile:
    return RecordingFile(
        file_id=f"f{index}",
        download_url=f"https://zoom.us/rec/download/f{index}",
        recording_start=START,
        recording_end=START + timedelta(hours=hours),
        file_size=size,
    )


def test_inputs_at_their_size_or_a_generous_bound_and_the_output_at_its_worst_case() -> None:
    needed = space_needed([track(1, 30_000_000), track(2, None)], max_channels=32)
    assert needed.inputs == 30_000_000 + 3600 * 16_000
    assert needed.output == int(2 * 3600 * 48_000 * 2 * 1.01)  # two channels of 16-bit PCM at 48 kHz


def test_without_meeting_times_the_copies_of_the_tracks_loaded_at_once_are_counted() -> None:
    files = [
        RecordingFile(file_id=f"f{i}", download_url=f"https://zoom.us/rec/download/f{i}", file_size=size)
        for i, size in enumerate([10_000_000, 40_000_000, 30_000_000, 20_000_000])
    ]
    needed = space_needed(files, max_channels=32, loaded_at_once=2)
    assert needed.output == 0  # Zoom gave no times: no bound on the mix from them
    assert needed.copies == int((40_000_000 + 30_000_000) * 1.05)  # the two largest, MP4 and copy both on disk
    assert needed.total == 100_000_000 + needed.copies
    assert space_needed(files, max_channels=32, loaded_at_once=9).copies == int(100_000_000 * 1.05)


def test_32_speakers_for_8_hours_need_more_than_a_20_gib_volume() -> None:
    needed = space_needed([track(i, 250_000_000, hours=8) for i in range(32)], max_channels=32)
    assert needed.total > 20 * 2**30


class Usage:
    def __init__(self, total: int, free: int) -> None:
        self.total, self.used, self.free = total, total - free, free


def test_never_enough_is_poison_and_not_enough_now_is_retried(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    needed = SpaceNeeded(inputs=6_000_000_000, output=1_000_000_000)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: Usage(total=5_000_000_000, free=5_000_000_000))
    with pytest.raises(PoisonInputError, match=r"needs 7\.00 GB .* holds 5\.00 GB") as never:
        check_space(tmp_path, needed)
    assert never.value.stage == "space"
    monkeypatch.setattr(shutil, "disk_usage", lambda _: Usage(total=20_000_000_000, free=3_000_000_000))
    with pytest.raises(RetryableError, match=r"3\.00 GB free now"):
        check_space(tmp_path, needed)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: Usage(total=20_000_000_000, free=8_000_000_000))
    check_space(tmp_path, needed)


NODE_DISK = Usage(total=500_000_000_000, free=400_000_000_000)


def test_an_empty_dir_counts_as_its_size_limit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # An emptyDir's file system is the node's disk; Kubernetes evicts the pod past the volume's sizeLimit.
    monkeypatch.setattr(shutil, "disk_usage", lambda _: NODE_DISK)
    limit = Volume(tmp_path, 5_000_000_000)
    with pytest.raises(PoisonInputError, match=r"needs 7\.00 GB .* holds 5\.00 GB"):
        check_space(tmp_path, SpaceNeeded(inputs=6_000_000_000, output=1_000_000_000), limit=limit)
    # What the folder holds already (another meeting's tracks, a leftover) is taken: 3 GB of the 5.
    other = tmp_path / "zoomsymbl-mix-other"
    other.mkdir()
    with (other / "track.m4a").open("wb") as held:
        held.truncate(3_000_000_000)  # sparse: its size counts, no disk is used
    with pytest.raises(RetryableError, match=r"2\.00 GB free now"):
        check_space(tmp_path, SpaceNeeded(inputs=2_000_000_000, output=500_000_000), limit=limit)
    check_space(tmp_path, SpaceNeeded(inputs=1_000_000_000, output=500_000_000), limit=limit)
    # Without the limit the node's disk is all the check sees: the meeting would pass and get the pod evicted.
    check_space(tmp_path, SpaceNeeded(inputs=6_000_000_000, output=1_000_000_000))


@pytest.mark.integration
async def test_a_meeting_larger_than_the_scratch_limit_fails_before_any_download(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = await rig.event(TYPICAL)
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: NODE_DISK if str(p).startswith(str(rig.scratch)) else real(p))
    with pytest.raises(PoisonInputError, match=r"the volume holds 0\.00 GB in all") as caught:
        await rig.mixer(scratch_limit=1 << 20).on_recording_completed(event)
    assert caught.value.stage == "space"
    assert rig.sandbox.stats.downloads == {}, "no track was requested from Zoom"


@pytest.mark.integration
async def test_a_meeting_the_volume_cannot_hold_fails_before_any_download(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = await rig.event(TYPICAL)
    real = shutil.disk_usage

    def tiny(path: Any) -> Any:
        return Usage(total=1_000, free=1_000) if str(path).startswith(str(rig.scratch)) else real(path)

    monkeypatch.setattr(shutil, "disk_usage", tiny)
    with pytest.raises(PoisonInputError) as caught:
        await rig.mixer().on_recording_completed(event)
    assert caught.value.stage == "space"
    assert rig.sandbox.stats.downloads == {}, "no track was requested from Zoom"
    doc = await rig.mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": TYPICAL})
    assert not (doc or {}).get("objects", {}).get("raw"), "no track was downloaded"


@pytest.mark.integration
async def test_two_meetings_at_once_do_not_both_count_on_the_same_free_space(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = await rig.event(TYPICAL), await rig.event(NO_TRACKS)
    mixer = rig.mixer()
    needs = [
        space_needed(selections(e)[0].files, rig.tenant.max_channels, loaded_at_once=mixer.config.concurrency).total
        for e in (first, second)
    ]
    # Room for either meeting alone, not for both: what the volume reports while neither has written much yet.
    free = max(needs) + min(needs) // 2
    real = shutil.disk_usage

    def volume(path: Any) -> Any:
        return Usage(total=100 * free, free=free) if str(path).startswith(str(rig.scratch)) else real(path)

    monkeypatch.setattr(shutil, "disk_usage", volume)
    checked, go_on = asyncio.Event(), asyncio.Event()
    reach = mixer.reach

    async def held_after_its_check(event: Any, step: Any) -> None:
        await reach(event, step)
        if step == "download" and not checked.is_set():  # the first meeting passed its check, about to download
            checked.set()
            await go_on.wait()

    monkeypatch.setattr(mixer, "reach", held_after_its_check)
    running = asyncio.ensure_future(mixer.on_recording_completed(first))
    await checked.wait()
    with pytest.raises(RetryableError, match="claimed by meetings in progress"):
        await mixer.on_recording_completed(second)
    go_on.set()
    assert (await running).channels == 3
    # The first meeting's claim ends with it: the second one now fits, and mixes.
    assert (await mixer.on_recording_completed(second)).meeting_uuid == NO_TRACKS


@pytest.mark.integration
async def test_a_fallback_is_checked_for_room_before_it_is_downloaded(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every participant track gone at Zoom, the recording's audio_only file left: only the participants' need was
    checked, and the fallback (a 3 GB screen share's MP4 where the tracks were 120 MB) was downloaded unchecked,
    running the volume full (the pod evicted, again at each redelivery). Now each choice is checked before its
    download."""
    event = await rig.event(TYPICAL)
    for track in event.participant_tracks:
        rig.sandbox.faults.add(Fault(route="download", kind="status", status=404, file_id=track.file_id, count=1000))
    [tracks, fallback] = selections(event)[:2]
    huge = tuple(f.model_copy(update={"file_size": 50_000_000_000}) for f in fallback.files)
    event = event.model_copy(update={"fallback_files": huge})
    mixer = rig.mixer()
    room = space_needed(tracks.files, rig.tenant.max_channels, loaded_at_once=mixer.config.concurrency).total * 2
    real = shutil.disk_usage

    def volume(path: Any) -> Any:
        return Usage(total=room, free=room) if str(path).startswith(str(rig.scratch)) else real(path)

    monkeypatch.setattr(shutil, "disk_usage", volume)
    with pytest.raises(PoisonInputError, match="scratch space") as caught:
        await mixer.on_recording_completed(event)
    assert caught.value.stage == "space"
    assert not set(rig.sandbox.stats.downloads) & {f.file_id for f in huge}, "the fallback was never downloaded"
