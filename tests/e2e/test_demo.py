"""`scripts/demo.py up` as a user runs it (beside any real demo: its own folder, ports, topics, database, host).

Asserts what the definition of done of issue 16 asks of the demo: the Zoom Phone call's e-mail and the e-mail of
the meeting whose tenant is on the ``zoom`` source are printed, each with its source named.
"""

from __future__ import annotations

import os
import random
import re
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[2]
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


def test_the_demo_prints_the_phone_calls_email_with_its_source(tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "ZS_DEMO_RUN_DIR": str(tmp_path / "demo"),
        "ZS_DEMO_NAME": f"demotest{run}",
        "ZS_DEMO_PORT_SHIFT": str(port_shift()),
        "ZS_DEMO_HOST_EMAIL": f"demo-host-{run}@example.test",
    }
    demo = [sys.executable, str(ROOT / "scripts" / "demo.py")]
    try:
        result = subprocess.run([*demo, "up"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=500)
    finally:
        subprocess.run([*demo, "down"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "demo: ingest answered 200 to phone.recording_completed for tenant 'demo'" in out
    assert "demo: e-mail of the Zoom Phone call (tenant 'demo'):" in out
    phone_mail = out.split("demo: e-mail of the Zoom Phone call (tenant 'demo'):", 1)[1]
    assert f"To: demo-host-{run}@example.test" in phone_mail
    assert "Source: Zoom Phone call, Jack Chill (+12092592844) → Jill Chill (1026), inbound, 0:00:" in phone_mail
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
