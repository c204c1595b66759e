"""``POST /links/renew``: an expired link's button e-mails a fresh link to whom the report goes, once a day, through
the outbox; the same answer whatever became of it; nothing for a link it must not renew; no token in a log line."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from zoomsymbl_common.mongo import Mongo, make_mongo
from zoomsymbl_common.page_tokens import PAGE_PATH, RENEW_PATH, make_page_token, page_url, verify_page_token
from zoomsymbl_common.records import EMAILS, TOMBSTONES, Tombstone
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_notifier.link_mail import RENEWAL_NOTE
from zoomsymbl_notifier.renewals import (
    ANSWERED,
    QUIET_SECONDS,
    RENEWAL_DEPS,
    RecentRenewals,
    RenewalDeps,
    RenewalMetrics,
    add_renewal_routes,
)

from tests.common.test_ops_cli import closed_port
from tests.notifier.harness import PAGE_BASE_URL, PAGE_KEY, make_settings
from tests.notifier.harness_smtp import SmtpSink
from tests.notifier.test_link_command import store_meeting

pytestmark = [pytest.mark.integration]

DAY = 86_400
HOST = "host@acme.example"
Client = TestClient[web.Request, web.Application]


def expired(meeting_uuid: str, days_ago: float, tenant: str = "acme", key: str = PAGE_KEY) -> str:
    """A page link of ``tenant``'s meeting that expired ``days_ago``."""
    return make_page_token(key, tenant, meeting_uuid, ttl=timedelta(days=1), now=time.time() - (days_ago + 1) * DAY)


@dataclass
class Renew:
    """POSTs the page's form (``token=...``) to the route; its metrics; ``later`` moves the route's clock on."""

    client: Client
    registry: CollectorRegistry
    shift: list[float]

    def later(self, seconds: float) -> None:
        self.shift[0] += seconds

    async def __call__(self, token: str | None = None, **request: Any) -> tuple[int, str, ClientResponse]:
        request.setdefault("data", {"token": token})
        async with self.client.post(RENEW_PATH, allow_redirects=False, **request) as answer:
            return answer.status, await answer.text(), answer

    def counted(self, outcome: str) -> float:
        value = self.registry.get_sample_value("zoomsymbl_notifier_link_renewals_total", {"outcome": outcome})
        return float(value or 0.0)


@pytest.fixture
async def renew(infra: InfraSettings, mongo: Mongo, smtp: SmtpSink) -> AsyncIterator[Renew]:
    """The route on a test server, over this test's MongoDB and SMTP sink."""
    tenants = Tenants(
        [
            TenantConfig(id="acme", zoom_webhook_secret="s" * 20, page_link_days=7, page_link_renewal_days=30),
            TenantConfig(id="never", zoom_webhook_secret="s" * 20, page_link_renewal_days=0),
        ]
    )
    registry = CollectorRegistry()
    shift = [0.0]
    app = web.Application()
    settings = make_settings(infra, smtp.port)
    app[RENEWAL_DEPS] = RenewalDeps(
        settings, tenants, mongo, RenewalMetrics(registry), clock=lambda: time.time() + shift[0]
    )
    add_renewal_routes(app)
    client: Client = TestClient(TestServer(app))
    await client.start_server()
    yield Renew(client, registry, shift)
    await client.close()


def fresh_link(smtp: SmtpSink) -> str:
    """The one link the one e-mail carries."""
    [message] = smtp.messages
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    [link] = re.findall(re.escape(PAGE_BASE_URL + PAGE_PATH) + r"\S+", str(body.get_content()))
    return str(link)


