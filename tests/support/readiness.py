"""What ``/readyz`` of a service answers for one readiness check, through the real health routes."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from zoomsymbl_common.health import Check, add_health_routes, add_readiness_check


async def readyz(name: str, check: Check, *others: tuple[str, Check, bool]) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of ``GET /readyz`` for an app whose check is ``check``, named ``name`` (and
    ``others``: name, check, required)."""
    app = web.Application()
    add_health_routes(app)
    add_readiness_check(app, name, check)
    for other, other_check, required in others:
        add_readiness_check(app, other, other_check, required=required)
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as http:
        async with http.get(server.make_url("/readyz")) as response:
            return response.status, await response.json()
