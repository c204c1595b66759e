"""The decoder's ffmpeg command: local files in audio containers only (no model needed)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from zoomsymbl_whisper.decoder import ffmpeg_channel_args

from tests.hostile_media import MANIFESTS, make_canary, write_manifest


def test_the_input_is_a_local_file_in_an_audio_container() -> None:
    args = ffmpeg_channel_args(Path("/s/mixed.flac"), 2)
    at = args.index("-i")
    assert args[at + 1] == "file:/s/mixed.flac"
    demuxers = "flac,wav,ogg,mov,mp3,aac,matroska"
    assert args[at - 4 : at] == ["-protocol_whitelist", "file,pipe", "-format_whitelist", demuxers]


@pytest.mark.parametrize("kind", MANIFESTS)
def test_a_mixed_file_that_is_a_manifest_is_refused_without_opening_what_it_names(tmp_path: Path, kind: str) -> None:
    canary = make_canary(tmp_path)
    source = write_manifest(tmp_path / "mixed.flac", kind, canary)
    # Following it would block on the canary (a FIFO nobody writes) until this timeout.
    env = {"PATH": os.environ["PATH"]}
    done = subprocess.run(ffmpeg_channel_args(source, 1), capture_output=True, timeout=20, env=env, check=False)
    assert done.returncode != 0 and b"not on whitelist" in done.stderr and done.stdout == b""
