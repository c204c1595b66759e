"""The mono mix for Symbl: when it is made, where it is stored, and that ffmpeg keeps every speaker."""

from __future__ import annotations

from pathlib import Path

import pytest
from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.events import AudioMixed, ChannelAssignment
from zoomsymbl_common.media_tools import run_tool
from zoomsymbl_sandbox.provider_audio import SilenceSettings, detect_speech, probe_audio
from zoomsymbl_sandbox.provider_testkit import make_tone_audio
from zoomsymbl_submitter.downmix import downmix_args, mono_event, mono_object_key, needs_downmix
from zoomsymbl_submitter.splitting import Span, cut_args

from tests.hostile_media import DEMUXERS, MANIFESTS, make_canary, write_manifest

THREE = tuple(
    ChannelAssignment(channel=n, participant_name=name, file_ids=(f"f{n}",), offset_seconds=0.0)
    for n, name in enumerate(("Elisa L", "Bob K", "Chen W"), start=1)
)


def event(**overrides: object) -> AudioMixed:
    fields: dict[str, object] = {
        "event_id": "mixed-1",
        "tenant": "acme",
        "meeting_uuid": "uuid/1==",
        "bucket": "b",
        "object_key": "mixed/acme/dXVpZC8xPT0.wav",
        "format": "wav",
        "channels": 3,
        "duration_seconds": 3.5,
        "size_bytes": 1000,
        "input_hash": "hash-1",
        "channel_map": THREE,
    }
    return AudioMixed.model_validate(fields | overrides)


def test_only_symbl_and_only_above_two_channels_needs_a_mono_mix() -> None:
    assert [needs_downmix("symbl", n) for n in (1, 2, 3, 32)] == [False, False, True, True]
    assert not needs_downmix("assemblyai", 32)


def test_the_mono_mix_lies_next_to_the_mixed_file_and_changes_with_the_generation() -> None:
    key = mono_object_key(event())
    assert key.startswith("mixed/acme/dXVpZC8xPT0.mono-") and key.endswith(".flac")
    assert mono_object_key(event()) == key
    assert mono_object_key(event(generation=1)) != key
    assert mono_object_key(event(input_hash="hash-2")) != key


def test_the_mono_event_is_the_same_meeting_with_one_diarized_channel() -> None:
    mono = mono_event(event(), "mixed/acme/x.mono-1.flac", 400)
    assert (mono.object_key, mono.format, mono.channels, mono.size_bytes) == (
        "mixed/acme/x.mono-1.flac",
        "flac",
        1,
        400,
    )
    assert mono.diarization
    assert (mono.event_id, mono.input_hash, mono.channel_map) == ("mixed-1", "hash-1", THREE)


def test_ffmpeg_arguments_sum_every_channel() -> None:
    args = downmix_args("/s/in.wav", "/s/out.flac", 3)
    assert args[args.index("-af") + 1] == "pan=mono|c0=c0+c1+c2"
    assert args[-1] == "/s/out.flac" and "flac" in args


async def test_every_speaker_is_heard_in_the_mono_mix(tmp_path: Path) -> None:
    source = make_tone_audio(tmp_path / "three.wav", [[(0.5, 1.0)], [(1.5, 2.0)], [(2.5, 3.0)]], 3.5)
    target = tmp_path / "mono.flac"
    (await run_tool(downmix_args(str(source), str(target), 3), timeout=60.0)).check(stage="downmix")
    info = await probe_audio(target)
    assert (info.channels, info.codec) == (1, "flac")
    speech = await detect_speech(target, info, SilenceSettings(), per_channel=False)
    assert [(round(s.start_s, 1), round(s.end_s, 1)) for s in speech] == [(0.5, 1.0), (1.5, 2.0), (2.5, 3.0)]


def test_the_mixed_file_is_opened_as_a_local_audio_file_only() -> None:
    args = downmix_args("/s/in.wav", "/s/out.flac", 3)
    at = args.index("-i")
    assert args[at - 4 : at] == ["-protocol_whitelist", "file", "-format_whitelist", "flac,wav,ogg,mov"]


@pytest.mark.parametrize("kind", MANIFESTS)
async def test_a_mixed_file_that_is_a_manifest_is_poison_and_what_it_names_is_never_opened(
    tmp_path: Path, kind: str
) -> None:
    canary = make_canary(tmp_path)
    source = write_manifest(tmp_path / "mixed.flac", kind, canary)
    # Following it would hang on the canary (a FIFO nobody writes) until the timeout: RetryableError.
    refused = f"its bytes are {DEMUXERS[kind]!r}, not an audio container"
    with pytest.raises(PoisonInputError, match=refused) as caught:
        (await run_tool(downmix_args(str(source), str(tmp_path / "mono.flac"), 3), timeout=20.0)).check(stage="downmix")
    assert caught.value.stage == "downmix"
    cut = cut_args(str(source), str(tmp_path / "part.flac"), Span(0.0, 1.0))
    with pytest.raises(PoisonInputError, match=refused):
        (await run_tool(cut, timeout=20.0)).check(stage="split")
