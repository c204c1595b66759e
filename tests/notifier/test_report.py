"""The words of the e-mail: complete, escaped, and with a subject that cannot smuggle headers."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from zoomsymbl_common.providers.base import InsightItem, Insights, SummaryTopic, TranscriptMessage
from zoomsymbl_common.stored_insights import decode, encode
from zoomsymbl_notifier.meetings import MeetingFacts, Speaker
from zoomsymbl_notifier.report import (
    EMAIL_BUDGET_BYTES,
    clean_line,
    failure_notice,
    meeting_report,
    stage_text,
    subject_for,
    talk_time_lines,
    transcript_text,
)

INSIGHTS = Insights(
    messages=(TranscriptMessage("Ann <b>", "Hello & welcome", 3725.4, 3727.0),),
    topics=(InsightItem("Budget <script>"),),
    questions=(InsightItem("Who pays?"),),
    action_items=(InsightItem("Send the deck", assignee="Ann", due="2026-12-01T10:00:00.000Z"),),
    follow_ups=(InsightItem("Book a room"),),
    summary=("We agreed on <everything>.",),
)
FACTS = MeetingFacts(
    topic="Q3 <planning>",
    host_email="host@example.com",
    speakers=(Speaker(1, "Ann", 90.0), Speaker(2, "Ben", 30.0), Speaker(3, "Cy", None)),
)


def test_subject_strips_line_breaks_and_control_characters() -> None:
    subject = subject_for("Sync\r\nBcc: victim@example.com\x00\x1b[31m\u2028x", 0)
    assert "\r" not in subject and "\n" not in subject and "\x00" not in subject and "\u2028" not in subject
    assert subject == "Meeting summary: Sync Bcc: victim@example.com [31m x"


def test_a_rerun_is_marked_as_an_update_in_the_subject() -> None:
    assert subject_for("Sync", 2) == "[Update 2] Meeting summary: Sync"
    assert subject_for("", 0) == "Meeting summary: your Zoom meeting"
    assert subject_for("Sync", 0, failed=True) == "Processing failed: Sync"


def test_clean_line_collapses_whitespace_and_bounds_length() -> None:
    assert clean_line("  a \t b\n\nc  ") == "a b c"
    assert len(clean_line("x" * 1000)) == 160


def test_report_lists_every_section_in_text_and_escapes_everything_in_html() -> None:
    report = meeting_report(INSIGHTS, FACTS, 0, ["https://example.com/summary?a=1&b=2"])
    for expected in ("We agreed on <everything>.", "Send the deck (owner: Ann, due: 2026-12-01)", "Book a room",
                     "Who pays?", "Budget <script>", "Ann: 0:01:30 (75%)", "Ben: 0:00:30 (25%)",
                     "Summary page: https://example.com/summary?a=1&b=2"):  # fmt: skip
        assert expected in report.text
    assert "<script>" not in report.html and "Budget &lt;script&gt;" in report.html
    assert "We agreed on &lt;everything&gt;." in report.html
    assert 'href="https://example.com/summary?a=1&amp;b=2"' in report.html
    assert "Cy" not in report.text, "a speaker without measured talk time is not listed with a made-up one"


def test_a_link_that_is_not_http_is_left_out() -> None:
    report = meeting_report(INSIGHTS, FACTS, 0, ["javascript:alert(1)", "https://ok.example/x"])
    assert "javascript" not in report.html and "javascript" not in report.text
    assert "https://ok.example/x" in report.html


def test_transcript_is_one_timed_line_per_utterance() -> None:
    assert transcript_text(INSIGHTS.messages) == "[1:02:05] Ann <b>: Hello & welcome\n"
    assert transcript_text(()) == "(no speech was transcribed)\n"


def test_talk_time_without_any_measurement_has_no_percentages() -> None:
    assert talk_time_lines(MeetingFacts(speakers=(Speaker(1, "", 0.0),))) == ["Channel 1: 0:00:00"]


def test_missing_summary_says_it_was_not_ready() -> None:
    report = meeting_report(Insights(extra={"summary": "not ready"}), FACTS, 0, [])
    assert "had not finished the summary" in report.text


def test_a_section_stored_without_a_reason_says_so_not_none() -> None:
    """A stored null reason decoded to the text "None" ("(unavailable: None)"); decoded as blank it would read
    "(unavailable: )". The e-mail says what the meeting page says."""
    stored = encode(replace(INSIGHTS, questions=()))
    stored["unavailable"] = {"questions": None, "topics": "  "}
    report = meeting_report(decode(stored), FACTS, 0, [])
    assert "(unavailable: no reason recorded)" in report.text
    assert "(incomplete: no reason recorded)" in report.text  # topics has lines: incomplete
    assert "None" not in report.text


def test_failure_notice_names_meeting_and_reason_escaped() -> None:
    notice = failure_notice(FACTS, 1, "symbl job failed: audio <corrupt>")
    assert notice.subject == "[Update 1] Processing failed: Q3 <planning>"
    assert "Reason: symbl job failed: audio <corrupt>" in notice.text
    assert "audio &lt;corrupt&gt;" in notice.html
    assert notice.transcript is None
    assert "Stage:" not in notice.text


def test_failure_notice_says_at_which_stage_in_words() -> None:
    notice = failure_notice(FACTS, 0, "zoom refused file 'f1'", stage_text("mixer", "download"))
    assert "Stage: downloading the recording from Zoom (mixer: download)\nReason: zoom refused file" in notice.text
    assert "<p>Stage: downloading the recording from Zoom (mixer: download)</p>" in notice.html
    assert stage_text("submitter", "retry") == "submitting the audio for transcription (submitter: retry)"
    assert stage_text("", "odd\r\nstage") == "processing the recording (odd stage)"


def test_a_summary_by_topic_and_items_with_speakers_times_and_owner_addresses() -> None:
    insights = Insights(
        summary_topics=(SummaryTopic("Release", "Ship on Friday.", 0.5, 19.0),),
        questions=(InsightItem("Can we ship on Friday?", speaker="Elisa L", start_seconds=0.5),),
        action_items=(
            InsightItem("Send the notes", assignee="Elisa L", assignee_email="elisa@x.test", start_seconds=16.5),
        ),
        decisions=(InsightItem("Ship on Friday.", speaker="Jean-Luc", start_seconds=8.5),),
        unavailable={"follow_ups": "insights engine answered HTTP 503"},
    )
    text = meeting_report(insights, FACTS, 0, []).text
    assert "[0:00:00–0:00:19] Release: Ship on Friday." in text
    assert "[0:00:00] Elisa L: Can we ship on Friday?" in text
    assert "[0:00:16] Send the notes (owner: Elisa L <elisa@x.test>)" in text
    assert "Decisions\n  - [0:00:08] Jean-Luc: Ship on Friday." in text
    assert "Follow-ups\n  - (unavailable: insights engine answered HTTP 503)" in text


LINK = "https://zoomsymbl.example.com/m/tok.en-_"


def test_the_page_link_is_near_the_top_of_both_parts() -> None:
    report = meeting_report(INSIGHTS, FACTS, 0, [], LINK)
    lines = report.text.splitlines()
    assert lines[:3] == ["Here is what was said in Q3 <planning>.", "", f"See and hear the meeting: {LINK}"]
    intro = report.html.index("Here is what was said")
    assert report.html.index(f'<a href="{LINK}">See and hear the meeting</a>') > intro
    assert report.html.index(f'<a href="{LINK}">') < report.html.index("<h2>Summary</h2>")


def test_without_a_page_link_the_report_is_as_before() -> None:
    report = meeting_report(INSIGHTS, FACTS, 0, [])
    assert "See and hear" not in report.text and "See and hear" not in report.html
    assert report.text.splitlines()[:3] == ["Here is what was said in Q3 <planning>.", "", "Summary"]


def test_the_chart_opens_the_html_part_longest_talker_first_with_an_escaped_legend() -> None:
    facts = MeetingFacts(
        topic="Sync",
        speakers=(Speaker(1, "Ann <img src=x>", 30.0), Speaker(2, "", 90.0), Speaker(3, "Cy", None)),
    )
    report = meeting_report(INSIGHTS, facts, 0, [], LINK)
    assert report.chart is not None and report.chart.png.startswith(b"\x89PNG")
    body = report.html.split("<body>", 1)[1]
    assert body.startswith(f'<p><img src="cid:{report.chart.cid}" width="240" height=')
    legend = body[: body.index("Here is what was said")]
    assert "<img src=x>" not in report.html and "Ann &lt;img src=x&gt;" in legend
    assert legend.index("Channel 2") < legend.index("Ann &lt;img"), "sorted by talk time"
    assert "0:01:30</td><td>75%" in legend and "0:00:30</td><td>25%" in legend
    assert "background:#1f77b4" in legend.split("Channel 2")[0], "the longest bar's colour beside its name"
    assert "Cy" not in legend, "a speaker without measured talk time has no bar"


def test_no_chart_without_talk_time_measures() -> None:
    mono = MeetingFacts(topic="Call", speakers=(Speaker(1, "Caller", None),))
    for facts in (mono, MeetingFacts(topic="Empty"), MeetingFacts(speakers=(Speaker(1, "A", 0.0),))):
        report = meeting_report(INSIGHTS, facts, 0, [], LINK)
        assert report.chart is None and "cid:" not in report.html


def test_the_failure_notice_has_neither_link_nor_chart() -> None:
    notice = failure_notice(FACTS, 0, "broken")
    assert notice.chart is None and "http" not in notice.text and "<a " not in notice.html


def test_a_line_break_from_a_provider_cannot_forge_a_line_of_the_text_part() -> None:
    forged = "Ship it\n  - Summary page: https://evil.example/login\n\nSee and hear the meeting: https://evil.example"
    insights = Insights(
        action_items=(InsightItem(forged, assignee="Eve\nSummary page: x"),),
        messages=(TranscriptMessage("Ann", "hi\n[0:00:00] Boss: wire the money", 1.0, 2.0),),
    )
    report = meeting_report(insights, FACTS, 0, [])
    lines = report.text.splitlines()
    assert not any(line.startswith(("  - Summary page", "See and hear", "Summary page")) for line in lines)
    assert report.transcript is not None and len(report.transcript.splitlines()) == 1


def test_a_talk_time_no_clock_can_show_is_left_out_not_a_crash() -> None:
    facts = MeetingFacts(
        topic="Sync",
        speakers=(Speaker(1, "Ann", float("inf")), Speaker(2, "Ben", 1e308), Speaker(3, "Cy", 60.0)),
    )
    report = meeting_report(INSIGHTS, facts, 0, [])
    assert report.chart is not None and talk_time_lines(facts) == ["Cy: 0:01:00 (100%)"]
    assert transcript_text([TranscriptMessage("Ann", "x", float("inf"), float("inf"))]).startswith("[?:??:??] Ann: x")


def test_the_talk_time_shares_add_up_to_100_in_the_lines_and_the_chart_legend() -> None:
    """``make demo``: 38.6 %, 38.6 % and 22.8 % were each rounded on its own, 39 % + 39 % + 23 % = 101 %."""
    facts = MeetingFacts(
        topic="Sync", speakers=(Speaker(1, "Ann", 1390.0), Speaker(2, "Ben", 1390.0), Speaker(3, "Cy", 820.0))
    )
    assert talk_time_lines(facts) == ["Ann: 0:23:10 (39%)", "Ben: 0:23:10 (38%)", "Cy: 0:13:40 (23%)"]
    report = meeting_report(INSIGHTS, facts, 0, [])
    assert report.chart is not None
    legend = [int(p) for p in re.findall(r"<td>\d:\d\d:\d\d</td><td>(\d+)%</td>", report.html)]
    assert legend == [39, 38, 23]


def test_a_report_at_every_provider_bound_stays_within_the_e_mail_budget() -> None:
    """200 items of 2,000 characters in every section and a 4 MiB transcript (the providers' bounds) made a
    17-32 MB message: over SMTP servers' limits and MongoDB's 16 MB document, which holds it in the outbox."""
    wide = "<😀>" * 500  # escaping and UTF-8 make it larger still in the HTML part
    items = tuple(InsightItem(f"{i} {wide}", assignee="Ann") for i in range(200))
    messages = tuple(TranscriptMessage("Ann", "😀" * 1_000, float(i), float(i) + 1) for i in range(1_100))
    insights = Insights(
        messages=messages, topics=items, questions=items, action_items=items, follow_ups=items, decisions=items,
        summary=tuple(f"{i} {wide}" for i in range(200)),
    )  # fmt: skip
    report = meeting_report(insights, FACTS, 0, [], LINK)
    total = sum(len(part.encode()) for part in (report.text, report.html, report.transcript or ""))
    assert total <= EMAIL_BUDGET_BYTES
    assert "more: see the meeting page)" in report.text and "See and hear the meeting" in report.text
    assert report.transcript is not None and report.transcript.endswith("The meeting page has all of it.]\n")
    assert report.transcript.startswith("[0:00:00] Ann: 😀")
    small = meeting_report(INSIGHTS, FACTS, 0, [])  # a usual report is not touched
    assert "more: see" not in small.text and small.transcript == transcript_text(INSIGHTS.messages)


def test_the_report_says_when_the_meeting_was_held_in_utc() -> None:
    """A recurring meeting's reports share a topic: the date and time tell them apart (as on the page)."""
    new_york = timezone(timedelta(hours=-5))
    facts = replace(FACTS, start_time=datetime(2026, 12, 1, 9, 0, tzinfo=new_york), duration_seconds=2712.4)
    report = meeting_report(INSIGHTS, facts, 0, [])
    assert "When: 2026-12-01 14:00 UTC (0:45:12)\n" in report.text
    assert "<p>When: 2026-12-01 14:00 UTC (0:45:12)</p>" in report.html
    assert report.text.index("When:") < report.text.index("Summary")
    unknown = meeting_report(INSIGHTS, replace(facts, duration_seconds=None), 0, [])
    assert "When: 2026-12-01 14:00 UTC\n" in unknown.text
    assert "When:" not in meeting_report(INSIGHTS, FACTS, 0, []).text, "no start time recorded: no line"
