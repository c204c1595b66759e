"""The service skeleton: one exit code for configuration errors, a tenant required, /version and build info."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import generate_latest
from pydantic import SecretStr
from zoomsymbl_common.background import background, raise_if_cancelled
from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.health import METRICS_REGISTRY
from zoomsymbl_common.service import (
    EXIT_CONFIG,
    NO_TENANT,
    TENANTS,
    new_app,
    quiet_garbage_collector,
    tenants_context,
)
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_ingest.app import build_app as build_ingest
from zoomsymbl_ingest.settings import Settings as IngestSettings
from zoomsymbl_mixer.app import build_app as build_mixer
from zoomsymbl_mixer.settings import Settings as MixerSettings
from zoomsymbl_notifier.app import build_app as build_notifier
from zoomsymbl_notifier.settings import Settings as NotifierSettings
from zoomsymbl_submitter.app import build_app as build_submitter
from zoomsymbl_submitter.settings import Settings as SubmitterSettings
from zoomsymbl_transcriber.app import build_app as build_transcriber
from zoomsymbl_transcriber.settings import Settings as TranscriberSettings
from zoomsymbl_web.app import build_app as build_web
from zoomsymbl_web.settings import Settings as WebSettings

from scripts import release
from scripts.release import ROOT

SECRET = "callback-secret-0123456789"
PAGE_KEY = "page-key-0123456789abcdef"
# What each service needs besides tenants before it gets as far as opening its resources.
REQUIRED = {
    "ingest": {},
    "mixer": {},
    "submitter": {
        "ZOOMSYMBL_SUBMITTER_NOTIFIER_PUBLIC_URL": "https://notifier.example.com",
        "ZOOMSYMBL_SUBMITTER_CALLBACK_SECRET": SECRET,
    },
    "notifier": {"ZOOMSYMBL_NOTIFIER_CALLBACK_SECRET": SECRET},
    "transcriber": {},
    "web": {"ZOOMSYMBL_WEB_PAGE_KEY": PAGE_KEY},
}
APPS: dict[str, Callable[[InfraSettings], web.Application]] = {
    "ingest": lambda infra: build_ingest(IngestSettings(infra=infra)),
    "mixer": lambda infra: build_mixer(MixerSettings(infra=infra)),
    "submitter": lambda infra: build_submitter(
        SubmitterSettings(
            infra=infra, notifier_public_url="https://notifier.example.com", callback_secret=SecretStr(SECRET)
        )
    ),
    "notifier": lambda infra: build_notifier(NotifierSettings(infra=infra, callback_secret=SecretStr(SECRET))),
    "transcriber": lambda infra: build_transcriber(TranscriberSettings(infra=infra)),
    "web": lambda infra: build_web(WebSettings(infra=infra, page_key=SecretStr(PAGE_KEY))),
}
CONSUMERS = ("mixer", "submitter", "notifier", "transcriber")


async def start(service: str, **env: str) -> tuple[int, str]:
    """Run ``python -m zoomsymbl_<service>`` with only ``env`` of zoomsymbl's variables; its exit code and stderr."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ZOOMSYMBL_", "OTEL_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"zoomsymbl_{service}",
        env=clean | {f"ZOOMSYMBL_{service.upper()}_HTTP_HOST": "127.0.0.1"} | env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


@pytest.mark.parametrize("service", sorted(REQUIRED))
async def test_without_a_tenant_every_service_exits_2_with_the_same_message(service: str) -> None:
    code, stderr = await start(service, **REQUIRED[service])
    assert code == EXIT_CONFIG, stderr
    assert f"zoomsymbl-{service}: {NO_TENANT}" in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("service", sorted(REQUIRED))
async def test_an_invalid_setting_exits_2_naming_the_variable(service: str) -> None:
    variable = f"ZOOMSYMBL_{service.upper()}_HTTP_PORT"
    code, stderr = await start(service, **REQUIRED[service], **{variable: "0"})
    assert code == EXIT_CONFIG, stderr
    assert stderr.startswith(f"zoomsymbl-{service}: invalid configuration: {variable}:"), stderr


