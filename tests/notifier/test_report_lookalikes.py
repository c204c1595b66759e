"""Look-alikes of ".", ":" and "/" in names from outside carry no link either: IDNA (UTS 46, which browsers and mail
clients apply to a host) reads the ideographic, full-width and half-width full stops as ".", so ``evil。example`` is
``evil.example``, and full-width letters, colons and solidi as ASCII ones (``ｈｔｔｐ：／／``). Only the ASCII dot and
colon were defanged: a participant named ``www。evil。example login`` got a link of their choosing into our e-mail.
Each look-alike is now bracketed as the ASCII one is, as written (``www[。]evil[。]example``); a Chinese or Japanese
sentence's full stop between two words of its own script is left alone.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime

import pytest
from zoomsymbl_common.events import CallParty, PhoneCall, ReconciliationCompleted
from zoomsymbl_common.providers.base import InsightItem, Insights, SummaryTopic
from zoomsymbl_notifier.digest import MissingMeeting, digest_report
from zoomsymbl_notifier.meetings import MeetingFacts, Speaker
from zoomsymbl_notifier.report import Report, failure_notice, meeting_report

from tests.notifier.test_report_names import OURS, linkable

PAGE = "https://meetings.example.org/m/abc123"
# What IDNA reads as ".", ":" and "/" (idna.uts46_remap); NFKC does the full-width letters and U+FF0E.
IDNA_READS = str.maketrans(
    {"\u3002": ".", "\uff0e": ".", "\uff61": ".", "\uff1a": ":", "\ufe13": ":", "\ufe55": ":", "\uff0f": "/"}
)
HOSTILE = {
    "speaker": "www\u3002evil\u3002example login",
    "decider": "http\uff1a\uff0f\uff0fevil\uff0eexample/login",
    "owner": "joe@evil\uff61example",
    "owner_email": "x@evil\u3002example",
    "due": "www\uff0eevil\uff0eexample/calendar",
    "participant": "\uff48\uff54\uff54\uff50\ufe55//evil\u3002example",
    "participant_2": "joe@\uff45\uff56\uff49\uff4c\u3002\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45",
    "topic": "Sync (slides at evil\uff61example\uff0fdeck)",
    "caller": "Call www\u3002evil\u3002example now",
    "number": "evil\uff0eexample",
    "words": "log in at https\ufe13//evil\u3002example/reset",
}


def as_idna_reads(body: str) -> str:
    return unicodedata.normalize("NFKC", body.translate(IDNA_READS))


def assert_no_outside_link(report: Report, *ours: str) -> None:
    for body in (report.text, report.html):
        for link in ours:
            body = body.replace(link, "")
        read = as_idna_reads(body)
        assert linkable(read) <= OURS, linkable(read) - OURS
        assert "evil.example" not in read.lower() and "evil[.]example" in read.lower(), "defanged, still readable"


def test_no_look_alike_name_or_word_in_a_meeting_report_becomes_a_link() -> None:
    insights = Insights(
        summary_topics=(SummaryTopic("Plan", HOSTILE["words"]),),
        topics=(InsightItem(HOSTILE["owner_email"]),),
        questions=(InsightItem("Can we ship?", speaker=HOSTILE["speaker"], start_seconds=65.0),),
        decisions=(InsightItem("We ship Friday.", speaker=HOSTILE["decider"]),),
        action_items=(
            InsightItem("Send the notes.", assignee=HOSTILE["owner"], assignee_email=HOSTILE["owner_email"]),
            InsightItem("Book the room.", assignee="Elisa L", due=HOSTILE["due"]),
        ),
    )
    facts = MeetingFacts(
        topic=HOSTILE["topic"],
        duration_seconds=600.0,
        speakers=(Speaker(1, HOSTILE["participant"], 60.0), Speaker(2, HOSTILE["participant_2"], 30.0)),
    )

    report = meeting_report(insights, facts, 0, [], PAGE)

    assert_no_outside_link(report, PAGE)
    assert report.chart is not None, "the talk-time legend names the participants too"
    assert "[0:01:05] www[\u3002]evil[\u3002]example login: Can we ship?" in report.text
    assert "http[\uff1a]\uff0f\uff0fevil[\uff0e]example/login: We ship Friday." in report.text
    assert "owner: joe@evil[\uff61]example <x@evil[\u3002]example>" in report.text
    assert "due: www[\uff0e]evil[\uff0e]example/calendar" in report.text
    assert "log in at https[\ufe13]//evil[\u3002]example/reset" in report.text
    assert "\uff48\uff54\uff54\uff50[\ufe55]//evil[\u3002]example: 0:01:00 (67%)" in report.text
    assert "<td>joe@\uff45\uff56\uff49\uff4c[\u3002]\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45</td>" in report.html
    assert f'<a href="{PAGE}">' in report.html, "our own link stays a link"
    assert report.subject == f"Meeting summary: {HOSTILE['topic']}", "the subject (no client links it) as written"


def test_no_look_alike_name_in_a_call_report_or_a_failure_notice_becomes_a_link() -> None:
    call = PhoneCall(
        recording_id="r1",
        call_id="c1",
        caller=CallParty(number="1026", name=HOSTILE["caller"]),
        callee=CallParty(number=HOSTILE["number"], name=HOSTILE["speaker"]),
        direction="inbound",
        start_time=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
    )
    facts = MeetingFacts(topic=HOSTILE["topic"], speakers=(Speaker(1, HOSTILE["caller"], 20.0),), call=call)
    reason = f"channel 1 ({HOSTILE['speaker']}) has no audio; Zoom said: {HOSTILE['words']}"

    report = meeting_report(Insights(), facts, 0, [])
    notice = failure_notice(facts, 0, reason, "merge")

    assert_no_outside_link(report)
    assert_no_outside_link(notice)
    assert "Call www[\u3002]evil[\u3002]example now (1026) → www[\u3002]evil[\u3002]example login" in report.text
    assert "Zoom said: log in at https[\ufe13]//evil[\u3002]example/reset" in notice.text


def test_no_look_alike_host_or_topic_in_the_reconciliation_digest_becomes_a_link() -> None:
    day = date(2026, 11, 20)
    event = ReconciliationCompleted(
        event_id="e1",
        tenant="acme",
        meeting_uuid=ReconciliationCompleted.window_key(day, day),
        window_from=day,
        window_to=day,
        missing=("u1==", "u2=="),
    )
    missing = [
        MissingMeeting("u1==", HOSTILE["topic"], HOSTILE["owner_email"], None, "never reached"),
        MissingMeeting("u2==", HOSTILE["speaker"], "eve@example.com", None, "never reached"),
    ]

    report = digest_report(event, missing)

    assert_no_outside_link(report)
    assert "x@evil[\u3002]example" in report.text and "eve@example.com" in report.text


@pytest.mark.parametrize(
    "sentence",
    [
        "予算を承認しました。次回は来週です。",  # Japanese: no space after a full stop
        "我们讨论了预算。下周再谈。",  # Chinese
        "ｶｲｷﾞ｡ﾂｷﾞ",  # half-width katakana and its full stop
    ],
)
def test_a_cjk_sentence_keeps_its_full_stops(sentence: str) -> None:
    """Between two words of their own script they end a sentence: bracketing them would not keep a link out."""
    insights = Insights(summary=(sentence,), topics=(InsightItem(sentence),))

    report = meeting_report(insights, MeetingFacts(topic=sentence), 0, [])

    assert f"  - {sentence}" in report.text and f"<li>{sentence}</li>" in report.html
    assert "[" not in report.text.split("Summary", 1)[1].split("Talk time", 1)[0]