async def test_an_expired_links_button_mails_a_fresh_link_to_the_host_once_a_day(
    renew: Renew, mongo: Mongo, smtp: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # The route's own logger, named: a test before may have left a parent logger above INFO.
    caplog.set_level(logging.DEBUG, logger="zoomsymbl.notifier.renewals")
    await store_meeting(mongo, "acme", "old/link==", topic="Roadmap", host_email=HOST)
    token = expired("old/link==", 3)
    status, body, answer = await renew(token)
    assert status == 200 and ANSWERED.replace("'", "&#x27;") in body
    assert (
        "no-store" in answer.headers["Cache-Control"]
        and "form-action 'none'" in answer.headers["Content-Security-Policy"]
    )
    [message] = smtp.messages
    assert message["To"] == HOST and message["Subject"] == "Meeting page: Roadmap"
    link = fresh_link(smtp)
    plain = message.get_body(preferencelist=("plain",))
    assert plain is not None and RENEWAL_NOTE in str(plain.get_content()), "the host reads why it came"
    claim = verify_page_token(PAGE_KEY, link.removeprefix(PAGE_BASE_URL + PAGE_PATH))
    assert claim is not None and (claim.tenant, claim.meeting_uuid) == ("acme", "old/link==")
    assert abs(claim.expires - (time.time() + 7 * DAY)) < 600, "the tenant's page_link_days"
    [kept] = await mongo.db[EMAILS].find({"meeting_uuid": "old/link=="}).to_list(None)
    assert kept["kind"] == "link-" + datetime.now(UTC).strftime("%Y-%m-%d") and kept["status"] == "sent"

    again = await renew(token)
    assert again[:2] == (status, body), "the same answer"
    renew.later(QUIET_SECONDS + 1)  # past the quiet time: the outbox answers
    assert (await renew(token))[:2] == (status, body)
    assert len(smtp.messages) == 1, "one e-mail a day, however often the button is pressed"
    assert [renew.counted(outcome) for outcome in ("sent", "repeated", "already_sent")] == [1, 1, 1]
    logged = "\n".join(record.getMessage() + str(vars(record)) for record in caplog.records)
    assert token not in logged and link.rsplit("/", 1)[1] not in logged
    assert "new page link asked for" in logged


async def test_a_link_still_valid_goes_back_to_its_page(renew: Renew, mongo: Mongo, smtp: SmtpSink) -> None:
    await store_meeting(mongo, "acme", "valid==", host_email=HOST)
    token = make_page_token(PAGE_KEY, "acme", "valid==", ttl=timedelta(days=1))
    status, _, answer = await renew(token)
    assert status == 303 and answer.headers["Location"] == page_url(PAGE_BASE_URL, token)
    assert smtp.messages == []


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(expired("old==", 31), id="expired-longer-than-the-renewal-days"),
        pytest.param(expired("old==", 1, tenant="never"), id="tenant-renews-never"),
        pytest.param(expired("old==", 1, tenant="gone"), id="tenant-not-configured"),
        pytest.param(expired("old==", 1, key="another-page-key-0123456789"), id="another-key"),
        pytest.param("x" * 5000, id="too-long"),
    ],
)
async def test_a_link_this_route_must_not_renew_is_refused_and_mails_nothing(
    renew: Renew, mongo: Mongo, smtp: SmtpSink, token: str
) -> None:
    for tenant in ("acme", "never", "gone"):
        await store_meeting(mongo, tenant, "old==", host_email=HOST)
    status, body, _ = await renew(token)
    assert status == 403 and "not valid" in body
    assert smtp.messages == [] and await mongo.db[EMAILS].count_documents({}) == 0


async def test_anything_but_the_pages_form_is_refused(renew: Renew, mongo: Mongo, smtp: SmtpSink) -> None:
    await store_meeting(mongo, "acme", "old==", host_email=HOST)
    token = expired("old==", 1)
    assert (await renew(json={"token": token}, data=None))[0] == 415
    assert (await renew(data=f"token={token}&token={token}", headers=_FORM))[0] == 400
    assert (await renew(data="nothing=here", headers=_FORM))[0] == 400
    assert (await renew(data="token=", headers=_FORM))[0] == 400
    assert (await renew(data=f"token={token}&pad={'x' * 9000}", headers=_FORM))[0] == 413
    assert smtp.messages == []


_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def test_the_answer_is_the_same_whatever_became_of_the_request(
    renew: Renew, mongo: Mongo, smtp: SmtpSink
) -> None:
    """Gone, forgotten, not ready, nobody to mail: the holder of the old link learns nothing from the answer; the
    outcome is in the log and the metric."""
    await store_meeting(mongo, "acme", "forgotten==", host_email=HOST)
    forgotten = Tombstone(tenant="acme", meeting_uuid="forgotten==", forgotten_at=datetime.now(UTC))
    await mongo.db[TOMBSTONES].insert_one(forgotten.to_document())
    await store_meeting(mongo, "acme", "running==", stage="processing", host_email=HOST)
    await store_meeting(mongo, "acme", "nobody==")
    answers = [await renew(expired(uuid, 2)) for uuid in ("gone==", "forgotten==", "running==", "nobody==", "gone==")]
    assert len({(status, body) for status, body, _ in answers}) == 1 and answers[0][0] == 200
    assert smtp.messages == [] and await mongo.db[EMAILS].count_documents({}) == 0
    outcomes = ("not_found", "forgotten", "not_ready", "no_recipient", "repeated")
    assert [renew.counted(outcome) for outcome in outcomes] == [1, 1, 1, 1, 1]


