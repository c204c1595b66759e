"""`scripts/demo.py up` as a user runs it (beside any real demo: its own folder, ports, topics, database, host).

Asserts what the definition of done of issue 16 asks of the demo: the Zoom Phone call's e-mail and the e-mail of
the meeting whose tenant is on the ``zoom`` source are printed, each with its source named.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from zoomsymbl_common.page_tokens import make_page_token, verify_page_token
from zoomsymbl_sandbox.stack_config import PAGE_KEY
from zoomsymbl_sandbox.zoom_specs import DEMO_SPEECH

from tests.conftest import mails_to
from tests.support.eventually import eventually
from tests.support.names import token
from tests.support.webdriver import ELEMENT, browser_paths, chromium, search_highlights

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[2]
DEMO_SPEAKERS = [name for name, *_ in DEMO_SPEECH]  # the demo meeting's three participants
DAY = 86_400
BASE_PORTS = (9100, 9101, 9102, 9103, 8080, 8081, 8082, 8083, 8084, 8085)


def free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_shift() -> int:
    for _ in range(50):
        shift = random.randrange(20_000, 40_000, 10)
        if all(free(port + shift) for port in BASE_PORTS):
            return shift
    raise RuntimeError("no free block of demo ports")


@dataclass(frozen=True)
class DemoRun:
    """What ``scripts/demo.py up`` printed; its services keep running until the module's tests are done."""

    out: str
    run: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    run = token()
    env = {
        **os.environ,
        "ZS_DEMO_RUN_DIR": str(tmp_path_factory.mktemp("demo")),
        "ZS_DEMO_NAME": f"demotest-{run}",  # its topics carry the session's token: deleted at the session's end
        "ZS_DEMO_PORT_SHIFT": str(port_shift()),
        "ZS_DEMO_HOST_EMAIL": f"demo-host-{run}@example.test",
    }
    script = [sys.executable, str(ROOT / "scripts" / "demo.py")]
    try:
        result = subprocess.run([*script, "up"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=500)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        yield DemoRun(result.stdout, run)
    finally:
        subprocess.run([*script, "down"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_the_demo_prints_the_phone_calls_email_with_its_source(demo: DemoRun) -> None:
    out, run = demo.out, demo.run
    assert "demo: ingest answered 200 to phone.recording_completed for tenant 'demo'" in out
    assert "demo: e-mail of the Zoom Phone call (tenant 'demo'):" in out
    phone_mail = out.split("demo: e-mail of the Zoom Phone call (tenant 'demo'):", 1)[1]
    assert f"To: demo-host-{run}@example.test" in phone_mail
    assert "Source: Zoom Phone call, Jack Chill (+12092592844) → Jill Chill (1026), inbound, 0:00:" in phone_mail
    assert re.search(r"\nWhen: \d{4}-\d\d-\d\d \d\d:\d\d UTC \(0:00:\d\d\)\n", phone_mail), "when the call was held"
    assert "demo: all 4 e-mails received" in out
    # Each meeting's page on the web service, signed with the demo's page key (issue 19).
    for tenant in ("demo", "local", "zoomtx"):
        assert re.search(
            rf"demo: meeting page of tenant '{tenant}' \(HTTP 200\): http://127\.0\.0\.1:\d+/m/[\w.-]+\n", out
        ), tenant
    # The zoom source: the zoomtx tenant's e-mail, made from Zoom's own transcript and saying so.
    assert "demo: ingest answered 200 to recording.transcript_completed for tenant 'zoomtx'" in out
    zoom_mail = out.split("demo: e-mail for tenant 'zoomtx':", 1)[1].split("=" * 78)[1]
    assert "Subject: Meeting summary: Release planning (Zoom transcript)" in zoom_mail
    assert "Source: Zoom transcript" in zoom_mail and "Elisa L: Can we ship the release on Friday?" in zoom_mail
    assert re.search(r"\nWhen: \d{4}-\d\d-\d\d \d\d:\d\d UTC", zoom_mail), "when the meeting was held"


def page_url(out: str, tenant: str) -> str:
    found = re.search(rf"demo: meeting page of tenant '{tenant}' \(HTTP 200\): (http://\S+/m/\S+)\n", out)
    assert found, f"no page URL printed for {tenant!r}"
    return found.group(1)


def altered(url: str) -> str:
    """The URL with one character in the middle of the token's MAC changed (still a well-formed token)."""
    at = len(url) - 10
    return url[:at] + ("A" if url[at] != "A" else "B") + url[at + 1 :]


async def test_the_demo_meetings_page_in_headless_chromium(demo: DemoRun) -> None:
    """Issue 19's browser test: console clean, one timeline row per participant, an action item seeks the
    audio, the search highlights, an altered token gets 403; a screenshot is saved under .cache/."""
    if browser_paths() is None:
        pytest.fail("chromium and chromium-driver are missing: make system-deps installs them")
    url = page_url(demo.out, "demo")
    async with chromium(ROOT / ".cache" / "browser" / "chromedriver.log") as browser:
        await browser.go(url)
        assert await browser.run("return document.readyState") == "complete"
        rows = await browser.run(
            "return Array.from(document.querySelectorAll('#timeline tr.speaker th'), th => th.textContent)"
        )
        assert sorted(rows) == sorted(DEMO_SPEAKERS)

        items = await browser.find_all("#action-items li[data-t]")
        assert items, "the demo meeting has action items with a time"
        start = float(await browser.run("return arguments[0].getAttribute('data-t')", {ELEMENT: items[-1]}))
        assert start > 0
        await browser.click(items[-1])
        current = await eventually(
            lambda: browser.run("return document.getElementById('audio').currentTime"),
            lambda t: abs(float(t) - start) < 0.5,
            timeout=10,
            what="the audio at the action item's start",
        )
        assert abs(float(current) - start) < 0.5

        marks = await search_highlights(browser, "friday", "highlighted matches")
        assert all(m.lower() == "friday" for m in marks)
        assert (await browser.run("return document.getElementById('hits').textContent")).endswith(
            "match" if len(marks) == 1 else "matches"
        )
        await browser.screenshot(ROOT / ".cache" / "browser" / "meeting-page.png")
        errors = [e for e in await browser.console() if e.get("level") == "SEVERE"]
        assert errors == []

        await browser.go(altered(url))
        status = await browser.run("return performance.getEntriesByType('navigation')[0].responseStatus")
        assert status == 403
        assert await browser.run("return document.title") == "Link not valid"
        body = await browser.run("return document.body.textContent")
        assert "Release planning" not in body and "Elisa" not in body  # nothing of the meeting

        # The same meeting's link, expired two days ago: its page's button reaches the demo's notifier (its own
        # port: ZOOMSYMBL_WEB_LINK_RENEWAL_ORIGIN), which e-mails the demo host a new link.
        claim = verify_page_token(PAGE_KEY, url.rsplit("/", 1)[1])
        assert claim is not None
        old = make_page_token(
            PAGE_KEY, claim.tenant, claim.meeting_uuid, ttl=timedelta(days=1), now=time.time() - 3 * DAY
        )
        await browser.go(url.rsplit("/", 1)[0] + "/" + old)
        assert await browser.run("return document.title") == "Link expired"
        [button] = await browser.find_all("#renew")
        await browser.click(button)
        await eventually(
            lambda: browser.run("return document.title"), lambda t: t == "New link asked for", timeout=30,
            what="the notifier's answer",
        )  # fmt: skip
        host = f"demo-host-{demo.run}@example.test"
        found = await eventually(
            lambda: asyncio.to_thread(lambda: [m for m in mails_to(host) if m["Subject"].startswith("Meeting page:")]),
            timeout=30, what="the new link's e-mail to the demo host",
        )  # fmt: skip
        assert len(found) == 1
