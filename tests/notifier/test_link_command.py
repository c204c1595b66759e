"""``zoomsymbl link`` (the notifier's subcommand): fresh meeting-page links the web service opens, never for a
forgotten meeting, never in a log line."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.cli import build_parser
from zoomsymbl_common.page_tokens import PAGE_PATH, verify_page_token
from zoomsymbl_common.records import EMAILS, MEETINGS, TOMBSTONES, Email, Meeting, Tombstone
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_notifier.link_mail import link_notice
from zoomsymbl_notifier.meetings import MeetingFacts

from tests.common.test_ops_cli import closed_port
from tests.conftest import mails_to

KEY = "link-command-page-key-0123456789"
BASE = "https://meetings.example.test"
NOW = datetime.now(UTC).replace(microsecond=0)


def link_env(infra: InfraSettings, tenants_file: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOOMSYMBL_")}
    return env | {
        "ZOOMSYMBL_MONGO_URI": infra.mongo_uri.get_secret_value(),
        "ZOOMSYMBL_MONGO_DATABASE": infra.mongo_database,
        "ZOOMSYMBL_TENANTS_FILE": str(tenants_file),
        "ZOOMSYMBL_NOTIFIER_PAGE_KEY": KEY,
        "ZOOMSYMBL_NOTIFIER_PAGE_BASE_URL": BASE + "/",
        **extra,
    }


async def zoomsymbl_link(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "zoomsymbl_common.ops.cli", "link", *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


@pytest.fixture
def tenants_file(tmp_path: Path) -> Path:
    path = tmp_path / "tenants.json"
    secret = {"zoom_webhook_secret": "whsec-0123456789abcdef"}
    tenants = [{"id": "acme", "page_link_days": 10, **secret}, {"id": "beta", **secret}]
    path.write_text(json.dumps({"tenants": tenants, "default_tenant": "acme"}), encoding="utf-8")
    return path


async def store_meeting(mongo: Mongo, tenant: str, uuid: str, *, stage: str = "notified", **fields: Any) -> None:
    fields.setdefault("updated_at", NOW)
    meeting = Meeting(tenant=tenant, meeting_uuid=uuid, stage=stage, **fields)
    await mongo.db[MEETINGS].insert_one(meeting.to_document())


async def store_report(mongo: Mongo, tenant: str, uuid: str, recipients: list[str], generation: int = 0) -> None:
    mail = Email(
        tenant=tenant, meeting_uuid=uuid, generation=generation, kind="report", message_id="<r@x>",
        sender="zoomsymbl@x.example", recipients=recipients, raw=b"x", status="sent", next_attempt_at=NOW,
        created_at=NOW,
    )  # fmt: skip
    await mongo.db[EMAILS].insert_one(mail.to_document())


def claim(link: str) -> tuple[str, str, int]:
    """What the web service reads from ``link`` with the deployment's key: (tenant, meeting, expiry)."""
    assert link.startswith(BASE + PAGE_PATH), link
    found = verify_page_token(KEY, link.removeprefix(BASE + PAGE_PATH))
    assert found is not None, "the web service would answer 403"
    return found.tenant, found.meeting_uuid, found.expires


WRONG = [[], ["--meeting", "m", "--reported-since", "2026-01-01"], ["--meeting", "m", "--days", "0"],
         ["--meeting", "m", "--days", "366"]]  # fmt: skip


@pytest.mark.parametrize("argv", WRONG)
def test_the_command_line_takes_one_meeting_or_a_time_and_at_most_a_year(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["link", *argv])
    assert exited.value.code == 2


@pytest.mark.integration
async def test_a_meetings_fresh_link_opens_its_page_for_the_days_asked(
    infra: InfraSettings, mongo: Mongo, tenants_file: Path
) -> None:
    await store_meeting(mongo, "acme", "aBc/d+e==", topic="Weekly", generation=2, host_email="host@acme.example")
    await store_report(mongo, "acme", "aBc/d+e==", ["host@acme.example", "cc@acme.example"], generation=2)
    await store_report(mongo, "acme", "aBc/d+e==", ["earlier@acme.example"], generation=1)
    env = link_env(infra, tenants_file)
    code, stdout, stderr = await zoomsymbl_link(env, "--meeting", "aBc/d+e==", "--json")
    assert code == 0, stderr
    [item] = json.loads(stdout)["items"]
    assert claim(item["link"])[:2] == ("acme", "aBc/d+e==")
    assert abs(claim(item["link"])[2] - (time.time() + 10 * 86400)) < 120  # the tenant's page_link_days
    assert item["recipients"] == ["host@acme.example", "cc@acme.example"]  # the current generation's report
    token = item["link"].rsplit("/", 1)[1]
    assert token not in stderr

    code, stdout, stderr = await zoomsymbl_link(env, "--meeting", "aBc/d+e==", "--days", "2")
    assert code == 0, stderr
    link = next(line.strip() for line in stdout.splitlines() if line.strip().startswith(BASE))
    assert abs(claim(link)[2] - (time.time() + 2 * 86400)) < 120
    assert "Weekly" in stdout and "to host@acme.example, cc@acme.example" in stdout


