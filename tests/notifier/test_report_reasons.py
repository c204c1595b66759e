"""Why a section is unavailable or incomplete, in the e-mail: a provider's or the insights engine's words, stored as
said, shown scrubbed of registered secrets and presigned URLs, one bounded line."""

from __future__ import annotations

from zoomsymbl_common.insights_engine import INCOMPLETE
from zoomsymbl_common.logs import register_secret
from zoomsymbl_common.providers.base import InsightItem, Insights
from zoomsymbl_notifier.meetings import MeetingFacts
from zoomsymbl_notifier.report import meeting_report
from zoomsymbl_notifier.sections import REASON_LINE_MAX, reason_line

API_KEY = "llm-key-" + "c0ffee12d4e5f6a7" * 2  # registered with the redactor, as a tenant's engine key is
PRESIGNED = "https://s3.example.com/b/k.wav?X-Amz-Signature=0d1e2f&X-Amz-Credential=AKIAEXAMPLE"
FACTS = MeetingFacts(topic="Weekly sync")


def test_a_registered_secret_or_presigned_url_in_a_reason_reaches_no_e_mail() -> None:
    register_secret(API_KEY)
    why = f"insights engine answered HTTP 401: 'invalid key {API_KEY}' for {PRESIGNED}"
    insights = Insights(
        questions=(InsightItem("Who pays?"),),
        unavailable={"questions": why, "decisions": why},
        extra={INCOMPLETE: why},
    )
    report = meeting_report(insights, FACTS, 0, [])
    shown = "insights engine answered HTTP 401: 'invalid key [redacted]' for https[:]//s3[.]example[.]com/…"
    for body in (report.text, report.html):
        for leaked in (API_KEY, API_KEY[:16], "X-Amz-Signature", "AKIAEXAMPLE"):
            assert leaked not in body, leaked
    assert f"  - (incomplete: {shown})" in report.text
    assert f"  - (unavailable: {shown})" in report.text
    assert f"Incomplete: {shown}. The sections below" in report.text


def test_a_secret_across_the_read_bound_of_a_long_reason_leaves_no_prefix() -> None:
    """The first 8 × 300 characters of a reason are read: a secret across that cut was a prefix the redactor did not
    know, shown once the whitespace before it collapsed; that word is left out, the line ends in "…"."""
    register_secret(API_KEY)
    why = "failed:" + " " * (REASON_LINE_MAX * 8 - 20) + API_KEY + " and more"
    report = meeting_report(Insights(unavailable={"decisions": why}), FACTS, 0, [])
    assert API_KEY[:8] not in report.text and API_KEY[:8] not in report.html
    assert "  - (unavailable: failed:…)" in report.text


def test_a_reason_is_one_line_of_at_most_300_characters() -> None:
    line = reason_line("failed:\r\n" + "word " * 1000)
    assert len(line) == REASON_LINE_MAX and line.endswith("…") and line.startswith("failed: word word")
    assert reason_line(" \n ") == ""
    assert reason_line("x" * 10_000) == "…"  # one word past the read bound: nothing of it is known to be whole
