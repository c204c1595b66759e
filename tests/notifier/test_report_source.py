"""The report names the transcription source that produced it (the zoom source: Zoom's own transcript)."""

from __future__ import annotations

from zoomsymbl_common.providers.base import Insights, TranscriptMessage
from zoomsymbl_common.providers.zoom_transcript import SOURCE
from zoomsymbl_notifier.meetings import MeetingFacts
from zoomsymbl_notifier.report import meeting_report

FACTS = MeetingFacts(topic="Launch review", host_email="host@example.com", speakers=())
SAID = (TranscriptMessage("Elisa L", "Hello", 0.0, 1.0),)


def test_a_zoom_transcript_report_says_so_in_text_and_html() -> None:
    report = meeting_report(Insights(messages=SAID, extra={"source": SOURCE}), FACTS, 0, ())

    assert "Source: Zoom transcript" in report.text
    assert "<p>Source: Zoom transcript</p>" in report.html
    assert report.transcript is not None and "Elisa L" in report.transcript


def test_a_source_line_is_one_clean_line_and_absent_without_a_source() -> None:
    forged = meeting_report(Insights(messages=SAID, extra={"source": "Zoom\r\nBcc: x@y <b>"}), FACTS, 0, ())
    plain = meeting_report(Insights(messages=SAID), FACTS, 0, ())

    assert "Source: Zoom Bcc: x@y <b>" in forged.text and "&lt;b&gt;" in forged.html
    assert "Source:" not in plain.text