@pytest.mark.integration
async def test_no_link_for_a_forgotten_unknown_or_ambiguous_meeting(
    infra: InfraSettings, mongo: Mongo, tenants_file: Path
) -> None:
    forgotten = Tombstone(tenant="acme", meeting_uuid="gone==", forgotten_at=NOW)
    await mongo.db[TOMBSTONES].insert_one(forgotten.to_document())
    # Being erased: the tombstone is written before the documents go.
    await store_meeting(mongo, "acme", "erasing==")
    await mongo.db[TOMBSTONES].insert_one(forgotten.model_copy(update={"meeting_uuid": "erasing=="}).to_document())
    await store_meeting(mongo, "acme", "twice==")
    await store_meeting(mongo, "beta", "twice==")
    await store_meeting(mongo, "gamma", "elsewhere==")  # a tenant no longer configured
    env = link_env(infra, tenants_file)
    for meeting, code, words in [
        ("gone==", 1, "was forgotten"),
        ("erasing==", 1, "was forgotten"),
        ("never==", 1, "is not in the archive"),
        ("twice==", 2, "more than one tenant (acme, beta): add --tenant"),
        ("elsewhere==", 1, "tenant 'gamma' is not configured"),
    ]:
        got, stdout, stderr = await zoomsymbl_link(env, "--meeting", meeting)
        assert (got, stdout) == (code, ""), (meeting, stdout, stderr)
        assert words in stderr, (meeting, stderr)
    code, stdout, stderr = await zoomsymbl_link(env, "--meeting", "twice==", "--tenant", "beta", "--json")
    assert code == 0, stderr
    assert claim(json.loads(stdout)["items"][0]["link"])[:2] == ("beta", "twice==")


@pytest.mark.integration
async def test_without_a_page_key_it_says_which_variable(infra: InfraSettings, tenants_file: Path) -> None:
    env = link_env(infra, tenants_file, ZOOMSYMBL_NOTIFIER_PAGE_KEY="", ZOOMSYMBL_NOTIFIER_PAGE_BASE_URL="")
    code, stdout, stderr = await zoomsymbl_link(env, "--meeting", "m==")
    assert (code, stdout) == (2, "")
    assert "ZOOMSYMBL_NOTIFIER_PAGE_KEY" in stderr


@pytest.mark.integration
async def test_links_of_every_meeting_reported_since_a_time_newest_first(
    infra: InfraSettings, mongo: Mongo, tenants_file: Path
) -> None:
    for number, stage in enumerate(["notified", "notified", "failed", "processing", "notified"]):
        await mongo.db[MEETINGS].insert_one(
            Meeting(
                tenant="acme", meeting_uuid=f"m{number}==", stage=stage,
                updated_at=NOW - timedelta(hours=number), host_email=f"h{number}@acme.example",
            ).to_document()
        )  # fmt: skip
    await store_meeting(mongo, "acme", "old==", updated_at=NOW - timedelta(days=40))
    await store_meeting(mongo, "beta", "other==")
    forgotten = Tombstone(tenant="acme", meeting_uuid="m1==", forgotten_at=NOW)
    await mongo.db[TOMBSTONES].insert_one(forgotten.to_document())
    env = link_env(infra, tenants_file)
    since = (NOW - timedelta(days=1)).isoformat()
    code, stdout, stderr = await zoomsymbl_link(env, "--reported-since", since, "--tenant", "acme", "--json")
    assert code == 0, stderr
    report = json.loads(stdout)
    assert [item["meeting_uuid"] for item in report["items"]] == ["m0==", "m4=="]
    assert [claim(item["link"])[1] for item in report["items"]] == ["m0==", "m4=="]
    assert [item["recipients"] for item in report["items"]] == [["h0@acme.example"], ["h4@acme.example"]]
    assert [entry["meeting_uuid"] for entry in report["skipped"]] == ["m1=="]
    assert report["cut_short"] is False
    assert "1 meeting(s) get no link" in stderr

    code, stdout, stderr = await zoomsymbl_link(env, "--reported-since", since, "--limit", "2", "--json")
    assert code == 0, stderr
    report = json.loads(stdout)
    assert sorted(item["meeting_uuid"] for item in report["items"]) == ["m0==", "other=="]  # both updated at NOW
    assert report["cut_short"] is True and "raise --limit" in stderr


