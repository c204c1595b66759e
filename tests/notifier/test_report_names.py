"""Names from outside in the e-mails carry no link: anyone can join a Zoom meeting as "www.evil.example login", and
a speaker's, owner's, participant's or caller's name, the topic and a failure's reason were written unchanged into
the text and HTML parts, where mail clients make links of http://…, www.… and bare domains. Every one of them is
defanged (``www[.]evil[.]example``); an owner's plain e-mail address stays readable, as shown on purpose.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime

from zoomsymbl_common.events import CallParty, PhoneCall, ReconciliationCompleted
from zoomsymbl_common.providers.base import InsightItem, Insights, SummaryTopic
from zoomsymbl_notifier.digest import MissingMeeting, digest_report
from zoomsymbl_notifier.meetings import MeetingFacts, Speaker
from zoomsymbl_notifier.report import Report, failure_notice, meeting_report

PAGE = "https://meetings.example.org/m/abc123"
OWNER_EMAIL = "elisa@example.com"
# What a mail client links in text: a scheme's "://", and a bare domain (a dot between a letter or digit and two
# letters or more: www.evil.example, joe@evil.example, evil.example/login).
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
HOST = re.compile(r"[^\W_][\w-]*(?:\.[^\W_][\w-]*)*\.[^\W\d_]{2,}")
# Hosts the reports show on purpose: an owner's plain address, the attachment's name.
OURS = {"example.com", "transcript.txt"}
HOSTILE = {
    "speaker": "www.evil.example login",
    "decider": "http://evil.example/login",
    "owner": "joe@evil.example",
    "owner_email": "x@evil.example/login",
    "follow_up_owner": "Evil.Example support",
    "due": "www.evil.example/calendar",
    "participant": "https://bank.example@evil.example/",
    "participant_2": "joe@evil.example",
    "topic": "Sync (slides at evil.example/deck)",
    "caller": "Call www.evil.example now",
    "callee": "evil.example",
    "number": "evil.example",
}


def linkable(body: str) -> set[str]:
    """What a mail client would make a link of in ``body``'s visible text (an HTML part's tags left out)."""
    visible = html.unescape(re.sub(r"<[^>]*>", " ", body))
    return {*SCHEME.findall(visible), *HOST.findall(visible)}


def assert_no_outside_link(report: Report, *ours: str) -> None:
    for body in (report.text, report.html):
        for link in ours:
            body = body.replace(link, "")
        assert linkable(body) <= OURS, linkable(body) - OURS
        assert "evil.example" not in body.lower() and "evil[.]example" in body.lower(), "defanged, still readable"


def test_no_name_in_a_meeting_report_becomes_a_link() -> None:
    insights = Insights(
        summary_topics=(SummaryTopic("Plan", "We planned."),),
        questions=(InsightItem("Can we ship?", speaker=HOSTILE["speaker"], start_seconds=65.0),),
        decisions=(InsightItem("We ship Friday.", speaker=HOSTILE["decider"]),),
        action_items=(
            InsightItem("Send the notes.", assignee=HOSTILE["owner"], assignee_email=HOSTILE["owner_email"]),
            InsightItem("Book the room.", assignee="Elisa L", assignee_email=OWNER_EMAIL, due=HOSTILE["due"]),
        ),
        follow_ups=(InsightItem("Call the vendor.", assignee=HOSTILE["follow_up_owner"], speaker=HOSTILE["owner"]),),
    )
    facts = MeetingFacts(
        topic=HOSTILE["topic"],
        duration_seconds=600.0,
        speakers=(Speaker(1, HOSTILE["participant"], 60.0), Speaker(2, HOSTILE["participant_2"], 30.0)),
    )

    report = meeting_report(insights, facts, 0, [], PAGE)

    assert_no_outside_link(report, PAGE)
    assert report.chart is not None, "the talk-time legend names the participants too"
    assert f"owner: Elisa L <{OWNER_EMAIL}>" in report.text, "an owner's address is shown as it is"
    assert f"owner: Elisa L &lt;{OWNER_EMAIL}&gt;" in report.html
    assert "[0:01:05] www[.]evil[.]example login: Can we ship?" in report.text
    assert "owner: joe@evil[.]example <x@evil[.]example/login>" in report.text
    assert "  - https[:]//bank[.]example@evil[.]example/: 0:01:00 (67%)" in report.text
    assert f'<a href="{PAGE}">' in report.html, "our own link stays a link"
    assert report.subject == f"Meeting summary: {HOSTILE['topic']}", "the subject (no client links it) as written"


def test_no_name_in_a_call_report_becomes_a_link() -> None:
    call = PhoneCall(
        recording_id="r1",
        call_id="c1",
        caller=CallParty(number="1026", did_number="+12092592844", name=HOSTILE["caller"]),
        callee=CallParty(number=HOSTILE["number"], name=HOSTILE["callee"]),
        direction="inbound",
        duration_seconds=43,
        start_time=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
    )
    facts = MeetingFacts(topic=HOSTILE["topic"], speakers=(Speaker(1, HOSTILE["caller"], 20.0),), call=call)

    report = meeting_report(Insights(), facts, 0, [])

    assert_no_outside_link(report)
    assert "Call www[.]evil[.]example now (+12092592844) → evil[.]example (evil[.]example)" in report.text


def test_no_name_in_a_failure_notice_becomes_a_link() -> None:
    facts = MeetingFacts(topic=HOSTILE["topic"], speakers=(Speaker(1, HOSTILE["participant"], None),))
    reason = f"channel 1 ({HOSTILE['speaker']}) has no audio; Zoom said: see http://evil.example/help"

    notice = failure_notice(facts, 0, reason, "merge")

    assert_no_outside_link(notice)
    assert "has no audio; Zoom said: see http[:]//evil[.]example/…" in notice.text


def test_no_host_or_topic_in_the_reconciliation_digest_becomes_a_link() -> None:
    report = _digest(
        MissingMeeting("u1==", HOSTILE["topic"], "eve@example.com", None, "never reached"),
        MissingMeeting("u2==", HOSTILE["speaker"], HOSTILE["owner_email"], None, "never reached"),
    )

    assert_no_outside_link(report)
    assert "eve@example.com" in report.text, "a host's plain address is shown as it is"


def test_no_meeting_uuid_or_reason_in_the_reconciliation_digest_becomes_a_link() -> None:
    """The UUID and the reason come from Zoom's listing (through reconciliation's record): outside text too."""
    report = _digest(
        MissingMeeting("www.evil.example/login", "Standup", "eve@example.com", None, "see http://evil.example/help"),
        MissingMeeting("Ab+/cD9==", "Standup", "eve@example.com", None, "never reached"),
        MissingMeeting("phone:8f1c2e", "Call", "eve@example.com", None, "never reached"),
    )

    assert_no_outside_link(report)
    assert "  www[.]evil[.]example/login: see http[:]//evil[.]example/help" in report.text
    # A real UUID, and a phone recording's key, stay as Zoom gave them: `zoomsymbl status <uuid>` takes them as shown.
    assert "  Ab+/cD9==: never reached" in report.text
    assert "  phone:8f1c2e: never reached" in report.text


def _digest(*missing: MissingMeeting) -> Report:
    """The reconciliation digest of one day listing ``missing``."""
    day = date(2026, 11, 20)
    event = ReconciliationCompleted(
        event_id="e1",
        tenant="acme",
        meeting_uuid=ReconciliationCompleted.window_key(day, day),
        window_from=day,
        window_to=day,
        missing=tuple(m.meeting_uuid for m in missing),
    )
    return digest_report(event, missing)
