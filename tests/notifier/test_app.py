"""The whole notifier service against the real Kafka, MongoDB, an SMTP server and the Symbl sandbox."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.page_tokens import RENEW_PATH, make_page_token
from zoomsymbl_common.records import MEETINGS, Meeting
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.tenants import Tenants
from zoomsymbl_notifier.app import build_app

from tests.notifier.harness import PAGE_KEY, TENANT, Submitter, SymblSandbox, make_settings, make_tenant
from tests.notifier.harness_smtp import SmtpSink
from tests.support.eventually import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
async def service(infra: InfraSettings, symbl: SymblSandbox, smtp: SmtpSink) -> AsyncIterator[TestServer]:
    settings = make_settings(infra, smtp.port, sweeper_stale_after_seconds=1.0)
    server = TestServer(build_app(settings, Tenants([make_tenant(symbl.url)])), host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


async def test_callbacks_through_kafka_end_in_one_email(
    service: TestServer, mongo: Mongo, symbl: SymblSandbox, smtp: SmtpSink, tone_audio: Any
) -> None:
    base = str(service.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/readyz") as resp:
            assert resp.status == 200, await resp.text()
        submitter = Submitter(mongo, session, symbl.url, tone_audio, callback_base=base)
        await submitter.meeting("m-app", topic="Service test")
        job = await submitter.submit("m-app")

        async def mailed() -> bool:
            return len(smtp.messages) >= 1

        await eventually(mailed, timeout=45, what="the e-mail")
        async with session.get(f"{base}/metrics") as resp:
            metrics = await resp.text()
    assert [m["Subject"] for m in smtp.messages] == ["Meeting summary: Service test"]
    doc = await mongo.db["jobs"].find_one({"job_id": job.job_id})
    assert doc is not None and doc["status"] == "completed"
    assert 'zoomsymbl_notifier_callbacks_total{outcome="200",provider="symbl"}' in metrics


async def test_the_running_sweeper_completes_a_meeting_whose_callbacks_were_lost(
    service: TestServer, mongo: Mongo, symbl: SymblSandbox, smtp: SmtpSink, tone_audio: Any
) -> None:
    symbl.state.faults.update({"drop_callbacks": 100})
    async with aiohttp.ClientSession() as session:
        submitter = Submitter(mongo, session, symbl.url, tone_audio, callback_base=str(service.make_url("")))
        await submitter.meeting("m-lost", topic="Nobody called back")
        await submitter.submit("m-lost")

        async def mailed() -> bool:
            return len(smtp.messages) >= 1

        await eventually(mailed, timeout=45, what="the sweeper's e-mail")
    assert [m["Subject"] for m in smtp.messages] == ["Meeting summary: Nobody called back"]
    assert symbl.state.stats()["callbacks"] == {"dropped": 2}


async def test_a_symbl_tenant_on_a_host_that_does_not_resolve_is_named_and_the_notifier_stays_ready(
    infra: InfraSettings, smtp: SmtpSink
) -> None:
    """Symbl's API hosts have not resolved since 2026-08: /readyz says so, naming the host, before any meeting.
    The notifier stays ready: its webhooks serve every tenant (unready, AssemblyAI's callbacks got 503s)."""
    settings = make_settings(infra, smtp.port)
    tenant = make_tenant("https://api.symbl.invalid")
    server = TestServer(build_app(settings, Tenants([tenant])), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(str(server.make_url("/readyz"))) as resp:
                body = await resp.json()
        assert resp.status == 200 and body["status"] == "degraded"
        assert "api.symbl.invalid" in body["checks"]["symbl-dns"]
    finally:
        await server.close()


async def test_the_running_notifier_mails_a_new_link_for_an_expired_one(
    service: TestServer, mongo: Mongo, smtp: SmtpSink
) -> None:
    """The route the Ingress sends ``/links/`` to is wired into the service, with its metrics."""
    meeting = Meeting(tenant=TENANT, meeting_uuid="m-renew", stage="notified", topic="Old review")
    await mongo.db[MEETINGS].insert_one(meeting.to_document())
    old = make_page_token(PAGE_KEY, TENANT, "m-renew", ttl=timedelta(days=1), now=time.time() - 3 * 86_400)
    base = str(service.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}{RENEW_PATH}", data={"token": old}) as resp:
            assert resp.status == 200, await resp.text()
        async with session.get(f"{base}/metrics") as resp:
            metrics = await resp.text()
    assert [m["Subject"] for m in smtp.messages] == ["Meeting page: Old review"]
    assert 'zoomsymbl_notifier_link_renewals_total{outcome="sent"} 1.0' in metrics
