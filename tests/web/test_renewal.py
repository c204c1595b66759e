"""The page of an expired link: within the tenant's ``page_link_renewal_days`` a 403 with one button that posts the
token to the notifier's ``/links/renew``, under a policy that lets the form post there and nowhere else. And links
signed with the previous page key while it is being replaced."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from html import unescape

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from zoomsymbl_common.page_tokens import RENEW_PATH, make_page_token
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_web.page_deps import PAGE_DEPS, PageDeps, PageMetrics
from zoomsymbl_web.routes import add_page_routes
from zoomsymbl_web.settings import Settings

from tests.web.test_routes import FakePages, _view

KEY = "web-renewal-page-key-0123456789"
Client = TestClient[web.Request, web.Application]
Serve = Callable[..., Awaitable[Client]]
DAY = 86_400


def _expired(days_ago: float, tenant: str = "acme", key: str = KEY) -> str:
    """A link of ``tenant``'s ready meeting that expired ``days_ago``."""
    return make_page_token(key, tenant, "ready==", ttl=timedelta(days=1), now=time.time() - (days_ago + 1) * DAY)


def _altered(token: str) -> str:
    return token[:-2] + ("AA" if not token.endswith("AA") else "BB")


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    clients: list[Client] = []

    async def start(**settings: str) -> Client:
        app = web.Application()
        app[PAGE_DEPS] = PageDeps(
            settings=Settings.model_validate({"page_key": KEY, "infra": InfraSettings(), **settings}),
            tenants=Tenants(
                [
                    TenantConfig(id="acme", zoom_webhook_secret="s" * 20, page_link_renewal_days=30),
                    TenantConfig(id="never", zoom_webhook_secret="s" * 20, page_link_renewal_days=0),
                ]
            ),
            pages=FakePages({("acme", "ready=="): _view(), ("never", "ready=="): _view()}),
            presign=None,
            media="'self'",
            metrics=PageMetrics(CollectorRegistry()),
        )
        add_page_routes(app)
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


def _form(body: str) -> tuple[str, str]:
    """(action, token) of the page's one form."""
    forms = re.findall(r'<form method="post" action="([^"]*)"><input type="hidden" name="token" value="([^"]*)">', body)
    assert len(forms) == 1, body
    return unescape(forms[0][0]), unescape(forms[0][1])


async def test_a_recently_expired_link_offers_to_e_mail_a_new_one_to_the_host(serve: Serve) -> None:
    client = await serve()
    token = _expired(2)
    answer = await client.get(f"/m/{token}")
    body = await answer.text()
    assert answer.status == 403, "it opens nothing"
    assert _form(body) == (RENEW_PATH, token)
    assert "Weekly" not in body, "nothing of the meeting is shown"
    csp = answer.headers["Content-Security-Policy"]
    assert "form-action 'self';" in csp and "default-src 'none'" in csp and "script-src" not in csp
    assert answer.headers["X-Robots-Tag"] == "noindex, nofollow, noarchive"
    assert "no-store" in answer.headers["Cache-Control"]
    download = await client.get(f"/m/{token}/transcript.txt")
    assert download.status == 403 and "<form" not in await download.text(), "the downloads offer nothing"
    assert "form-action 'none'" in download.headers["Content-Security-Policy"]


async def test_the_form_posts_to_the_notifiers_origin_when_it_has_its_own(serve: Serve) -> None:
    client = await serve(link_renewal_origin="https://links.example.test/")
    answer = await client.get(f"/m/{_expired(1)}")
    assert answer.status == 403
    assert _form(await answer.text())[0] == "https://links.example.test" + RENEW_PATH
    assert "form-action https://links.example.test;" in answer.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(_expired(31), id="expired-longer-than-the-renewal-days"),
        pytest.param(_expired(1, tenant="never"), id="tenant-renews-never"),
        pytest.param(_expired(1, tenant="gone"), id="tenant-not-configured"),
        pytest.param(_expired(1, key="another-page-key-0123456789"), id="another-key"),
        pytest.param(_altered(_expired(1)), id="altered"),
    ],
)
async def test_any_other_refused_link_gets_the_plain_403_without_a_form(serve: Serve, token: str) -> None:
    client = await serve()
    answer = await client.get(f"/m/{token}")
    body = await answer.text()
    assert answer.status == 403 and "<form" not in body and "not valid or has expired" in body
    assert "form-action 'none'" in answer.headers["Content-Security-Policy"]


def test_the_renewal_origin_is_a_bare_origin_without_credentials() -> None:
    with pytest.raises(ValueError, match="link_renewal_origin"):
        Settings(page_key=SecretStr(KEY), infra=InfraSettings(), link_renewal_origin="https://a:b@links.example.test")
    with pytest.raises(ValueError, match="link_renewal_origin"):
        Settings(page_key=SecretStr(KEY), infra=InfraSettings(), link_renewal_origin="https://links.example.test/x")


async def test_links_of_the_previous_page_key_open_while_it_is_kept(serve: Serve) -> None:
    old_key = "the-page-key-before-0123456789"
    valid = make_page_token(old_key, "acme", "ready==")
    expired = _expired(2, key=old_key)
    before = await serve()
    assert (await before.get(f"/m/{valid}")).status == 403, "a replaced key without its predecessor voids its links"
    during = await serve(page_key_previous=old_key)
    answer = await during.get(f"/m/{valid}")
    assert answer.status == 200 and "Weekly" in await answer.text()
    assert (await during.get(f"/m/{valid}/transcript.txt")).status == 200
    renewal = await during.get(f"/m/{expired}")
    assert renewal.status == 403 and _form(await renewal.text())[1] == expired, "an expired one may ask for a new link"
    with pytest.raises(ValueError, match="page_key_previous"):
        Settings(page_key=SecretStr(KEY), infra=InfraSettings(), page_key_previous=SecretStr("short"))