def send_env(infra: InfraSettings, tenants_file: Path, **extra: str) -> dict[str, str]:
    """The notifier pod's environment: its SMTP server and sender, and the callback secret its settings require."""
    notifier = {
        "ZOOMSYMBL_NOTIFIER_SMTP_HOST": os.environ.get("ZOOMSYMBL_NOTIFIER_SMTP_HOST", "127.0.0.1"),
        "ZOOMSYMBL_NOTIFIER_SMTP_PORT": os.environ.get("ZOOMSYMBL_NOTIFIER_SMTP_PORT", "2525"),
        "ZOOMSYMBL_NOTIFIER_CALLBACK_SECRET": "link-command-callback-secret-0123",
        "ZOOMSYMBL_NOTIFIER_MAIL_FROM": "zoomsymbl@archive.example.test",
    }
    return link_env(infra, tenants_file, **(notifier | extra))


@pytest.mark.integration
async def test_send_mails_each_link_to_the_host_once_a_day(
    infra: InfraSettings, mongo: Mongo, tenants_file: Path
) -> None:
    host = f"host-{infra.mongo_database}@acme.example"
    await store_meeting(mongo, "acme", "sent/link==", topic="Roadmap", host_email=host)
    env = send_env(infra, tenants_file)
    code, stdout, stderr = await zoomsymbl_link(env, "--meeting", "sent/link==", "--send", "--json")
    assert code == 0, stderr
    [item] = json.loads(stdout)["items"]
    assert item["mailed"] == "sent"
    [message] = mails_to(host)
    assert message["Subject"] == "Meeting page: Roadmap"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    assert item["link"] in str(body.get_content())
    assert claim(item["link"])[:2] == ("acme", "sent/link==")
    assert item["link"].rsplit("/", 1)[1] not in stderr

    code, stdout, stderr = await zoomsymbl_link(env, "--meeting", "sent/link==", "--send", "--json")
    assert code == 0, stderr
    assert json.loads(stdout)["items"][0]["mailed"] == "already_sent"
    assert len(mails_to(host)) == 1, "the same day: one e-mail"


@pytest.mark.integration
async def test_send_leaves_to_the_outbox_what_smtp_cannot_take_and_says_who_gets_nothing(
    infra: InfraSettings, mongo: Mongo, tenants_file: Path
) -> None:
    await store_meeting(mongo, "acme", "queued==", host_email="host@acme.example")
    await store_meeting(mongo, "acme", "nobody==")  # no host address, no extra recipients
    env = send_env(infra, tenants_file, ZOOMSYMBL_NOTIFIER_SMTP_PORT=str(closed_port()))
    code, stdout, stderr = await zoomsymbl_link(env, "--meeting", "queued==", "--send", "--json")
    assert code == 0, stderr
    assert json.loads(stdout)["items"][0]["mailed"] == "retry_later"
    assert "left in the outbox" in stderr
    [kept] = await mongo.db[EMAILS].find({"meeting_uuid": "queued=="}).to_list(None)
    assert kept["kind"] == "link-" + datetime.now(UTC).strftime("%Y-%m-%d")
    assert kept["status"] == "pending", "the notifier's sweeper sends it when SMTP is back"

    code, stdout, stderr = await zoomsymbl_link(env, "--meeting", "nobody==", "--send", "--json")
    assert code == 1
    assert json.loads(stdout)["items"][0]["mailed"] == "no_recipient"
    assert "1 link(s) not e-mailed (no_recipient)" in stderr
    await store_meeting(mongo, "acme", "running==", stage="processing", host_email="host@acme.example")
    code, stdout, stderr = await zoomsymbl_link(env, "--meeting", "running==", "--send", "--json")
    assert code == 1
    assert json.loads(stdout)["items"][0]["mailed"] == "not_ready", "its page has no report to show yet"
    assert await mongo.db[EMAILS].count_documents({"meeting_uuid": "running=="}) == 0


def test_the_link_e_mail_carries_our_link_only_and_says_until_when() -> None:
    facts = MeetingFacts(
        topic="Plan <b>x</b> see https://evil.example/x", start_time=datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    )
    notice = link_notice(facts, BASE + "/m/tok", datetime(2027, 1, 6, 7, 0, tzinfo=UTC))
    assert "https://evil.example" not in notice.text + notice.html, "a topic's address is no link"
    assert notice.html.count("<a href=") == 1 and f'<a href="{BASE}/m/tok">' in notice.html
    assert "<b>" not in notice.html
    assert "until 2027-01-06 07:00 UTC" in notice.text and "When: 2026-12-01 14:00 UTC" in notice.text
    assert notice.subject.startswith("Meeting page: Plan")