async def test_a_meeting_asked_for_again_within_the_quiet_time_is_answered_without_mongodb(
    renew: Renew, mongo: Mongo, smtp: SmtpSink
) -> None:
    """A button pressed in a loop costs MongoDB one read and one outbox claim per meeting and minute: the meeting
    erased between two presses shows that the second was answered from memory; after the quiet time it is read."""
    await store_meeting(mongo, "acme", "pressed==", host_email=HOST)
    token = expired("pressed==", 2)
    first = await renew(token)
    assert len(smtp.messages) == 1
    await mongo.db[TOMBSTONES].insert_one(
        Tombstone(tenant="acme", meeting_uuid="pressed==", forgotten_at=datetime.now(UTC)).to_document()
    )
    renew.later(QUIET_SECONDS - 1)
    for _ in range(3):
        assert (await renew(token))[:2] == first[:2]
    assert (renew.counted("repeated"), renew.counted("forgotten")) == (3, 0)
    renew.later(2)
    assert (await renew(token))[:2] == first[:2]
    assert (renew.counted("repeated"), renew.counted("forgotten")) == (3, 1)
    assert len(smtp.messages) == 1


def test_the_meetings_remembered_are_bounded_and_forgotten_after_the_quiet_time() -> None:
    recent = RecentRenewals(quiet=60, size=2)
    for n, meeting in enumerate((("t", "a"), ("t", "b"), ("t", "c"))):
        recent.handled(meeting, 1000.0 + n)
    assert [recent.recent(("t", m), 1010.0) for m in "abc"] == [False, True, True], "the oldest went first"
    assert recent.recent(("t", "b"), 1061.0) is False and recent.recent(("t", "c"), 1061.0) is True
    assert recent.recent(("t", "c"), 990.0) is False, "a clock set back does not keep a meeting quiet"


async def test_what_smtp_cannot_take_now_waits_in_the_outbox_for_the_sweeper(
    infra: InfraSettings, mongo: Mongo, smtp: SmtpSink, renew: Renew
) -> None:
    await store_meeting(mongo, "acme", "queued==", host_email=HOST)
    await smtp.stop()
    status, body, _ = await renew(expired("queued==", 2))
    assert status == 200 and "on its way" in body
    [kept] = await mongo.db[EMAILS].find({"meeting_uuid": "queued=="}).to_list(None)
    assert kept["status"] == "pending" and kept["recipients"] == [HOST]
    assert renew.counted("retry_later") == 1
    # Pressed again past the quiet time, SMTP back: the outbox still holds it for the sweeper (a press does not
    # hurry it), so remembering a retry_later like any outcome loses nothing.
    await smtp.start()
    renew.later(QUIET_SECONDS + 1)
    assert (await renew(expired("queued==", 2)))[0] == 200
    assert (renew.counted("retry_later"), smtp.messages) == (2, [])


async def test_an_unreachable_archive_asks_to_press_again(infra: InfraSettings, smtp: SmtpSink) -> None:
    uri = SecretStr(f"mongodb://127.0.0.1:{closed_port()}/")
    down = infra.model_copy(update={"mongo_uri": uri, "mongo_timeout_ms": 300})
    mongo = make_mongo(down)
    app = web.Application()
    tenants = Tenants([TenantConfig(id="acme", zoom_webhook_secret="s" * 20)])
    app[RENEWAL_DEPS] = RenewalDeps(make_settings(down, smtp.port), tenants, mongo, RenewalMetrics(CollectorRegistry()))
    add_renewal_routes(app)
    async with TestClient(TestServer(app)) as client:
        answer = await client.post(RENEW_PATH, data={"token": expired("m==", 1)})
        assert answer.status == 503 and answer.headers["Retry-After"] == "30"
    await mongo.close()


async def test_an_expired_link_of_the_previous_page_key_gets_a_link_of_the_current_one(
    infra: InfraSettings, mongo: Mongo, smtp: SmtpSink
) -> None:
    old_key = "the-page-key-before-0123456789"
    await store_meeting(mongo, "acme", "rotated==", host_email=HOST)
    settings = make_settings(infra, smtp.port, page_key_previous=SecretStr(old_key))
    tenants = Tenants([TenantConfig(id="acme", zoom_webhook_secret="s" * 20)])
    app = web.Application()
    app[RENEWAL_DEPS] = RenewalDeps(settings, tenants, mongo, RenewalMetrics(CollectorRegistry()))
    add_renewal_routes(app)
    async with TestClient(TestServer(app)) as client:
        answer = await client.post(RENEW_PATH, data={"token": expired("rotated==", 2, key=old_key)})
        assert answer.status == 200
    link = fresh_link(smtp)
    token = link.removeprefix(PAGE_BASE_URL + PAGE_PATH)
    assert verify_page_token(PAGE_KEY, token) is not None, "signed with the current key"
    assert verify_page_token(old_key, token) is None
