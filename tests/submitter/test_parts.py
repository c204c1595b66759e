"""The part planner against the real S3 server and ffmpeg: the path's size limit, Opus parts, uneven files."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import AnyHttpUrl
from zoomsymbl_common.events import AudioMixed
from zoomsymbl_common.media_tools import run_tool
from zoomsymbl_common.providers.base import ProviderLimits
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_submitter import downmix as downmix_module
from zoomsymbl_submitter import ogg_opus, splitting
from zoomsymbl_submitter import parts as parts_module
from zoomsymbl_submitter.audio import AudioSource
from zoomsymbl_submitter.downmix import Downmixer
from zoomsymbl_submitter.parts import Part, PartPlanner, SplitSettings

from tests.submitter.support import audio_mixed, pre_skip_seconds
from tests.submitter.test_ogg_opus import audio_packets

pytestmark = pytest.mark.integration
SECONDS = 20.0
HOURS_10 = 10 * 3600.0


class Plans:
    """The split plans a MeetingStore would keep, in memory."""

    def __init__(self) -> None:
        self.by_planned: dict[int, list[Part]] = {}
        self.saves = 0

    async def load(self, event: AudioMixed, count: int) -> list[Part] | None:
        return self.by_planned.get(count)

    async def save(self, event: AudioMixed, parts: list[Part], planned: int) -> None:
        self.by_planned[planned] = parts
        self.saves += 1


async def noise_file(path: Path, channels: int, noise_seconds: float, codec: list[str]) -> Path:
    """``channels`` channels of pink noise for ``noise_seconds``, then digital silence up to SECONDS."""
    labels = "".join(f"[a{i}]" for i in range(channels))
    source = f"anoisesrc=color=pink:sample_rate=48000:amplitude=0.4:duration={noise_seconds},apad=whole_dur={SECONDS}"
    graph = f"[0:a]asplit={channels}{labels};{labels}join=inputs={channels}:channel_layout={channels} channels[out]"
    args = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source]
    made = await run_tool([*args, "-filter_complex", graph, "-map", "[out]", *codec, str(path)], timeout=60)
    made.check(stage="test")
    return path


async def channels_and_seconds(store: ObjectStore, part: Part, scratch: Path) -> tuple[int, float]:
    """What ffprobe reads in the stored part: its channel count and duration."""
    local = scratch / Path(part.object_key).name
    await store.get_file(part.object_key, str(local))
    proc = await asyncio.create_subprocess_exec(
        "ffprobe", "-v", "error", "-show_entries", "stream=channels:format=duration", "-of", "json", str(local),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    data = json.loads(out)
    return int(data["streams"][0]["channels"]), float(data["format"]["duration"])


def limits(upload: int, url: int) -> ProviderLimits:
    return ProviderLimits(
        max_file_seconds=HOURS_10, max_upload_bytes=upload, max_url_bytes=url, caps_concurrency_with_429=False
    )


OPUS = ["-c:a", "libopus", "-mapping_family", "255", "-b:a", "320000", "-f", "opus"]
FLAC = ["-ar", "32000", "-c:a", "flac", "-sample_fmt", "s16", "-f", "flac"]


async def upload(store: ObjectStore, infra: InfraSettings, path: Path, key: str, fmt: str, channels: int) -> AudioMixed:
    size = await store.put_file(key, str(path))
    return audio_mixed(21, infra, key, size, duration=SECONDS, format=fmt, channels=channels)


async def test_an_upload_is_split_at_its_limit_and_a_url_is_not(
    infra: InfraSettings, store: ObjectStore, tmp_path: Path
) -> None:
    source = await noise_file(tmp_path / "m.opus", 10, SECONDS, OPUS)
    event = await upload(store, infra, source, "mixed/acme/ten.opus", "opus", 10)
    small_upload = limits(upload=int(event.size_bytes * 0.7), url=event.size_bytes * 2)
    split = SplitSettings(search_seconds=0.5)

    public = AudioSource(infra, public_endpoint=AnyHttpUrl(f"http://{infra.s3_endpoint}"))
    by_url = await PartPlanner(public, (Plans().load, Plans().save), split).parts(event, small_upload)
    assert [(p.count, p.object_key) for p in by_url] == [(1, event.object_key)]

    plans = Plans()
    parts = await PartPlanner(AudioSource(infra), (plans.load, plans.save), split).parts(event, small_upload)
    assert len(parts) == 2
    assert all(part.size_bytes <= small_upload.max_upload_bytes for part in parts)
    tag = splitting.cut_tag(event.input_hash, event.generation, [part.offset_seconds for part in parts])
    assert [part.object_key for part in parts] == [
        f"mixed/acme/ten.{tag}.part1.opus",
        f"mixed/acme/ten.{tag}.part2.opus",
    ]
    probed = [await channels_and_seconds(store, part, tmp_path) for part in parts]
    assert [channels for channels, _ in probed] == [10, 10]
    # ffprobe counts each part's pre-skip (its pre-roll, RFC 7845): what plays is the file.
    skips = [pre_skip_seconds(tmp_path / Path(part.object_key).name) for part in parts]
    assert sum(seconds for _, seconds in probed) - sum(skips) == pytest.approx(SECONDS, abs=0.01)


async def test_a_part_denser_than_the_average_is_cut_again_and_the_plan_reused(
    infra: InfraSettings, store: ObjectStore, tmp_path: Path
) -> None:
    # Noise for 8 s, then 12 s of silence: FLAC puts nearly every byte in the first 8 s.
    source = await noise_file(tmp_path / "m.flac", 2, 8.0, FLAC)
    event = await upload(store, infra, source, "mixed/acme/uneven.flac", "flac", 2)
    limit = int(event.size_bytes * 0.7)
    plans = Plans()
    planner = PartPlanner(AudioSource(infra), (plans.load, plans.save), SplitSettings(search_seconds=0.5))

    parts = await planner.parts(event, limits(upload=limit, url=limit))

    assert len(parts) > 2  # planned as 2 by the average; the first of those held all the noise
    assert list(plans.by_planned) == [2]
    assert all(part.size_bytes <= limit for part in parts)
    assert sum(part.duration_seconds for part in parts) == pytest.approx(SECONDS, abs=0.01)
    assert await planner.parts(event, limits(upload=limit, url=limit)) == parts
    assert plans.saves == 1


async def test_a_cut_that_finds_no_common_silence_is_logged(
    infra: InfraSettings, store: ObjectStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Noise on both channels from start to end: the cut falls inside speech, which was not said anywhere.
    source = await noise_file(tmp_path / "m.flac", 2, SECONDS, FLAC)
    event = await upload(store, infra, source, "mixed/acme/talk.flac", "flac", 2)
    limit = int(event.size_bytes * 0.7)
    planner = PartPlanner(AudioSource(infra), (Plans().load, Plans().save), SplitSettings(search_seconds=0.5))
    with caplog.at_level(logging.WARNING, logger="zoomsymbl.submitter.parts"):
        parts = await planner.parts(event, limits(upload=limit, url=limit))
    warned = [r for r in caplog.records if r.getMessage().startswith("split inside speech")]
    assert len(parts) >= 2 and len(warned) == len(parts) - 1
    assert all(r.meeting_uuid == event.meeting_uuid for r in warned)  # type: ignore[attr-defined]


async def test_opus_parts_are_copied_packets_not_encoded_again(
    infra: InfraSettings, store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ffmpeg writes an Opus part: each is a run of the file's own packets (no second lossy generation)."""
    asked: list[list[str]] = []

    async def recording(args: list[str], **kwargs: Any) -> Any:
        asked.append(args)
        return await run_tool(args, **kwargs)

    monkeypatch.setattr(parts_module, "run_tool", recording)
    source = await noise_file(tmp_path / "m.opus", 10, SECONDS, OPUS)
    event = await upload(store, infra, source, "mixed/acme/copied.opus", "opus", 10)
    parts = await PartPlanner(
        AudioSource(infra), (Plans().load, Plans().save), SplitSettings(search_seconds=0.5)
    ).parts(event, limits(upload=int(event.size_bytes * 0.7), url=event.size_bytes * 2))
    assert len(parts) == 2
    assert not [args for args in asked if "libopus" in args or Path(args[-1]).name.startswith("part")]
    packets = audio_packets(source.read_bytes())
    for part in parts:
        local = tmp_path / Path(part.object_key).name
        await store.get_file(part.object_key, str(local))
        own = audio_packets(local.read_bytes())
        at = packets.index(own[0])
        assert own == packets[at : at + len(own)]
    assert sum(part.duration_seconds for part in parts) == pytest.approx(SECONDS, abs=0.001)


