"""The report says when Zoom no longer had some participant's audio at the mix: whose (by name, defanged), else how
many files; a meeting with nothing missing reads as before."""

from __future__ import annotations

import pytest
from zoomsymbl_common.providers.base import Insights
from zoomsymbl_common.records import MissingAudio
from zoomsymbl_notifier.meetings import MeetingFacts, Speaker, facts_from_doc
from zoomsymbl_notifier.report import meeting_report

from tests.notifier.conftest import Notifier

LINE = (
    "Incomplete: Zoom no longer had the audio of Ana Lee and 1 other recording file;"
    " their words are not in this report."
)


@pytest.mark.integration
async def test_the_e_mail_of_a_meeting_mixed_without_a_participant_track_says_whose_audio_is_missing(
    notifier: Notifier,
) -> None:
    # As the mixer writes it when one participant's file answered 404 and another, unnamed, was not listed.
    await notifier.submitter.meeting("m-missing", missing_audio={"names": ["Ana Lee"], "others": 1})
    await notifier.processed(await notifier.submitter.submit("m-missing"))

    [message] = notifier.smtp.messages
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    lines = str(text.get_content()).splitlines()
    assert LINE in lines
    assert lines.index(LINE) < next(i for i, line in enumerate(lines) if line.startswith("Summary"))
    assert f"<p>{LINE}</p>" in str(html.get_content())


def test_names_are_defanged_in_text_and_escaped_in_html() -> None:
    facts = MeetingFacts(topic="Sync", missing=MissingAudio(names=["<b>www.evil.example</b>", "Bo\r\nBcc: x"]))
    report = meeting_report(Insights(), facts, 0, [])
    line = "Incomplete: Zoom no longer had the audio of <b>www[.]evil[.]example</b> and Bo Bcc: x; their words"
    assert line in report.text
    assert "&lt;b&gt;www[.]evil[.]example&lt;/b&gt; and Bo Bcc: x;" in report.html and "<b>www" not in report.html


def test_a_meeting_mixed_before_the_names_were_kept_says_how_many_files() -> None:
    doc = {"tenant": "acme", "meeting_uuid": "m", "mix": {"missing_files": ["f1", "f2"]}}
    report = meeting_report(Insights(), facts_from_doc(doc), 0, [])
    assert "Incomplete: Zoom no longer had the audio of 2 recording files; their words are not in this report." in (
        report.text
    )


def test_a_meeting_with_nothing_missing_reads_as_before() -> None:
    doc = {"tenant": "acme", "meeting_uuid": "m", "topic": "Sync", "mix": {"missing_files": []},
           "channel_map": [{"channel": 1, "participant_name": "Elisa L"}],
           "speaker_stats": [{"channel": 1, "talk_seconds": 60.0}]}  # fmt: skip
    facts = facts_from_doc(doc)
    assert facts.missing is None
    assert facts == MeetingFacts(topic="Sync", speakers=(Speaker(1, "Elisa L", 60.0),))
    report = meeting_report(Insights(), facts, 0, [])
    assert "Incomplete" not in report.text and "Incomplete" not in report.html
    assert report.text.startswith("Here is what was said in Sync.\n\nSummary\n")
