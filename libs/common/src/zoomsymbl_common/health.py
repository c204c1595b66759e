"""``/healthz``, ``/readyz``, ``/metrics`` and ``/version`` for every service's aiohttp app.

``/healthz`` answers while the process lives and no registered liveness check names a problem (a state only a
restart clears: the transcriber's model thread stuck inside a segment); Kubernetes' liveness probe restarts the
container when it keeps failing. ``/readyz`` pings every registered resource within a
deadline and turns 503 once shutdown began (SIGTERM), so the load balancer stops sending work
before in-flight requests and messages are drained. ``/version`` and the ``zoomsymbl_build_info``
gauge say which build runs: the package version and the commit the image was built from
(``ZOOMSYMBL_BUILD_COMMIT``, a build argument of the image).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from importlib import metadata

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Gauge, generate_latest

from zoomsymbl_common.errors import ConfigError, ZoomsymblError

Check = Callable[[], Awaitable[None]]
LivenessCheck = Callable[[], str | None]
"""Quick and synchronous: the problem that only a restart clears, or None."""
READINESS_CHECKS = web.AppKey("readiness_checks", dict[str, Check])
LIVENESS_CHECKS = web.AppKey("liveness_checks", dict[str, LivenessCheck])
OPTIONAL_CHECKS = web.AppKey("optional_checks", set[str])
SHUTTING_DOWN = web.AppKey("shutting_down", asyncio.Event)
METRICS_REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)
UNKNOWN = "unknown"
log = logging.getLogger("zoomsymbl.health")
# The variable naming the CAs a check's connection trusts, said when the server's certificate was refused (Kafka
# explains its own refusals at start-up: kafka_security.check_connection).
CA_VARIABLES = {"s3": "ZOOMSYMBL_S3_CA_FILE", "mongo": "ZOOMSYMBL_MONGO_CA_FILE"}
# OpenSSL's marker of a refused certificate, in the texts of clients (pymongo) that keep no ssl exception as a cause.
_VERIFY_TEXT = re.compile(
    r"CERTIFICATE_VERIFY_FAILED\] certificate verify failed(?:: ([^()'\"\]\n]{1,200}?))?\s*\(_ssl"
)


@dataclass(frozen=True)
class BuildInfo:
    """Which build of which service runs."""

    service: str
    version: str
    commit: str

    @classmethod
    def of(cls, service: str) -> BuildInfo:
        """The installed version of ``zoomsymbl-<service>`` and ``ZOOMSYMBL_BUILD_COMMIT`` ("unknown" if unset)."""
        try:
            version = metadata.version(f"zoomsymbl-{service}")
        except metadata.PackageNotFoundError:
            version = UNKNOWN
        return cls(service, version, os.environ.get("ZOOMSYMBL_BUILD_COMMIT", "").strip() or UNKNOWN)


def add_health_routes(app: web.Application, registry: CollectorRegistry = REGISTRY) -> None:
    """Register the three routes and the shutdown hook that turns readiness off."""
    app[READINESS_CHECKS] = {}
    app[LIVENESS_CHECKS] = {}
    app[OPTIONAL_CHECKS] = set()
    app[SHUTTING_DOWN] = asyncio.Event()
    app[METRICS_REGISTRY] = registry
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    app.on_shutdown.append(_begin_shutdown)


def add_version_route(app: web.Application, service: str) -> None:
    """``GET /version`` and ``zoomsymbl_build_info{service,version,commit} 1`` on the app's registry."""
    info = BuildInfo.of(service)
    gauge = Gauge(
        "zoomsymbl_build_info",
        "The running build: 1, labelled with the service, its version and the commit it was built from.",
        ["service", "version", "commit"],
        registry=app[METRICS_REGISTRY],
    )
    gauge.labels(info.service, info.version, info.commit).set(1)
    body = asdict(info)

    async def version(request: web.Request) -> web.Response:
        return web.json_response(body)

    app.router.add_get("/version", version)


def add_readiness_check(app: web.Application, name: str, check: Check, *, required: bool = True) -> None:
    """``/readyz`` succeeds only while ``check()`` returns without raising; with ``required`` False its failure
    shows in the answer (``"status": "degraded"``) and the pod stays ready: a service that still does its work
    without that server (ingest without MongoDB) must not leave the Service without endpoints."""
    app[READINESS_CHECKS][name] = check
    if not required:
        app[OPTIONAL_CHECKS].add(name)


def add_liveness_check(app: web.Application, name: str, check: LivenessCheck) -> None:
    """``/healthz`` answers 503 naming the problem while ``check()`` returns one (the liveness probe then restarts
    the container): only for a state the process cannot leave by itself, never for a server that is down."""
    app[LIVENESS_CHECKS][name] = check


async def _healthz(request: web.Request) -> web.Response:
    problems = {name: problem for name, check in request.app[LIVENESS_CHECKS].items() if (problem := check())}
    if problems:
        log.error("not alive", extra={"checks": problems})
        return web.json_response({"status": "unhealthy", "checks": problems}, status=503)
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    if request.app[SHUTTING_DOWN].is_set():
        return web.json_response({"status": "shutting down"}, status=503)
    results: dict[str, str] = {}
    for name, check in request.app[READINESS_CHECKS].items():
        try:
            async with asyncio.timeout(3.0):
                await check()
            results[name] = "ok"
        except ConfigError as exc:
            # The operator has to fix the configuration: say what is wrong (these messages carry no secret).
            results[name] = f"unavailable: {exc}"
        except (TimeoutError, ZoomsymblError, OSError) as exc:
            results[name] = f"unavailable: {type(exc).__name__}{_tls_hint(name, exc)}"
    optional = request.app[OPTIONAL_CHECKS]
    ready = all(value == "ok" for name, value in results.items() if name not in optional)
    status = "not ready" if not ready else "ready" if all(v == "ok" for v in results.values()) else "degraded"
    return web.json_response({"status": status, "checks": results}, status=200 if ready else 503)


def _tls_hint(check: str, exc: BaseException) -> str:
    """A fixed text when the failure was a refused server certificate, else "".

    Only OpenSSL's verification message (e.g. "unable to get local issuer certificate", "Hostname
    mismatch, certificate is not valid for 'host'") is repeated: it names no credential. Everything
    else of the error stays in the service's log, as before.
    """
    chain = _chain(exc)
    verify = next((e for e in chain if isinstance(e, ssl.SSLCertVerificationError)), None)
    if verify is not None:
        detail = str(verify.verify_message or "certificate verify failed")
    else:
        # Clients that keep only the text (pymongo's server selection error): OpenSSL's words in it.
        found = next((m for e in chain if (m := _VERIFY_TEXT.search(str(e)))), None)
        if found is None:
            return ""
        detail = found.group(1) or "certificate verify failed"
    variable = CA_VARIABLES.get(check)
    return f" (TLS: the server's certificate was refused: {detail[:200]}{f'; check {variable}' if variable else ''})"


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc``, its causes and contexts, and urllib3's ``reason`` (where a MaxRetryError keeps its cause)."""
    found: list[BaseException] = []
    pending: list[object] = [exc]
    while pending and len(found) < 20:
        current = pending.pop(0)
        if not isinstance(current, BaseException) or any(current is e for e in found):
            continue
        found.append(current)
        pending.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
    return found


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS_REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _begin_shutdown(app: web.Application) -> None:
    app[SHUTTING_DOWN].set()
