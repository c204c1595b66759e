"""SANDBOX only: the routes every provider sandbox adds beside its imitation of the provider (no provider page).

``POST /_sandbox/faults`` arms faults, ``GET /_sandbox/faults`` shows what is still armed, ``GET
/_sandbox/stats`` says what the sandbox saw (for assertions), ``GET /healthz`` is the stack's liveness check;
and one HTTP session for the callbacks the sandbox sends, closed with the job board.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import aiohttp
from aiohttp import web

from zoomsymbl_sandbox.provider_http import WebhookSender
from zoomsymbl_sandbox.provider_jobs import JobBoard
from zoomsymbl_sandbox.provider_stats import Faults, FaultsError

ErrorResponse = Callable[[int, str], web.Response]


class SandboxState(Protocol):
    """What the admin routes need of a provider sandbox's state."""

    faults: Faults
    sender: WebhookSender
    board: JobBoard[Any]

    def stats(self) -> dict[str, object]:
        """What the sandbox saw."""
        ...


def add_admin_routes(app: web.Application, key: web.AppKey[Any], name: str, error: ErrorResponse) -> None:
    """The ``/_sandbox`` routes and ``/healthz`` for the state in ``app[key]``, errors in the provider's shape."""

    def state(request: web.Request) -> SandboxState:
        found: SandboxState = request.app[key]
        return found

    async def set_faults(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise FaultsError("faults must be a JSON object")
            state(request).faults.update(body)
        except (ValueError, UnicodeDecodeError, FaultsError) as exc:
            return error(400, str(exc) if isinstance(exc, FaultsError) else "request body must be JSON")
        return web.json_response(state(request).faults.snapshot())

    async def get_faults(request: web.Request) -> web.Response:
        return web.json_response(state(request).faults.snapshot())

    async def get_stats(request: web.Request) -> web.Response:
        return web.json_response(state(request).stats())

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "sandbox": name})

    async def http_session(app: web.Application) -> AsyncIterator[None]:
        sandbox: SandboxState = app[key]
        sandbox.sender.session = aiohttp.ClientSession()
        yield
        await sandbox.board.close()
        await sandbox.sender.close()

    app.cleanup_ctx.append(http_session)
    app.router.add_post("/_sandbox/faults", set_faults)
    app.router.add_get("/_sandbox/faults", get_faults)
    app.router.add_get("/_sandbox/stats", get_stats)
    app.router.add_get("/healthz", healthz)
