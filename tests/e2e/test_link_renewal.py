"""In Chromium: the page of an expired link, its button, the notifier's e-mail to the host, the new link's page.

The web service and the notifier's renewal route run on two loopback origins (the web service's
``link_renewal_origin`` names the notifier's), so the browser enforces the page's ``form-action`` across them as it
would across a deployment that serves the notifier elsewhere; MongoDB and the SMTP server are real.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.page_tokens import PAGE_PATH, make_page_token, page_url
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_notifier.renewals import RENEWAL_DEPS, RenewalDeps, RenewalMetrics, add_renewal_routes
from zoomsymbl_web.app import build_app
from zoomsymbl_web.settings import Settings as WebSettings

from tests.notifier.harness import make_settings
from tests.notifier.harness_smtp import SmtpSink, free_port
from tests.support.eventually import eventually
from tests.support.webdriver import browser_paths, chromium
from tests.web.test_app import _store_meeting

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
KEY = "renewal-browser-page-key-0123456789"
HOST = "host@example.test"  # the host of tests.web.test_app's stored meeting


async def _serve(app: web.Application, port: int) -> TestServer:
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    return server


@pytest.fixture
async def origins(infra: InfraSettings, mongo: Mongo, store: ObjectStore) -> AsyncIterator[tuple[str, SmtpSink]]:
    """The web service's origin (whose expired pages post to the notifier's), and the notifier's SMTP server."""
    sink = SmtpSink()
    await sink.start()
    web_port, notifier_port = free_port(), free_port()
    web_origin, notifier_origin = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{notifier_port}"
    tenants = Tenants([TenantConfig(id="acme", zoom_webhook_secret="w" * 20)])
    page_settings = WebSettings(page_key=SecretStr(KEY), infra=infra, link_renewal_origin=notifier_origin)
    notifier = web.Application()
    settings = make_settings(infra, sink.port, page_key=SecretStr(KEY), page_base_url=web_origin)
    notifier[RENEWAL_DEPS] = RenewalDeps(settings, tenants, mongo, RenewalMetrics(CollectorRegistry()))
    add_renewal_routes(notifier)
    servers = [await _serve(build_app(page_settings, tenants), web_port), await _serve(notifier, notifier_port)]
    yield web_origin, sink
    for server in servers:
        await server.close()
    await sink.stop()


async def test_an_expired_links_button_brings_the_host_a_link_that_opens_the_page(
    origins: tuple[str, SmtpSink], mongo: Mongo, store: ObjectStore
) -> None:
    if browser_paths() is None:
        pytest.skip("chromium and chromium-driver are not installed (make system-deps)")
    web_origin, sink = origins
    await _store_meeting(mongo, store)
    old = make_page_token(KEY, "acme", "abc/==", ttl=timedelta(days=30), now=time.time() - 40 * 86_400)
    async with chromium(ROOT / ".cache" / "browser" / "chromedriver-renewal.log") as browser:
        await browser.go(page_url(web_origin, old))
        assert await browser.run("return document.title") == "Link expired"
        assert await browser.run("return document.body.innerText.includes('Quarterly')") is False
        [button] = await browser.find_all("#renew")
        await browser.click(button)

        async def answered() -> bool:
            return bool(await browser.run("return document.title") == "New link asked for")

        await eventually(answered, timeout=30, what="the notifier's answer in the browser")
        assert "the meeting's host" in await browser.run("return document.body.innerText")
        # The expired page's own 403 is logged as a network error; a policy that blocked the form would be another.
        logged = await browser.console()
        errors = [entry for entry in logged if entry.get("level") == "SEVERE" and entry.get("source") != "network"]
        assert errors == [], "no policy blocked the form"

        [message] = sink.messages
        assert message["To"] == HOST
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        [link] = [line for line in str(body.get_content()).split() if line.startswith(web_origin + PAGE_PATH)]
        assert link != page_url(web_origin, old)
        await browser.go(link)
        assert await browser.run("return document.title") == "Quarterly <review>"
