"""The MP4 → ADTS copy that keeps no table in memory: byte for byte what ``ffmpeg -c copy -f adts`` writes."""

from __future__ import annotations

import json
import random
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from zoomsymbl_common.media_tools import run_tool
from zoomsymbl_mixer.mp4 import NOT_PLAIN, copy_args, copy_to_adts, parse_copy
from zoomsymbl_mixer.mp4_layout import NotPlainAac
from zoomsymbl_mixer.preparation import prepare

Box = tuple[bytes, int, int, tuple[int, ...]]
QUIET = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]


def ffmpeg(*args: str) -> None:
    subprocess.run([*QUIET, *args], check=True, timeout=120)


def tone(path: Path, *extra: str, seconds: float = 3.0, rate: int = 32000, channels: int = 1) -> Path:
    graph = f"sine=frequency=440:sample_rate={rate}:duration={seconds}"
    ffmpeg("-f", "lavfi", "-i", graph, "-c:a", "aac", "-ac", str(channels), "-b:a", "48k", *extra, str(path))
    return path


def ffmpeg_adts(source: Path, target: Path) -> bytes:
    ffmpeg("-i", str(source), "-map", "0:a:0", "-c", "copy", "-map_metadata", "-1", "-f", "adts", str(target))
    return target.read_bytes()


def ffprobe(path: Path, *args: str) -> Any:
    out = subprocess.run(["ffprobe", "-v", "error", *args, "-of", "json", str(path)], capture_output=True, timeout=60)
    return json.loads(out.stdout)


def boxes(data: bytes | bytearray, start: int = 0, end: int | None = None, parents: tuple[int, ...] = ()) -> list[Box]:
    """(type, offset, size, parents) of every box, depth first, for the containers this test edits."""
    end = len(data) if end is None else end
    found: list[Box] = []
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        found.append((kind, offset, size, parents))
        if kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"):
            found += boxes(data, offset + 8, offset + size, (*parents, offset))
        offset += size
    return found


def box(data: bytes | bytearray, kind: bytes) -> tuple[int, int, tuple[int, ...]]:
    (offset, size, parents) = next((o, s, p) for k, o, s, p in boxes(data) if k == kind)
    return offset, size, parents


def replace_box(data: bytes, kind: bytes, payload: bytes) -> bytes:
    """``data`` with the first ``kind`` box's payload replaced and its parents' sizes adjusted (moov at the end)."""
    offset, size, parents = box(data, kind)
    edited = bytearray(data[:offset] + struct.pack(">I4s", len(payload) + 8, kind) + payload + data[offset + size :])
    delta = len(payload) + 8 - size
    for parent in parents:
        (parent_size,) = struct.unpack(">I", edited[parent : parent + 4])
        edited[parent : parent + 4] = struct.pack(">I", parent_size + delta)
    return bytes(edited)


def with_edit(path: Path, target: Path, *, duration: int, media_time: int = 1024, count: int = 1) -> Path:
    data = path.read_bytes()
    entry = struct.pack(">IiI", duration, media_time, 0x00010000)
    target.write_bytes(replace_box(data, b"elst", struct.pack(">II", 0, count) + entry * count))
    return target


def as_co64(path: Path, target: Path) -> Path:
    data = path.read_bytes()
    offset, _, _ = box(data, b"stco")
    (count,) = struct.unpack(">I", data[offset + 12 : offset + 16])
    chunks = struct.unpack(f">{count}I", data[offset + 16 : offset + 16 + 4 * count])
    converted = replace_box(data, b"stco", struct.pack(">II", 0, count) + struct.pack(f">{count}Q", *chunks))
    target.write_bytes(converted.replace(b"stco", b"co64", 1) if b"stco" in converted else converted)
    return target


def _same_as_ffmpeg(source: Path, tmp_path: Path) -> None:
    copy = copy_to_adts(source, tmp_path / "ours.aac")
    theirs = ffmpeg_adts(source, tmp_path / "theirs.aac")
    assert (tmp_path / "ours.aac").read_bytes() == theirs
    probe = ffprobe(source, "-show_entries", "format=duration")
    assert copy.duration == pytest.approx(float(probe["format"]["duration"]), abs=1e-6)
    first = ffprobe(source, "-select_streams", "a:0", "-read_intervals", "%+#1", "-show_entries", "packet=pts")
    assert -int(first["packets"][0]["pts"]) == copy.priming  # the MP4's edit list hides the encoder's priming
    counted = ffprobe(tmp_path / "theirs.aac", "-count_packets", "-show_entries", "stream=nb_read_packets")
    assert copy.frames == int(counted["streams"][0]["nb_read_packets"])


