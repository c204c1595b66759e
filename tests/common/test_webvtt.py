"""Zoom's WebVTT transcripts and captions parsed into timed, attributed cues."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from zoomsymbl_common import webvtt
from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.webvtt import MAX_TEXT, Cue, attributed, parse

FIXTURES = Path(__file__).parent / "fixtures" / "zoom"
HOSTILE_CUE = 400_000
"""Characters of one hostile cue (captions can hold text a participant typed). The tag patterns before the fix
rescanned the rest of the cue at every "<" that no ">" closed: 22 s for 40,000 "<", 33 s for 40,000 characters of
"<v ", and the square of that for this many (about an hour), on the event loop. A test cannot count the regex
engine's steps and the project times nothing in tests, so the size is the check: read in linear time it is a
fraction of a second; a quadratic pattern does not pass slowly, it stops the suite at pytest's timeout."""


def test_zoom_transcript_speakers_multiline_cues_and_utf8_names() -> None:
    cues = parse((FIXTURES / "transcript.vtt").read_bytes())

    assert cues[0] == Cue(0.0, 4.29, "Good morning, everyone. Let us go through the launch plan.", "Elisa L")
    assert cues[1].speaker == "Jürgen Müller"
    assert cues[1].text == "Thanks. The build is green, but the release notes are missing."
    assert (cues[1].start, cues[1].end) == (4.9, 9.12)
    assert [c.speaker for c in cues] == ["Elisa L", "Jürgen Müller", "Elisa L", "李小龙"]


def test_captions_with_crlf_notes_styles_cue_settings_voice_tags_and_no_speaker() -> None:
    cues = parse((FIXTURES / "captions.vtt").read_bytes())

    assert [c.text for c in cues] == [
        "Welcome to the review.",
        "The meeting starts at 10:30 sharp & ends at noon.",
        "https://example.com: see the notes",
    ]
    assert [c.speaker for c in cues] == ["Elisa L", None, None]
    assert (cues[0].start, cues[0].end) == (0.5, 3.0)
    assert cues[2].start == 3605.0


def test_a_four_hour_transcript_keeps_every_cue_in_order() -> None:
    lines = ["WEBVTT", ""]
    speakers = ("Elisa L", "Bob", "Zoë Ø")
    for n in range(4 * 3600 // 3):
        start = n * 3
        lines += [str(n + 1), f"{_clock(start)} --> {_clock(start + 2.5)}", f"{speakers[n % 3]}: sentence {n}", ""]
    cues = parse("\r\n".join(lines).encode("utf-8"))

    assert len(cues) == 4800
    assert cues[-1] == Cue(14397.0, 14399.5, "sentence 4799", "Zoë Ø")
    assert all(a.start < b.start for a, b in itertools.pairwise(cues))


def test_header_text_bom_and_missing_blank_line_after_the_header() -> None:
    doc = (
        "\ufeffWEBVTT - Zoom transcript\n00:00:01.000 --> 00:00:02.000\nAnn: hi\n\n00:00:03.000 --> 00:00:04.000\nyes\n"
    )
    assert parse(doc) == (Cue(1.0, 2.0, "hi", "Ann"), Cue(3.0, 4.0, "yes", None))


def test_broken_blocks_are_skipped_not_fatal() -> None:
    doc = (
        "WEBVTT\n\n1\nnot a timing line\nAnn: lost\n\n2\n00:00:05.000 --> 00:00:06.000\n\n"
        "3\n00:00:07.000 --> 00:00:08.000\nAnn: kept\n"
    )
    assert parse(doc) == (Cue(7.0, 8.0, "kept", "Ann"),)


@pytest.mark.parametrize("raw", [b"", b"1\n00:00:01.000 --> 00:00:02.000\nhi\n", b"WEBVTTX\n", b"\xff\xfeW\x00"])
def test_not_webvtt_is_poison(raw: bytes) -> None:
    with pytest.raises(PoisonInputError):
        parse(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Elisa L: hello", ("Elisa L", "hello")),
        ("<v.loud Bob>hey <b>you</b></v>", ("Bob", "hey you")),
        ("Ratio 3: 1 wins", (None, "Ratio 3: 1 wins")),
        ("no speaker here", (None, "no speaker here")),
        ("A&amp;B Team: go", ("A&B Team", "go")),
        ("<v.loud Ana>Hi <c.yellow>there</c> <00:00:01.000><b>now</b></v>", ("Ana", "Hi there now")),
        ("<v\tRoger Bingham>We are in <i>New York</i>", ("Roger Bingham", "We are in New York")),
        ("<lang en-US>hello</lang> <ruby>漢<rt>kan</rt></ruby>", (None, "hello 漢kan")),
        ("a < b and x <3 you", (None, "a < b and x <3 you")),
        ("&lt;b&gt; is how a tag is written", (None, "<b> is how a tag is written")),
    ],
)
def test_speaker_attribution(raw: str, expected: tuple[str | None, str]) -> None:
    assert attributed(raw) == expected


@pytest.mark.parametrize(
    "unit",
    ["<", "<v ", "<v.", "</", "< ", "<c.x ", "<v Ann"],
    ids=["lt", "voice", "class", "end", "lt-space", "c", "name"],
)
def test_tags_no_gt_closes_are_read_in_linear_time(unit: str) -> None:
    """See :data:`HOSTILE_CUE`: each of these took quadratic time before the fix; nothing closes, nothing goes."""
    raw = unit * (HOSTILE_CUE // len(unit))
    assert attributed(raw) == (None, raw.strip())


def test_a_voice_tag_followed_by_a_run_of_spaces_is_read_in_linear_time() -> None:
    """See :data:`HOSTILE_CUE`: "whitespace, then a name" could be split at every space of the run."""
    spaces = " " * HOSTILE_CUE
    assert attributed(f"<v{spaces}") == (None, "<v")
    assert attributed(f"<v{spaces}x") == (None, f"<v{spaces}x")
    assert attributed(f"<v{spaces}Ann>hi") == ("Ann", "hi")


def test_a_hostile_caption_cue_is_cut_and_the_transcript_goes_on() -> None:
    """See :data:`HOSTILE_CUE`: one cue of 400,000 characters of unclosed voice tags, in a whole document."""
    line = ("<v " * (HOSTILE_CUE // 3)).strip()
    doc = f"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n{line}\n\n00:00:03.000 --> 00:00:04.000\nAnn: still here\n"
    assert parse(doc.encode()) == (Cue(1.0, 2.0, line[:MAX_TEXT]), Cue(3.0, 4.0, "still here", "Ann"))


def test_a_cue_is_read_to_its_bound_only() -> None:
    # Markup past MAX_RAW_TEXT characters is never read: no pattern scans more of one cue than that.
    doc = f"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n{'x' * webvtt.MAX_RAW_TEXT}<v Eve>\n"
    assert parse(doc) == (Cue(1.0, 2.0, "x" * MAX_TEXT),)


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}.{round((seconds - whole) * 1000):03d}"
