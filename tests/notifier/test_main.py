"""The notifier as a process: killed between storing insights and e-mailing, it e-mails once after restart.

The crash is placed precisely with the notifier's fault-injection hook for tests,
``ZOOMSYMBL_NOTIFIER_FAULT_EXIT_AFTER_INSIGHTS_STORED``, which makes the process ``os._exit(137)``
(no cleanup, no offset commit, like ``kill -9``) right after the insights are stored.
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
from zoomsymbl_common.mongo import EMAILS, INSIGHTS, JOBS, Mongo
from zoomsymbl_common.settings import InfraSettings

from tests.notifier.harness import APP_ID, APP_SECRET, SECRET, TENANT, Submitter, SymblSandbox, eventually
from tests.notifier.harness_smtp import SmtpSink, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


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

    async def exit_code(self, timeout: float = 60) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 40)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


@pytest.fixture
async def process(infra: InfraSettings, symbl: SymblSandbox, smtp: SmtpSink, tmp_path: Path) -> AsyncIterator[Process]:
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
        # The dead process's partitions move to the restarted one after this.
        "ZOOMSYMBL_NOTIFIER_KAFKA_SESSION_TIMEOUT_MS": "6000",
    }
    proc = Process(env, tmp_path / "notifier.log")
    yield proc
    await proc.stop()


async def test_killed_after_storing_insights_the_restarted_notifier_emails_once(
    process: Process, mongo: Mongo, symbl: SymblSandbox, smtp: SmtpSink, tone_audio: Path
) -> None:
    base = f"http://127.0.0.1:{process.env['ZOOMSYMBL_NOTIFIER_HTTP_PORT']}"
    async with aiohttp.ClientSession() as session:
        await process.start(ZOOMSYMBL_NOTIFIER_FAULT_EXIT_AFTER_INSIGHTS_STORED="true")
        await process.ready(base, session)
        submitter = Submitter(mongo, session, symbl.url, tone_audio, callback_base=base)
        await submitter.meeting("m-crash", topic="Crash test")
        job = await submitter.submit("m-crash")

        assert await process.exit_code() == 137, process.log.read_text()[-3000:]
        doc = await mongo.db[JOBS].find_one({"_id": job.key})
        assert doc is not None and doc.get("insights_stored_at") is not None and doc.get("processed_at") is None
        assert await mongo.db[INSIGHTS].count_documents({"conversation_id": job.conversation_id}) == 1
        assert await mongo.db[EMAILS].count_documents({}) == 0 and smtp.messages == []

        await process.start()
        await process.ready(base, session)

        async def finished() -> bool:
            done = await mongo.db[JOBS].find_one({"_id": job.key, "processed_at": {"$ne": None}})
            return done is not None

        await eventually(finished, timeout=90, what="the restarted notifier to finish the job")
    assert [m["Subject"] for m in smtp.messages] == ["Meeting summary: Crash test"]
    log = process.log.read_text()
    assert "fault injection: exiting right after insights were stored" in log
    assert job.job_ref is not None and submitter.callback_url(job.job_ref).rsplit("/", 1)[1] not in log
    assert "/webhooks/symbl/{token}" in log, "requests are logged by route, not by path"
    meeting = await mongo.db["meetings"].find_one({"meeting_uuid": "m-crash"})
    assert meeting is not None and meeting["stage"] == "notified"
    await process.stop()
    assert process.proc is not None and process.proc.returncode == 0, process.log.read_text()[-3000:]
