"""``/healthz``, ``/readyz`` and ``/metrics`` for every service's aiohttp app.

``/healthz`` answers while the process lives. ``/readyz`` pings every registered resource within a
deadline and turns 503 once shutdown began (SIGTERM), so the load balancer stops sending work
before in-flight requests and messages are drained.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from zoomsymbl_common.errors import ConfigError, ZoomsymblError

Check = Callable[[], Awaitable[None]]
READINESS_CHECKS = web.AppKey("readiness_checks", dict[str, Check])
SHUTTING_DOWN = web.AppKey("shutting_down", asyncio.Event)
METRICS_REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)


def add_health_routes(app: web.Application, registry: CollectorRegistry = REGISTRY) -> None:
    """Register the three routes and the shutdown hook that turns readiness off."""
    app[READINESS_CHECKS] = {}
    app[SHUTTING_DOWN] = asyncio.Event()
    app[METRICS_REGISTRY] = registry
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    app.on_shutdown.append(_begin_shutdown)


def add_readiness_check(app: web.Application, name: str, check: Check) -> None:
    """``/readyz`` succeeds only while ``check()`` returns without raising."""
    app[READINESS_CHECKS][name] = check


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    if request.app[SHUTTING_DOWN].is_set():
        return web.json_response({"status": "shutting down"}, status=503)
    results: dict[str, str] = {}
    for name, check in request.app[READINESS_CHECKS].items():
        try:
            await asyncio.wait_for(check(), timeout=3.0)
            results[name] = "ok"
        except ConfigError as exc:
            # The operator has to fix the configuration: say what is wrong (these messages carry no secret).
            results[name] = f"unavailable: {exc}"
        except (TimeoutError, ZoomsymblError, OSError) as exc:
            results[name] = f"unavailable: {type(exc).__name__}"
    ready = all(value == "ok" for value in results.values())
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": results}, status=200 if ready else 503
    )


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS_REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _begin_shutdown(app: web.Application) -> None:
    app[SHUTTING_DOWN].set()
