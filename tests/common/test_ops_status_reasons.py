"""``zoomsymbl status`` and the stored reasons: a provider's error text may be a thousand characters and hold any
character. On the terminal each reason is shortened (its start kept, how much was left out said) and shows no
control character raw, not even a line or paragraph separator; ``--json`` keeps every reason whole."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime

import pytest
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.output import printable, shortened
from zoomsymbl_common.ops.reconciled import format_never_archived
from zoomsymbl_common.ops.status import (
    REASON_IN_HISTORY,
    REASON_IN_LISTING,
    MeetingHistory,
    format_history,
    format_listing,
)
from zoomsymbl_common.records import EMAILS, JOBS, MEETINGS, ConversationMetadata, Email, Failure, Job, Meeting
from zoomsymbl_common.records.base import REASON_LIMIT
from zoomsymbl_common.settings import InfraSettings

from tests.common.test_ops_cli import cli_env, zoomsymbl

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
# A provider's answer as a reason stores it: long, with a forged line, a bell and Unicode's own line breaks.
PROVIDER_TEXT = "upstream said: " + "quota exceeded\r\nSUCCESS\x07\u2028\u2029\x85 " * 80
REASON = PROVIDER_TEXT[:REASON_LIMIT]


def _raw_controls(text: str) -> list[str]:
    """The characters of ``text`` that a terminal or a pager may act on, other than the lines' own ends."""
    lines_only = text.replace("\n", "")
    return [c for c in lines_only if unicodedata.category(c) in ("Cc", "Zl", "Zp")]


def _failed_meeting(reason: str = REASON) -> Meeting:
    return Meeting(
        tenant="acme", meeting_uuid="m1", stage="failed", updated_at=NOW, failure=Failure.build("notifier", "x", reason)
    )


@pytest.mark.parametrize("separator", ["\u2028", "\u2029"])
def test_unicode_line_and_paragraph_separators_are_made_visible(separator: str) -> None:
    assert printable(f"line{separator}forged") == f"line\\u{ord(separator):04x}forged"


def test_shortened_keeps_the_start_says_what_is_left_and_never_cuts_an_escape() -> None:
    assert shortened("short", 10) == "short"
    assert shortened("x" * 25, 10) == "x" * 10 + "... (15 more characters)"
    cut = shortened("ab\x07cd", 5)  # "ab\x07" is 6 characters on screen: the escape is left out whole
    assert cut == "ab... (3 more characters)"
    assert shortened("\x1b[2J" + "y" * 20, 5) == "yyyyy... (15 more characters)", "escape sequences count for nothing"


def test_a_listing_line_holds_the_start_of_a_long_reason_and_no_control() -> None:
    text = format_listing([_failed_meeting()], NOW)
    line = text.splitlines()[1]
    assert "notifier/x: upstream said: quota exceeded\\r\\nSUCCESS\\x07\\u2028" in line
    assert "more characters)" in line
    assert len(line) < 100 + REASON_IN_LISTING, len(line)
    assert _raw_controls(text) == []


def test_a_long_reason_of_plain_text_is_cut_to_its_start_on_the_listing_line() -> None:
    line = format_listing([_failed_meeting("e" * REASON_LIMIT)], NOW).splitlines()[1]
    shown = REASON_IN_LISTING - len("notifier/x: ")  # the reason is shown after its service and stage
    assert line.endswith(f"(notifier/x: {'e' * shown}... ({REASON_LIMIT - shown} more characters))"), line


def test_a_history_shortens_each_stored_reason() -> None:
    job = Job(
        id="k1", idempotency_key="k1", job_ref="k1", tenant="acme", meeting_uuid="m1", provider="assemblyai",
        status="failed", status_reason=REASON,
    )  # fmt: skip
    mail = Email(
        tenant="acme", meeting_uuid="m1", generation=0, kind="report", message_id="<x@y>", sender="a@b.example",
        recipients=["h@b.example"], status="pending", next_attempt_at=NOW, created_at=NOW, last_error=REASON,
    )  # fmt: skip
    history = MeetingHistory(meeting=_failed_meeting(), jobs=[job], emails=[mail], insights=[], limiter_slots=[])
    text = format_history(history)
    assert _raw_controls(text) == []
    reasons = [line for line in text.splitlines() if "upstream said" in line]
    assert len(reasons) == 3, text  # the failure, the job's reason, the e-mail's last error
    for line in reasons:
        assert "more characters)" in line and len(line) < 150 + REASON_IN_HISTORY, line


def test_a_never_archived_reason_is_shortened() -> None:
    record = ConversationMetadata(
        tenant="acme", meeting_uuid="m9", source_platform="Zoom Meeting", recording_failed=True, failure=REASON
    )
    text = format_never_archived([record])
    assert _raw_controls(text) == []
    assert "more characters)" in text and len(text.splitlines()[1]) < 100 + REASON_IN_LISTING


@pytest.mark.integration
async def test_status_shortens_reasons_on_the_terminal_and_json_keeps_them_whole(
    infra: InfraSettings, mongo: Mongo
) -> None:
    await mongo.db[MEETINGS].insert_one(_failed_meeting().to_document())
    job = Job(
        id="k1", idempotency_key="k1", job_ref="k1", tenant="acme", meeting_uuid="m1", provider="symbl",
        status="failed", status_reason=REASON,
    )  # fmt: skip
    await mongo.db[JOBS].insert_one(job.to_document())
    await mongo.db[EMAILS].insert_one(
        Email(
            tenant="acme", meeting_uuid="m1", generation=0, kind="report", message_id="<x@y>", sender="a@b.example",
            recipients=["h@b.example"], status="pending", next_attempt_at=NOW, created_at=NOW, last_error=REASON,
        ).to_document()
    )  # fmt: skip
    env = cli_env(infra)

    for args in (["status", "--failed"], ["status", "--meeting", "m1"]):
        ran = await zoomsymbl(*args, env=env)
        assert ran.code == 0, ran.err
        assert _raw_controls(ran.out) == [], args
        assert "upstream said: quota exceeded" in ran.out and "more characters)" in ran.out
        assert max(len(line) for line in ran.out.splitlines()) < 200 + REASON_IN_HISTORY, args

    listing = json.loads((await zoomsymbl("status", "--failed", "--json", env=env)).out)
    assert listing["items"][0]["failure"]["reason"] == REASON
    history = json.loads((await zoomsymbl("status", "--meeting", "m1", "--json", env=env)).out)
    assert history["meeting"]["failure"]["reason"] == REASON
    assert history["provider_jobs"][0]["status_reason"] == REASON
    assert history["mails"][0]["last_error"] == REASON
