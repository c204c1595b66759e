"""A long meeting's Opus part, its packets copied behind a pre-skip (the submitter's ``ogg_opus``), as the self-hosted
provider hears it: the packaged tiny.en model through the transcriber's own ffmpeg decode (which applies the pre-skip),
so the part's words are the meeting's words at the meeting's times less the part's offset."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from zoomsymbl_submitter import ogg_opus
from zoomsymbl_whisper import ChannelUtterance, ModelConfig, Transcriber, packaged_model_dir

pytestmark = [pytest.mark.integration]
LINES = ("Can we ship the release on Friday?", "I will send the release notes tomorrow.")
CUT = 4.0  # seconds: in the pause between the two lines


@pytest.fixture(scope="module")
def meeting(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Channel 1 says LINES[0] at 0.5 s, channel 2 LINES[1] at 6 s: 10 s of Opus as the mixer writes it."""
    folder = tmp_path_factory.mktemp("opus-part")
    for index, line in enumerate(LINES):
        subprocess.run(["espeak-ng", "-w", str(folder / f"{index}.wav"), line], check=True, timeout=60)
    out = folder / "meeting.opus"
    graph = "[0:a]adelay=500,apad=whole_dur=10[a];[1:a]adelay=6000,apad=whole_dur=10[b];[a][b]join=inputs=2[o]"
    opus = ["-c:a", "libopus", "-mapping_family", "255", "-b:a", "64000", "-compression_level", "0"]
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(folder / "0.wav"), "-i", str(folder / "1.wav"),
         "-filter_complex", graph, "-map", "[o]", "-t", "10", "-ar", "48000", *opus, str(out)],
        check=True, timeout=60,
    )  # fmt: skip
    return out


def words(utterances: list[ChannelUtterance], channel: int) -> str:
    return " ".join(u.text.strip() for u in utterances if u.channel == channel)


def test_a_copied_part_is_heard_at_the_meetings_times(meeting: Path, tmp_path: Path) -> None:
    part = tmp_path / "part2.opus"
    with meeting.open("rb") as source, part.open("wb") as target:
        made = ogg_opus.cut(source, target, round(CUT * ogg_opus.RATE), None)
    assert made.pre_skip >= ogg_opus.PRE_ROLL  # the part holds audio from before the cut, which must not be heard
    model = Transcriber(ModelConfig(packaged_model_dir(), language="en"))
    model.load()

    whole = model.transcribe_sync(meeting, 2)
    heard = model.transcribe_sync(part, 2)

    assert "tomorrow" in words(whole, 2).lower()
    assert words(heard, 2) == words(whole, 2)
    assert words(heard, 1) == "", "the first line ended before the cut: nothing of it is in the part"
    said = [u for u in whole if u.channel == 2]
    again = [u for u in heard if u.channel == 2]
    assert [round(u.start_seconds + CUT, 1) for u in again] == pytest.approx(
        [round(u.start_seconds, 1) for u in said], abs=0.15
    )
