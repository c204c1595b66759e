"""The notifier as a process: killed between storing insights and e-mailing, it e-mails once after restart.

The crash is placed by a positive signal, with no hook in the notifier: the SMTP server holds the
first message's DATA unanswered, which proves the insights are stored and the e-mail is in flight
but not delivered; the test then kills the process by its PID (SIGKILL: no cleanup, no offset
commit) and refuses the held message.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import EMAILS, INSIGHTS, JOBS
from zoomsymbl_common.settings import InfraSettings

from tests.notifier.harness import APP_ID, APP_SECRET, SECRET, TENANT, Submitter, SymblSandbox
from tests.notifier.harness_smtp import SmtpSink, free_port
from tests.support.eventually import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class HoldingSink(SmtpSink):
    """An SMTP server that holds the first message's DATA until released, then refuses it (451)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.arrived.is_set():
            return await super().handle_DATA(server, session, envelope)
        self.arrived.set()
        await self.release.wait()
        return "451 4.3.0 the test killed the client meanwhile"


@pytest.fixture
async def smtp() -> AsyncIterator[HoldingSink]:
    sink = HoldingSink()
    await sink.start()
    yield sink
    sink.release.set()
    await sink.stop()


class Process:
    """One ``python -m zoomsymbl_notifier`` with its log file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, **extra: str) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "zoomsymbl_notifier", env=self.env | extra, stdout=out, stderr=out
            )

    async def ready(self, base: str, session: aiohttp.ClientSession) -> None:
        async def answers() -> bool:
            assert self.proc is not None and self.proc.returncode is None, self.log.read_text()[-3000:]
            try:
                async with session.get(f"{base}/readyz") as resp:
                    return resp.status == 200
            except aiohttp.ClientError:
                return False

        await eventually(answers, timeout=60, what="the notifier to be ready")

    async def kill(self) -> int:
        """SIGKILL by PID, like the kernel's OOM killer or a node loss: nothing runs on the way out."""
        assert self.proc is not None and self.proc.returncode is None, self.log.read_text()[-3000:]
        os.kill(self.proc.pid, signal.SIGKILL)
        return await asyncio.wait_for(self.proc.wait(), 30)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 40)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


@pytest.fixture
async def process(
    infra: InfraSettings, symbl: SymblSandbox, smtp: HoldingSink, tmp_path: Path
) -> AsyncIterator[Process]:
    tenants = tmp_path / "tenants.json"
    tenant = {"id": TENANT, "zoom_webhook_secret": "zoom-webhook-secret-for-tests", "provider": "symbl",
              "symbl_app_id": APP_ID, "symbl_app_secret": APP_SECRET, "symbl_api_base": symbl.url}  # fmt: skip
    tenants.write_text(json.dumps({"tenants": [tenant]}))
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZOOMSYMBL_")}
    env |= {
        "ZOOMSYMBL_TENANTS_FILE": str(tenants),
        "ZOOMSYMBL_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "ZOOMSYMBL_KAFKA_TOPIC_PREFIX": infra.kafka_topic_prefix,
        "ZOOMSYMBL_MONGO_URI": infra.mongo_uri.get_secret_value(),
        "ZOOMSYMBL_MONGO_DATABASE": infra.mongo_database,
        "ZOOMSYMBL_NOTIFIER_HTTP_HOST": "127.0.0.1",
        "ZOOMSYMBL_NOTIFIER_HTTP_PORT": str(free_port()),
        "ZOOMSYMBL_NOTIFIER_CALLBACK_SECRET": SECRET,
        "ZOOMSYMBL_NOTIFIER_SMTP_HOST": "127.0.0.1",
        "ZOOMSYMBL_NOTIFIER_SMTP_PORT": str(smtp.port),
        "ZOOMSYMBL_NOTIFIER_MAIL_FROM": "notifier@zoomsymbl.test",
        "ZOOMSYMBL_NOTIFIER_SUMMARY_RETRY_DELAY_SECONDS": "0.05",
        # The killed process's claim on the e-mail expires after this; the restarted one then sends it.
        "ZOOMSYMBL_NOTIFIER_MAIL_LEASE_SECONDS": "3",
        "ZOOMSYMBL_NOTIFIER_SWEEPER_INTERVAL_SECONDS": "1",
        # The dead process's partitions move to the restarted one after this.
        "ZOOMSYMBL_NOTIFIER_KAFKA_SESSION_TIMEOUT_MS": "6000",
    }
    proc = Process(env, tmp_path / "notifier.log")
    yield proc
    await proc.stop()


async def test_killed_after_storing_insights_the_restarted_notifier_emails_once(
    process: Process, mongo: Mongo, symbl: SymblSandbox, smtp: HoldingSink, tone_audio: Path
) -> None:
    base = f"http://127.0.0.1:{process.env['ZOOMSYMBL_NOTIFIER_HTTP_PORT']}"
    async with aiohttp.ClientSession() as session:
        await process.start()
        await process.ready(base, session)
        submitter = Submitter(mongo, session, symbl.url, tone_audio, callback_base=base)
        await submitter.meeting("m-crash", topic="Crash test")
        job = await submitter.submit("m-crash")

        await asyncio.wait_for(smtp.arrived.wait(), 90)  # insights stored, the e-mail in flight, not delivered
        assert await process.kill() == -signal.SIGKILL
        smtp.release.set()
        doc = await mongo.db[JOBS].find_one({"_id": job.key})
        assert doc is not None and doc.get("processed_at") is None  # a one-part meeting's marks wait for the end
        assert await mongo.db[INSIGHTS].count_documents({"conversation_id": job.conversation_id}) == 1
        assert [e["status"] for e in await mongo.db[EMAILS].find({}).to_list(None)] == ["sending"]
        assert smtp.messages == []

        await process.start()
        await process.ready(base, session)

        async def finished() -> bool:
            done = await mongo.db[JOBS].find_one(
                {"_id": job.key, "processed_at": {"$ne": None}, "insights_stored_at": {"$ne": None}}
            )
            return done is not None and len(smtp.messages) >= 1

        await eventually(finished, timeout=90, what="the restarted notifier to finish the job and send the e-mail")
        async with session.get(f"{base}/metrics") as resp:
            metrics = await resp.text()
    assert [m["Subject"] for m in smtp.messages] == ["Meeting summary: Crash test"]
    assert "zoomsymbl_emails_sent_total 1.0" in metrics
    log = process.log.read_text()
    assert job.job_ref is not None and submitter.callback_url(job.job_ref).rsplit("/", 1)[1] not in log
    assert "/webhooks/symbl/{token}" in log, "requests are logged by route, not by path"
    meeting = await mongo.db["meetings"].find_one({"meeting_uuid": "m-crash"})
    assert meeting is not None and meeting["stage"] == "notified"
    await process.stop()
    assert process.proc is not None and process.proc.returncode == 0, process.log.read_text()[-3000:]