@pytest.mark.parametrize("service", sorted(APPS))
async def test_every_service_has_version_build_info_and_its_consumer_metrics(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOOMSYMBL_BUILD_COMMIT", "0123abc")
    app = APPS[service](InfraSettings())
    assert any(r.resource is not None and r.resource.canonical == "/version" for r in app.router.routes())
    metrics = generate_latest(app[METRICS_REGISTRY]).decode()
    version = release.current_version(ROOT)
    assert f'zoomsymbl_build_info{{commit="0123abc",service="{service}",version="{version}"}} 1.0' in metrics
    assert ("# TYPE zoomsymbl_consumer_dead_letters_total counter" in metrics) == (service in CONSUMERS)


async def test_version_answers_service_version_and_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZOOMSYMBL_BUILD_COMMIT", raising=False)
    app = new_app("mixer", InfraSettings())
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/version")
        body: dict[str, Any] = await response.json()
        metrics = await (await client.get("/metrics")).text()
    assert response.status == 200
    version = release.current_version(ROOT)  # the release the workspace is (scripts/release.py)
    assert body == {"service": "mixer", "version": version, "commit": "unknown"}
    assert f'zoomsymbl_build_info{{commit="unknown",service="mixer",version="{version}"}} 1.0' in metrics


async def test_tenants_are_required_and_kept_on_the_app() -> None:
    empty = web.Application()
    with pytest.raises(ConfigError, match="no tenant configured") as caught:
        await anext(tenants_context(Tenants([]))(empty))
    assert caught.value.variables == ("ZOOMSYMBL_TENANTS_FILE", "ZOOMSYMBL_TENANT_ZOOM_WEBHOOK_SECRET")
    app = web.Application()
    tenants = Tenants([TenantConfig(id="acme", zoom_webhook_secret=SecretStr("zoom-secret"))])
    context = tenants_context(tenants)(app)
    await anext(context)
    assert app[TENANTS] is tenants


async def test_a_background_task_is_stopped_within_its_grace_then_cancelled() -> None:
    stop = asyncio.Event()
    finished: list[str] = []

    async def polite() -> None:
        await stop.wait()
        finished.append("polite")

    async def stubborn() -> None:
        await asyncio.Event().wait()

    async with background(polite(), "polite", grace=5, stop=stop.set) as task:
        assert not task.done()
    assert finished == ["polite"]
    async with background(stubborn(), "stubborn", grace=0.05, stop=lambda: None) as task:
        pass
    assert task.cancelled()


def test_what_lives_at_start_up_is_kept_out_of_the_collectors_way() -> None:
    before = gc.get_threshold()
    try:
        quiet_garbage_collector(young_threshold=12_345)
        assert gc.get_freeze_count() > 1000  # modules, classes, settings: frozen, never walked again
        assert gc.get_threshold() == (12_345, before[1], before[2])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


async def _swallows_the_first_cancellation(rounds: list[int]) -> None:
    """A loop in which a library drops one cancellation, as Python 3.11's asyncio.wait_for can (pymongo uses it)."""
    with contextlib.suppress(asyncio.CancelledError):  # dropped: the task goes on
        await asyncio.sleep(3600)
    while True:
        rounds.append(1)
        await asyncio.sleep(0.01)


async def test_a_background_task_that_ends_with_an_error_is_logged_at_once(caplog: pytest.LogCaptureFixture) -> None:
    """Its work (a sweep, a periodic round) stopped for the rest of the process's life: before, nothing showed it
    until the service stopped and awaited the task. Logged when it ends, without the secret it held."""

    async def failing() -> None:
        raise RuntimeError("listing of https://zoom.example/rec?access_token=abc failed")

    logged: list[logging.LogRecord] = []

    async def service() -> None:
        ended = asyncio.Event()
        async with background(failing(), "periodic-backfill") as task:
            task.add_done_callback(lambda _: ended.set())
            await ended.wait()
            logged.extend(r for r in caplog.records if r.getMessage() == "background task ended")

    with pytest.raises(RuntimeError):  # and raised when the service stops, as before
        await service()
    [line] = logged
    assert line.levelname == "ERROR" and line.__dict__["task"] == "periodic-backfill" and line.exc_info
    assert "RuntimeError" in line.__dict__["error"] and "abc" not in line.__dict__["error"]
    caplog.clear()
    async with background(asyncio.sleep(30), "sleeping"):
        pass  # cancelled on the way out: no error
    assert not [r for r in caplog.records if r.getMessage() == "background task ended"]


async def test_background_stops_a_task_that_dropped_its_cancellation() -> None:
    rounds: list[int] = []
    async with background(_swallows_the_first_cancellation(rounds), "dropping") as task:
        await asyncio.sleep(0)  # the task waits in its sleep
    assert task.done() and task.cancelled()
    assert rounds, "the first cancellation was not dropped, so the test proves nothing"


async def test_a_periodic_loop_stops_at_the_next_round_after_a_dropped_cancellation() -> None:
    rounds: list[int] = []

    async def periodic() -> None:
        with contextlib.suppress(asyncio.CancelledError):  # dropped
            await asyncio.sleep(3600)
        while True:
            await asyncio.sleep(0.01)
            raise_if_cancelled()
            rounds.append(1)

    task = asyncio.create_task(periodic())
    await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    assert task in done and task.cancelled()
    assert rounds == []
