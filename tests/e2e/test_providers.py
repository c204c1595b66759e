"""One meeting, three ways to get its insights, the same report sections each time (issue 15):

- ``gateway``: the default tenant (no provider setting): AssemblyAI + its LLM Gateway with the same key;
- ``symbl``: Symbl by explicit choice (its own questions, action items and follow-ups);
- ``selfhosted``: AssemblyAI + a self-hosted OpenAI-compatible endpoint (Bearer key, another model name).

The AssemblyAI sandbox transcribes the espeak-ng speech with Whisper tiny.en, so the AssemblyAI reports
are asserted on what was said: the question, the decision and the action item with its owner.
"""

from __future__ import annotations

import asyncio
import email
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from zoomsymbl_sandbox.stack import HOST, Stack, StackConfig, free_port
from zoomsymbl_sandbox.zoom import MeetingSpec, demo_meeting_spec

from tests.conftest import maildir

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[2]
RUN = uuid.uuid4().hex[:8]
TENANTS = ("gateway", "symbl", "selfhosted")
SPECS = {t: demo_meeting_spec(f"prov{RUN}{t}==", host_email=f"host-{t}-{RUN}@example.test") for t in TENANTS}
SELF_HOSTED_KEY = "self-hosted-llm-key"
SECTIONS = ("Summary", "Topics", "Questions", "Action items", "Follow-ups", "Decisions", "Talk time")


@pytest.fixture(scope="module")
def self_hosted_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second OpenAI-compatible server that wants ``Bearer`` and serves another model: a vLLM stand-in."""
    run = tmp_path_factory.mktemp("selfhosted-llm")
    config = run / "llm.json"
    config.write_text(json.dumps({"auth": "bearer", "api_key": SELF_HOSTED_KEY, "models": ["local-llama"]}))
    port = free_port()
    args = [sys.executable, "-m", "zoomsymbl_sandbox", "llm", "--port", str(port), "--config", str(config)]
    with (run / "llm.log").open("ab") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield f"http://{HOST}:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, self_hosted_llm: str) -> Iterator[Stack]:
    config = StackConfig(
        run_dir=tmp_path_factory.mktemp("providers-stack"),
        topic_prefix=f"prov-{RUN}-",
        database=f"prov_{RUN}",
        bucket=f"prov-{RUN}",
        tenant="gateway",
        zoom={
            "meetings": [s.model_dump(mode="json") for s in SPECS.values()],
            "cache_dir": str(ROOT / ".cache" / "zoom-sandbox"),
        },
        symbl={"timings": {"waiting_s": 0.3, "running_s": 0.5}},
        assemblyai={"timings": {"waiting_s": 0.3, "running_s": 0.5}, "whisper_model": "packaged"},
        extra_tenants=[
            {"id": "symbl", "provider": "symbl", "llm_base_url": ""},  # Symbl derives its own items
            {
                "id": "selfhosted",
                "llm_base_url": self_hosted_llm,
                "llm_api_key": SELF_HOSTED_KEY,
                "llm_auth_scheme": "bearer",
                "llm_model": "local-llama",
            },
        ],
    )
    running = Stack(config)
    try:
        asyncio.run(running.start())
    except BaseException:
        running.stop()
        raise
    yield running
    running.stop()


def _mail(spec: MeetingSpec) -> EmailMessage | None:
    for path in sorted(Path(maildir()).glob("*.eml")):
        raw = path.read_bytes()
        if spec.host_email.encode() in raw:
            message = email.message_from_bytes(raw, policy=default)
            assert isinstance(message, EmailMessage)
            return message
    return None


def sections(text: str) -> dict[str, list[str]]:
    """The report's sections: title → its ``  - `` lines."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line in SECTIONS:
            current = found.setdefault(line, [])
        elif current is not None and line.startswith("  - "):
            current.append(line[4:])
        elif not line.strip():
            current = None
    return found


async def _reports(stack: Stack) -> dict[str, dict[str, list[str]]]:
    for tenant in TENANTS:
        assert await stack.trigger_recording_completed(SPECS[tenant].uuid, tenant=tenant) == 200
    for _ in range(600):  # up to 5 minutes
        if all(_mail(s) for s in SPECS.values()):
            break
        await asyncio.sleep(0.5)
    reports = {}
    for tenant, spec in SPECS.items():
        message = _mail(spec)
        assert message is not None, f"no e-mail for the {tenant} tenant; see {stack.config.run_dir}"
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        reports[tenant] = sections(str(body.get_content()))
    return reports


async def test_one_meeting_through_three_providers_gives_the_same_sections(stack: Stack) -> None:
    reports = await _reports(stack)
    for tenant, report in reports.items():
        for title in ("Summary", "Topics", "Questions", "Action items", "Follow-ups", "Talk time"):
            lines = report.get(title, [])
            assert lines, f"{tenant}: no {title} section"
            assert lines != ["(none)"], f"{tenant}: {title} is empty"
            assert not lines[0].startswith("(unavailable"), f"{tenant}: {title}: {lines[0]}"
        talk = " ".join(report["Talk time"])
        for name in ("Elisa L", "Jean-Luc Pérez", "Zoë 🎧 Ng"):
            assert name in talk, f"{tenant}: talk time of {name} missing"

    for tenant in ("gateway", "selfhosted"):
        report = reports[tenant]
        # Whisper heard the words; the insights engine named who said them and when.
        assert any("Elisa L: " in q and "Friday?" in q for q in report["Questions"]), report["Questions"]
        assert any("Jean-Luc Pérez: " in d and "decided" in d.lower() for d in report["Decisions"]), report
        assert any("owner: Zoë 🎧 Ng" in a and "release note" in a for a in report["Action items"]), report["Action items"]
        assert any(line.startswith("[0:00:") and "–0:00:" in line for line in report["Summary"]), report["Summary"]