def test_a_zoom_like_track_is_copied_byte_for_byte_as_ffmpeg_copies_it(tmp_path: Path) -> None:
    _same_as_ffmpeg(tone(tmp_path / "a.m4a"), tmp_path)  # the index (moov) after the audio, as ffmpeg writes


def test_the_index_before_the_audio_and_stereo_at_44100(tmp_path: Path) -> None:
    _same_as_ffmpeg(tone(tmp_path / "a.m4a", "-movflags", "+faststart", rate=44100, channels=2), tmp_path)


def test_the_sound_track_behind_a_video_track_in_many_chunks(tmp_path: Path) -> None:
    source = tmp_path / "av.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc=size=64x48:rate=5:duration=4",
        "-f", "lavfi", "-i", "sine=frequency=300:sample_rate=48000:duration=4",
        "-c:v", "mpeg4", "-c:a", "aac", "-b:a", "48k", str(source),
    )  # fmt: skip
    data = source.read_bytes()
    chunk_counts = [struct.unpack(">I", data[o + 12 : o + 16])[0] for k, o, _, _ in boxes(data) if k == b"stco"]
    assert chunk_counts[1] > 1  # the audio track's frames lie in several chunks between the video's
    _same_as_ffmpeg(source, tmp_path)


@pytest.mark.parametrize("seconds", [1000, 1021, 2500])
def test_frames_past_the_edits_end_are_dropped_as_ffmpeg_drops_them(tmp_path: Path, seconds: int) -> None:
    source = with_edit(tone(tmp_path / "a.m4a"), tmp_path / "cut.m4a", duration=seconds)  # movie units: ms
    _same_as_ffmpeg(source, tmp_path)
    assert copy_to_adts(source, tmp_path / "x.aac").frames < copy_to_adts(tmp_path / "a.m4a", tmp_path / "y.aac").frames


def test_64_bit_chunk_offsets(tmp_path: Path) -> None:
    source = as_co64(tone(tmp_path / "a.m4a"), tmp_path / "co64.m4a")
    assert b"co64" in source.read_bytes() and b"stco" not in source.read_bytes()
    _same_as_ffmpeg(source, tmp_path)