async def test_each_re_encoded_cut_gets_the_budget_of_its_length_and_channels(
    infra: InfraSettings,
    store: ObjectStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The cut's timeout is not the fixed setting: a long many-channel Opus part would never finish within it (an
    Opus file whose packets cannot be copied is encoded again, and says why)."""
    asked: list[tuple[str, float]] = []

    async def recording(args: list[str], *, timeout: float, **kwargs: Any) -> Any:
        asked.append((args[-1], timeout))
        return await run_tool(args, timeout=max(timeout, 60.0), **kwargs)

    def not_copyable(*args: Any) -> Any:
        raise ogg_opus.NotCopyable("page 9: granule position 1, its packets end at 2")

    monkeypatch.setattr(parts_module, "run_tool", recording)
    monkeypatch.setattr(ogg_opus, "cut", not_copyable)
    caplog.set_level(logging.WARNING, logger="zoomsymbl.submitter.parts")
    source = await noise_file(tmp_path / "m.opus", 10, SECONDS, OPUS)
    event = await upload(store, infra, source, "mixed/acme/budget.opus", "opus", 10)
    floor = 0.001  # below any budget, so the test sees which one the planner asked for
    planner = PartPlanner(
        AudioSource(infra), (Plans().load, Plans().save), SplitSettings(search_seconds=0.5, ffmpeg_timeout=floor)
    )
    parts = await planner.parts(event, limits(upload=int(event.size_bytes * 0.7), url=event.size_bytes * 2))
    cuts = [(target, timeout) for target, timeout in asked if Path(target).name.startswith("part")]
    assert len(cuts) == len(parts) == 2
    for (_, timeout), part in zip(cuts, parts, strict=True):
        assert timeout == splitting.run_timeout(floor, "opus", 10, part.duration_seconds) > floor
    warned = [r for r in caplog.records if r.getMessage().startswith("opus part encoded again")]
    assert [r.reason for r in warned] == ["page 9: granule position 1, its packets end at 2"] * 2  # type: ignore[attr-defined]


async def test_the_mono_mix_gets_the_budget_of_the_whole_file(
    infra: InfraSettings, store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The downmix decodes every channel of the whole meeting: its timeout grows with both, as a cut's does."""
    asked: list[float] = []

    async def recording(args: list[str], *, timeout: float, **kwargs: Any) -> Any:
        asked.append(timeout)
        return await run_tool(args, timeout=max(timeout, 60.0), **kwargs)

    monkeypatch.setattr(downmix_module, "run_tool", recording)
    source = await noise_file(tmp_path / "m.opus", 10, SECONDS, OPUS)
    event = await upload(store, infra, source, "mixed/acme/mono-budget.opus", "opus", 10)
    mono = await Downmixer(AudioSource(infra), ffmpeg_timeout=0.001).prepare(event, "symbl")
    assert mono.channels == 1
    assert asked == [splitting.run_timeout(0.001, "opus", 10, event.duration_seconds)]
