"""ffmpeg/ffprobe arguments, and real merges of short generated tracks (ffmpeg 5.1 is installed)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from zoomsymbl_common.events import RecordingFile
from zoomsymbl_common.media_tools import ToolTimeout, refusal, run_tool
from zoomsymbl_mixer.analytics import SilenceLog, first_sound
from zoomsymbl_mixer.channels import MixPlan, Track, plan_mix
from zoomsymbl_mixer.ffmpeg import (
    SilenceSettings,
    analysis_args,
    filter_graph,
    merge_args,
    pcm_bytes,
    resolve_format,
)
from zoomsymbl_mixer.ffprobe import parse_probe, probe_args
from zoomsymbl_mixer.preparation import as_adts, probe_file

from tests.hostile_media import DEMUXERS, MANIFESTS, make_canary, write_manifest

T0 = datetime(2025, 3, 1, 9, 0, 0, tzinfo=UTC)
LEAD_IN = 0.5


async def make_track(path: Path, *, seconds: float = 2.0, frequency: int = 440) -> Path:
    """An AAC-LC 32 kHz mono M4A: silence, a tone from LEAD_IN for one second, silence."""
    graph = f"sine=frequency={frequency}:sample_rate=32000:duration=1,adelay={int(LEAD_IN * 1000)}:all=1,apad"
    args = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", graph]
    args += ["-t", str(seconds), "-c:a", "aac", "-ar", "32000", "-ac", "1", "-b:a", "48k", str(path)]
    result = await run_tool(args, timeout=60)
    assert result.returncode == 0, result.tail
    return path


def plan_of(paths: list[Path], offsets: list[float], durations: list[float], max_channels: int = 32) -> MixPlan:
    tracks = [
        Track(
            RecordingFile(
                file_id=f"f{i}",
                participant_name=f"Speaker {i}",
                recording_start=T0 + timedelta(seconds=offset),
                download_url="https://zoom.us/x",
            ),
            str(path),
            duration,
        )
        for i, (path, offset, duration) in enumerate(zip(paths, offsets, durations, strict=True))
    ]
    return plan_mix(tracks, max_channels=max_channels)


@pytest.mark.parametrize(
    ("requested", "channels", "chosen"),
    [
        ("auto", 1, "flac"),
        ("auto", 8, "flac"),
        ("auto", 9, "opus"),
        ("flac", 12, "wav"),
        ("opus", 40, "opus"),
        ("wav", 2, "wav"),
    ],
)
def test_output_format_follows_flacs_eight_channel_limit(requested: str, channels: int, chosen: str) -> None:
    assert resolve_format(requested, channels) == chosen  # type: ignore[arg-type]


def test_auto_writes_opus_once_flac_could_pass_the_byte_limit() -> None:
    # One hour of 8 channels at 32 kHz is 1.84 GB as PCM: FLAC surely stays within 2.2 GB, not within 1.8 GB.
    assert pcm_bytes(8, 3600.0, 32_000) == 1_843_200_000
    assert resolve_format("auto", 8, seconds=3600.0, sample_rate=32_000, flac_max_bytes=2_200_000_000) == "flac"
    assert resolve_format("auto", 8, seconds=3600.0, sample_rate=32_000, flac_max_bytes=1_800_000_000) == "opus"
    assert resolve_format("flac", 8, seconds=3600.0, sample_rate=32_000, flac_max_bytes=1_800_000_000) == "flac"


def test_the_graph_delays_in_milliseconds_pads_and_joins_n_channels() -> None:
    plan = plan_of([Path("a.m4a"), Path("b.m4a")], [0, 20 * 60 + 0.25], [3600, 1800])
    graph = filter_graph(plan, 32000, None)
    assert "adelay=delays=0:all=1" in graph
    assert "adelay=delays=1200250:all=1" in graph
    assert graph.count("apad=whole_dur=3600.000") == 2
    assert "join=inputs=2:channel_layout=2 channels[out]" in graph
    assert "amerge" not in graph


def test_merge_arguments_per_format() -> None:
    plan = plan_of([Path("a.m4a")], [0], [10])
    flac = merge_args(plan, Path("out.flac"), "flac", sample_rate=32000, silence=SilenceSettings())
    assert flac[flac.index("-sample_fmt") + 1] == "s16"
    assert "-xerror" in flac
    assert flac[flac.index("-abort_on") + 1] == "empty_output"
    assert flac[-1] == "out.flac"
    wav = merge_args(plan, Path("out.wav"), "wav", sample_rate=32000, silence=None)
    assert wav[wav.index("-rf64") + 1] == "auto"
    opus = merge_args(plan, Path("out.opus"), "opus", sample_rate=32000, silence=None, opus_bitrate_per_channel=24000)
    assert opus[opus.index("-mapping_family") + 1] == "255"
    assert opus[opus.index("-b:a") + 1] == "24000"
    assert opus[opus.index("-compression_level") + 1] == "0"
    slow = merge_args(plan, Path("out.opus"), "opus", sample_rate=32000, silence=None, opus_complexity=10)
    assert slow[slow.index("-compression_level") + 1] == "10"


def test_probe_output_without_decoded_frames_is_not_audio() -> None:
    good = {"streams": [{"codec_name": "aac", "sample_rate": "32000", "channels": 1, "nb_read_frames": "19"}]}
    good["format"] = {"duration": "3.0"}  # type: ignore[assignment]
    assert parse_probe(json.dumps(good)) is not None
    good["streams"][0]["nb_read_frames"] = "0"
    assert parse_probe(json.dumps(good)) is None
    assert parse_probe("{}") is None
    assert parse_probe("not json") is None


async def test_probe_rejects_an_error_page_saved_as_m4a(tmp_path: Path) -> None:
    page = tmp_path / "zoom.m4a"
    page.write_text('{"code": 124, "message": "Invalid access token."}')
    result = await run_tool(probe_args(page), timeout=30, capture_stdout=True)
    assert result.returncode != 0 or parse_probe(result.stdout) is None


@pytest.mark.parametrize("fmt", ["flac", "wav", "opus"])
async def test_each_channel_first_sounds_at_its_offset(tmp_path: Path, fmt: str) -> None:
    offsets = [0.0, 1.3, 2.7]
    paths = [await make_track(tmp_path / f"t{i}.m4a", frequency=300 + 200 * i) for i in range(3)]
    plan = plan_of(paths, offsets, [2.0, 2.0, 2.0])
    output = tmp_path / f"mixed.{fmt}"
    silence = SilenceSettings(threshold_db=-40, min_seconds=0.2)
    log = SilenceLog(channels=3)
    args = merge_args(plan, output, fmt, sample_rate=32000, silence=silence)  # type: ignore[arg-type]
    result = await run_tool(args, timeout=60, on_line=log.feed)
    assert result.returncode == 0, result.tail
    out = (await run_tool(probe_args(output), timeout=30, capture_stdout=True)).stdout
    probe = parse_probe(out)
    assert probe is not None
    assert probe.channels == 3
    assert probe.duration == pytest.approx(4.7, abs=0.05)
    starts = [first_sound(s) for s in log.silences(probe.duration)]
    assert starts == pytest.approx([o + LEAD_IN for o in offsets], abs=0.05)
    # The analytics branch agrees with an independent pass over the written file.
    check = SilenceLog(channels=3)
    verify = ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-i", str(output), "-af"]
    verify += ["silencedetect=noise=-40dB:duration=0.2:mono=1", "-f", "null", "-"]
    await run_tool(verify, timeout=60, on_line=check.feed)
    assert [first_sound(s) for s in check.silences(probe.duration)] == pytest.approx(starts, abs=0.05)


async def test_flac_output_is_16_bit(tmp_path: Path) -> None:
    paths = [await make_track(tmp_path / "t.m4a")]
    output = tmp_path / "mixed.flac"
    result = await run_tool(
        merge_args(plan_of(paths, [0], [2]), output, "flac", sample_rate=32000, silence=None), timeout=60
    )
    assert result.returncode == 0
    args = ["ffprobe", "-v", "error", "-show_entries", "stream=sample_fmt,bits_per_raw_sample", "-of", "json"]
    out = (await run_tool([*args, str(output)], timeout=30, capture_stdout=True)).stdout
    stream = json.loads(out)["streams"][0]
    assert (stream["sample_fmt"], stream["bits_per_raw_sample"]) == ("s16", "16")


@pytest.mark.parametrize(("requested", "codec"), [("auto", "opus"), ("flac", "pcm_s16le")])
async def test_forty_channels_are_written_and_read_back_with_every_channel(
    tmp_path: Path, requested: str, codec: str
) -> None:
    base = await make_track(tmp_path / "t.m4a", seconds=1.0)
    paths = [base] * 40
    plan = plan_of(paths, [i * 0.01 for i in range(40)], [1.0] * 40, max_channels=64)
    fmt = resolve_format(requested, len(plan.channels))  # type: ignore[arg-type]
    output = tmp_path / f"mixed.{fmt}"
    result = await run_tool(merge_args(plan, output, fmt, sample_rate=32000, silence=None), timeout=120)
    assert result.returncode == 0, result.tail
    out = (await run_tool(probe_args(output), timeout=30, capture_stdout=True)).stdout
    probe = parse_probe(out)
    assert probe is not None
    assert (probe.codec, probe.channels) == (codec, 40)
    assert probe.duration == pytest.approx(1.39, abs=0.05)


async def test_a_corrupt_input_fails_the_merge(tmp_path: Path) -> None:
    bad = tmp_path / "bad.m4a"
    bad.write_bytes(b"\x00\x00\x00\x18ftypM4A " + b"\x13" * 4000)
    args = merge_args(plan_of([bad], [0], [1]), tmp_path / "o.flac", "flac", sample_rate=32000, silence=None)
    result = await run_tool(args, timeout=60)
    assert result.returncode != 0


async def test_a_tool_past_its_timeout_is_killed() -> None:
    with pytest.raises(ToolTimeout, match="ffmpeg did not finish"):
        await run_tool(
            ["ffmpeg", "-hide_banner", "-re", "-f", "lavfi", "-i", "anullsrc", "-f", "null", "-"], timeout=0.5
        )


def _guarded_inputs(args: list[str]) -> list[str]:
    """The options right before each ``-i`` (checked pairwise: whitelists must precede every input)."""
    found = []
    for at, arg in enumerate(args):
        if arg == "-i":
            found.append(" ".join(args[at - 4 : at]))
    return found


def test_every_input_of_every_command_is_local_files_and_audio_demuxers_only() -> None:
    plan = plan_of([Path("a.m4a"), Path("b.m4a"), Path("c.m4a")], [0, 1, 2], [3, 3, 3])
    guard = "-protocol_whitelist file -format_whitelist mov,mp3,aac,wav,flac,ogg,matroska"
    for args in (
        merge_args(plan, Path("o.flac"), "flac", sample_rate=32000, silence=SilenceSettings()),
        analysis_args(plan, sample_rate=32000, silence=SilenceSettings()),
    ):
        assert _guarded_inputs(args) == [guard] * 3
    probe = probe_args(Path("t.m4a"))
    assert " ".join(probe[1:5]) == guard and "hls" not in guard and "concat" not in guard


@pytest.mark.parametrize("kind", MANIFESTS)
async def test_a_track_that_is_a_manifest_is_refused_without_opening_what_it_names(tmp_path: Path, kind: str) -> None:
    canary = make_canary(tmp_path)
    track = write_manifest(tmp_path / "0000.m4a", kind, canary)
    # A tool that opened the canary would hang on it until this timeout (ToolTimeout), not fail at once.
    result = await run_tool(probe_args(track), timeout=20, capture_stdout=True)
    assert result.returncode != 0 and parse_probe(result.stdout) is None
    assert refusal(result.tail) == f"its bytes are {DEMUXERS[kind]!r}, not an audio container (refused)"
    good = await make_track(tmp_path / "0001.m4a")
    plan = plan_of([good, track], [0, 0], [2, 2])
    merged = await run_tool(merge_args(plan, tmp_path / "o.flac", "flac", sample_rate=32000, silence=None), timeout=20)
    assert merged.returncode != 0 and "not on whitelist" in " ".join(merged.tail)


async def test_the_tools_get_a_minimal_environment_without_the_services_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ZOOMSYMBL_MONGO_URI", "mongodb://svc:mongo-pw-1@db/")
    monkeypatch.setenv("ZOOMSYMBL_S3_SECRET_KEY", "s3-secret-1")
    script = "import json, os; print(json.dumps(dict(os.environ)))"
    result = await run_tool([sys.executable, "-c", script], timeout=30, capture_stdout=True)
    assert result.returncode == 0
    env = json.loads(result.stdout)
    assert not [name for name in env if name.startswith("ZOOMSYMBL_")]
    assert set(env) <= {"PATH", "LC_ALL", "LC_CTYPE"}  # LC_CTYPE: the interpreter may set it for itself


def test_each_side_of_a_stereo_call_is_read_from_its_own_channel() -> None:
    from zoomsymbl_mixer.channels import split_stereo

    mp3 = RecordingFile(file_id="rec1", file_type="MP3", download_url="https://zoom.us/x")
    sides = split_stereo(Track(mp3, "call.mp3", 20.0, 48_000, channels=2))
    graph = filter_graph(plan_mix(sides, max_channels=2, kind="phone"), 48000, None)
    assert "[0:a:0]pan=mono|c0=c0,aformat=" in graph
    assert "[1:a:0]pan=mono|c0=c1,aformat=" in graph
    assert "join=inputs=2:channel_layout=2 channels[out]" in graph
    mono = plan_mix(split_stereo(Track(mp3, "call.mp3", 20.0, 48_000)), max_channels=2, kind="phone")
    assert "pan=" not in filter_graph(mono, 48000, None)


async def _pcm(path: Path, graph: str = "anull") -> bytes:
    out = path.with_suffix(".raw")
    args = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(path), "-af", graph]
    result = await run_tool([*args, "-f", "s16le", str(out)], timeout=60)
    assert result.returncode == 0, result.tail
    return out.read_bytes()


async def test_an_mp4_track_copied_to_adts_mixes_sample_for_sample_as_the_mp4(tmp_path: Path) -> None:
    source = await make_track(tmp_path / "a.m4a", seconds=3.0)
    reference = await _pcm(source)
    probe = await probe_file(source, "a", 60)
    path, skip = await as_adts(source, probe, 60)
    assert path.suffix == ".aac"
    assert not source.exists()  # scratch holds the track once
    assert skip > 0  # AAC encoders prime; the MP4's edit list hid it
    assert await _pcm(path, f"atrim=start_sample={skip},asetpts=PTS-STARTPTS") == reference