def _refused(source: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.aac"
    with pytest.raises(NotPlainAac):
        copy_to_adts(source, target)
    assert not target.exists()


def test_a_fragmented_mp4_is_left_to_ffmpeg(tmp_path: Path) -> None:
    _refused(tone(tmp_path / "f.mp4", "-movflags", "frag_keyframe+empty_moov"), tmp_path)


def test_other_codecs_and_containers_are_left_to_ffmpeg(tmp_path: Path) -> None:
    alac = tmp_path / "alac.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "alac", str(alac))
    _refused(alac, tmp_path)
    mp3 = tmp_path / "a.mp3"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", str(mp3))
    _refused(mp3, tmp_path)
    garbage = tmp_path / "garbage.m4a"
    garbage.write_bytes(bytes(range(256)) * 64)
    _refused(garbage, tmp_path)


def test_two_edits_or_an_empty_edit_are_left_to_ffmpeg(tmp_path: Path) -> None:
    source = tone(tmp_path / "a.m4a")
    _refused(with_edit(source, tmp_path / "two.m4a", duration=1000, count=2), tmp_path)
    _refused(with_edit(source, tmp_path / "empty.m4a", duration=1000, media_time=-1), tmp_path)


def test_a_truncated_download_is_refused_not_copied_short(tmp_path: Path) -> None:
    source = tone(tmp_path / "a.m4a", "-movflags", "+faststart")  # the index first: the frames it names are cut
    cut = tmp_path / "cut.m4a"
    cut.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    _refused(cut, tmp_path)


def test_tables_that_claim_more_than_the_file_holds_are_refused(tmp_path: Path) -> None:
    data = tone(tmp_path / "a.m4a").read_bytes()
    offset, _, _ = box(data, b"stsz")
    lying = bytearray(data)
    lying[offset + 16 : offset + 20] = struct.pack(">I", 0xFFFFFFF0)  # sample count
    (tmp_path / "lying.m4a").write_bytes(lying)
    _refused(tmp_path / "lying.m4a", tmp_path)
    offset, size, _ = box(data, b"moov")
    overrun = bytearray(data)
    overrun[offset : offset + 4] = struct.pack(">I", size + 100)
    (tmp_path / "overrun.m4a").write_bytes(overrun)
    _refused(tmp_path / "overrun.m4a", tmp_path)


async def test_the_child_process_prints_the_copy_or_exits_3_for_ffmpeg(tmp_path: Path) -> None:
    source = tone(tmp_path / "a.m4a")
    done = await run_tool(copy_args(source, tmp_path / "a.aac"), timeout=60, capture_stdout=True)
    assert done.returncode == 0, done.tail
    assert parse_copy(done.stdout) == copy_to_adts(source, tmp_path / "again.aac")
    assert (tmp_path / "a.aac").read_bytes() == (tmp_path / "again.aac").read_bytes()
    mp3 = tmp_path / "a.mp3"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", str(mp3))
    refused = await run_tool(copy_args(mp3, tmp_path / "b.aac"), timeout=60, capture_stdout=True)
    assert refused.returncode == NOT_PLAIN and parse_copy(refused.stdout) is None
    assert not (tmp_path / "b.aac").exists()
    assert refused.tail[-1].startswith("not plain AAC in MP4: ")


def test_only_a_whole_copy_report_is_believed() -> None:
    assert parse_copy('{"frames": 10, "duration": 1.5, "priming": 1024, "timescale": 48000}') is not None
    for output in ("", "[]", "{}", '{"frames": 0, "duration": 1.5, "priming": 0, "timescale": 48000}',
                   '{"frames": 10, "duration": 1.5, "priming": -1, "timescale": 48000}',
                   '{"frames": 10, "duration": "x", "priming": 0, "timescale": 48000}'):  # fmt: skip
        assert parse_copy(output) is None


async def test_prepare_mixes_the_copy_and_never_the_mp4(tmp_path: Path) -> None:
    source = tone(tmp_path / "a.m4a")
    duration = float(ffprobe(source, "-show_entries", "format=duration")["format"]["duration"])
    probe, path, skip = await prepare(source, "a", 60)
    assert path == tmp_path / "a.aac" and path.exists() and not source.exists()
    assert (probe.codec, probe.sample_rate, probe.channels) == ("aac", 32000, 1)
    assert probe.duration == pytest.approx(duration, abs=1e-6)  # the MP4's, not ADTS's estimate
    assert skip == 1024


async def test_prepare_falls_back_to_ffmpeg_for_what_it_does_not_copy(tmp_path: Path) -> None:
    source = tone(tmp_path / "f.m4a", "-movflags", "frag_keyframe+empty_moov")
    probe, path, skip = await prepare(source, "f", 60)
    assert path.suffix == ".aac" and not source.exists()  # ffmpeg made the copy
    assert probe.codec == "aac" and probe.duration == pytest.approx(3.0, abs=0.05)
    assert skip >= 0


@pytest.mark.parametrize("layout", [(), ("-movflags", "+faststart")])
def test_corrupted_tables_are_refused_or_copied_never_a_crash(tmp_path: Path, layout: tuple[str, ...]) -> None:
    """Untrusted bytes: any byte of the index changed, the copy ends in NotPlainAac or a file, nothing else."""
    data = tone(tmp_path / "a.m4a", *layout, seconds=1.0).read_bytes()
    start, size, _ = box(data, b"moov")
    rng = random.Random(21)
    outcomes = {"copied": 0, "refused": 0}
    for trial in range(400):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            mutated[start + rng.randrange(size)] = rng.randrange(256)
        source = tmp_path / f"m{trial}.m4a"
        source.write_bytes(mutated)
        try:
            copy = copy_to_adts(source, tmp_path / "out.aac")
        except NotPlainAac:
            outcomes["refused"] += 1
            assert not (tmp_path / "out.aac").exists()
        else:
            outcomes["copied"] += 1
            assert copy.frames > 0 and (tmp_path / "out.aac").stat().st_size > 7 * copy.frames
        source.unlink()
    assert outcomes["copied"] > 0 and outcomes["refused"] > 0  # both ways were exercised
