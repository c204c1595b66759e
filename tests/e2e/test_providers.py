"""One meeting, four ways to get its insights, the same report sections each time (issues 15 and 23):

- ``gateway``: the default tenant (no provider setting): AssemblyAI + its LLM Gateway with the same key;
- ``symbl``: Symbl by explicit choice (its own questions, action items and follow-ups);
- ``selfhosted``: AssemblyAI + a self-hosted OpenAI-compatible endpoint (Bearer key, another model name);
- ``local``: no SaaS at all: our own transcriber (``whisper``, faster-whisper with the packaged tiny.en)
  + the self-hosted OpenAI-compatible endpoint.

The AssemblyAI sandbox transcribes the espeak-ng speech with Whisper tiny.en too, so every report but
Symbl's is asserted on what was said: the question, the decision and the action item with its owner.
The ``local`` transcript is held against the script: word error rate under 30 %, each sentence under
the name of the participant who said it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from zoomsymbl_common.mongo import make_mongo
from zoomsymbl_common.records import MEETINGS, TRANSCRIPTION_CHECKPOINTS, TRANSCRIPTIONS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_sandbox.stack import Stack, running_stack
from zoomsymbl_sandbox.stack_config import HOST, StackConfig, free_port
from zoomsymbl_sandbox.zoom import MeetingSpec, demo_meeting_spec

from tests.e2e.conftest import mails_for, wait_for_mails
from tests.support.names import token

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[2]
RUN = token()
TENANTS = ("gateway", "symbl", "selfhosted", "local")
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
            {
                "id": "local",
                "provider": "whisper",
                "llm_base_url": self_hosted_llm,
                "llm_api_key": SELF_HOSTED_KEY,
                "llm_auth_scheme": "bearer",
                "llm_model": "local-llama",
            },
        ],
    )
    with running_stack(config) as running:
        yield running


def _mail(spec: MeetingSpec) -> EmailMessage | None:
    return next(iter(mails_for(spec)), None)


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


def words(text: str) -> list[str]:
    """Lower-case words without punctuation (what a word error rate compares)."""
    return re.findall(r"[a-z0-9']+", text.casefold().replace("’", "'"))


def word_errors(reference: list[str], heard: list[str]) -> int:
    """Substitutions + insertions + deletions between two word lists (Levenshtein on words)."""
    previous = list(range(len(heard) + 1))
    for i, ref in enumerate(reference, start=1):
        current = [i]
        for j, hyp in enumerate(heard, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def transcript_by_speaker(message: EmailMessage) -> dict[str, list[str]]:
    """The attached transcript's words per speaker name."""
    [attachment] = [part for part in message.iter_attachments() if part.get_filename() == "transcript.txt"]
    found: dict[str, list[str]] = {}
    for line in str(attachment.get_content()).splitlines():
        match = re.match(r"^\[\d+:\d\d:\d\d\] ([^:]+): (.*)$", line)
        if match:
            found.setdefault(match.group(1), []).extend(words(match.group(2)))
    return found


async def _reports(stack: Stack) -> dict[str, dict[str, list[str]]]:
    for tenant in TENANTS:
        assert await stack.trigger_recording_completed(SPECS[tenant].uuid, tenant=tenant) == 200
    await wait_for_mails(list(SPECS.values()), timeout=300)
    reports = {}
    for tenant, spec in SPECS.items():
        message = _mail(spec)
        assert message is not None, f"no e-mail for the {tenant} tenant; see {stack.config.run_dir}"
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        reports[tenant] = sections(str(body.get_content()))
    return reports


async def test_one_meeting_through_four_providers_gives_the_same_sections(stack: Stack) -> None:
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
        assert any("owner: Zoë 🎧 Ng" in a and "release note" in a for a in report["Action items"]), report[
            "Action items"
        ]
        assert any(line.startswith("[0:00:") and "–0:00:" in line for line in report["Summary"]), report["Summary"]

    local = reports["local"]
    assert any("Elisa L: " in q and "Friday?" in q for q in local["Questions"]), local["Questions"]
    assert any("owner: Zoë 🎧 Ng" in a for a in local["Action items"]), local["Action items"]
    message = _mail(SPECS["local"])
    assert message is not None
    heard = transcript_by_speaker(message)
    errors = total = 0
    for participant in SPECS["local"].participants:
        script = words(participant.speech)
        assert participant.name in heard, f"nothing transcribed under {participant.name!r}: {sorted(heard)}"
        errors += word_errors(script, heard[participant.name])
        total += len(script)
    assert errors / total < 0.30, f"word error rate {errors / total:.0%} against the script: {heard}"


async def test_the_local_transcription_reported_progress_on_the_meeting(stack: Stack) -> None:
    """Runs after the meeting above: the transcriber wrote how much of the talk time it had transcribed, the result
    names the model that made it (the packaged tiny.en, not its folder's name), and no checkpoint outlives it."""
    mongo = make_mongo(InfraSettings().model_copy(update={"mongo_database": stack.config.database}))
    try:
        doc = await mongo.db[MEETINGS].find_one({"tenant": "local", "meeting_uuid": SPECS["local"].uuid})
        assert doc is not None
        (progress,) = doc["transcription_parts"].values()  # one part: the meeting was not split
        job = await mongo.db[TRANSCRIPTIONS].find_one({"_id": progress["job_id"]})
        checkpoints = await mongo.db[TRANSCRIPTION_CHECKPOINTS].count_documents({"job_id": progress["job_id"]})
    finally:
        await mongo.close()
    assert (progress["percent"], progress["channels_done"], progress["channels"]) == (100.0, 3, 3)
    assert job is not None and (job["status"], job["model"]) == ("completed", "tiny.en")
    assert checkpoints == 0
