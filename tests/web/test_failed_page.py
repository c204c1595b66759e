"""A failed meeting's page says what the host's failure e-mail says: the stage in words and the reason, each one
escaped, bounded line, no secret; a failure with no reason recorded says so, never "None"."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from zoomsymbl_common.records import Failure, Meeting
from zoomsymbl_common.stages import stage_text
from zoomsymbl_notifier.meetings import MeetingFacts
from zoomsymbl_notifier.report import failure_notice
from zoomsymbl_web import render
from zoomsymbl_web.meeting import NotReady, view_of

from tests.web.test_render import EVIL, _Tags, _text

AT = datetime(2026, 12, 5, 9, tzinfo=UTC)


def _failed(failure: Failure | None, topic: str = "Weekly sync") -> NotReady:
    view = view_of(Meeting(tenant="acme", meeting_uuid="u==", stage="failed", topic=topic, failure=failure), None, [])
    assert isinstance(view, NotReady) and view.failed
    return view


def _page(found: NotReady) -> str:
    return render.failed_page(found.topic, found.where, found.reason)


def test_a_failed_meetings_page_says_what_the_hosts_email_says() -> None:
    """The host's e-mail says at which stage and why the meeting failed; the page its link opens said only "This
    meeting could not be processed."."""
    failure = Failure.build("mixer", "download", "Zoom answered HTTP 404 for file f1\r\nafter 3 attempts", at=AT)
    page = _page(_failed(failure))
    email = failure_notice(MeetingFacts(topic="Weekly sync"), 0, failure.reason, stage_text("mixer", "download")).text
    said = [line for line in email.splitlines() if line.startswith(("Stage: ", "Reason: "))]
    assert said == [
        "Stage: downloading the recording from Zoom (mixer: download)",
        "Reason: Zoom answered HTTP 404 for file f1 after 3 attempts",
    ]
    assert _text(page) == f"Weekly sync This meeting could not be processed. {said[0]} {said[1]}"
    assert '<p id="stage">Stage: <bdi>' in page and '<p id="reason">Reason: <bdi>' in page


def test_a_hostile_or_huge_failure_is_escaped_bounded_and_without_secrets() -> None:
    """The stage and reason come from whoever wrote the failure (a ``meeting.failed.v1`` event's text, a provider's
    answer quoted): escaped, each one line, the reason at most ``REASON_MAX`` characters, and scrubbed again in
    case a document bypassed the writer's scrub (the e-mail scrubs too)."""
    secret_url = "https://s3.example.test/b/k.flac?X-Amz-Signature=deadbeefcafe"
    reason = f"{EVIL}\r\nBearer s3cr3t-b34r3r fetching {secret_url} token=t0k3n-value " + "y\n" * 5000
    failure = Failure(service=f"svc{EVIL}"[:64], stage="odd\r\n<b>stage</b>", reason=reason[:1000], at=AT)
    page = _page(_failed(failure, topic=EVIL))
    tags = _Tags()
    tags.feed(page)
    assert set(tags.tags) == {"html", "head", "meta", "title", "body", "h1", "bdi", "p"} and tags.handlers == []
    for secret in ("s3cr3t-b34r3r", "X-Amz-Signature", "deadbeefcafe", "t0k3n-value"):
        assert secret not in page, secret
    shown = re.search(r'<p id="reason">Reason: <bdi>([^<]*)</bdi></p>', page)
    assert shown is not None and len(shown.group(1)) <= 2 * render.REASON_MAX  # escaped: &lt; is 4 characters
    text = _text(page)
    reason_line = text[text.index("Reason: ") + len("Reason: ") :]
    assert len(reason_line) == render.REASON_MAX and reason_line.endswith("…") and reason_line.startswith(EVIL)
    assert 'Stage: processing the recording (svc<script>alert(1)</script>"><img src=x onerror=alert(2)>: odd ' in text


@pytest.mark.parametrize(
    "failure",
    [None, Failure(service="notifier", stage="status", reason="", at=AT), Failure.build("mixer", "merge", " \n\t ")],
)
def test_a_failure_with_no_reason_recorded_says_so(failure: Failure | None) -> None:
    """A failed meeting without its failure sub-document (written before it existed), or with a blank reason:
    "no reason recorded", never an empty "Reason:" or "None"."""
    text = _text(_page(_failed(failure)))
    assert text.endswith("Reason: no reason recorded") and "None" not in text
    assert ("Stage: " in text) is (failure is not None)


def test_a_meeting_failed_before_a_replay_is_not_shown_failed() -> None:
    """A forced replay moves a failed meeting back to ``received`` (its old failure stays in the document): the page
    says it is being processed, with no stage or reason of the failure before."""
    failure = Failure.build("mixer", "download", "HTTP 404", at=AT)
    view = view_of(Meeting(tenant="acme", meeting_uuid="u==", stage="received", failure=failure), None, [])
    assert view == NotReady("", "received", False)
