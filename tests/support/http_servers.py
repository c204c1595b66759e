"""Local HTTP servers a test starts (every request to one handler) and closes together at its end."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.test_utils import TestServer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Servers:
    """Starts servers answering every request with a handler; :meth:`close` stops them all."""

    def __init__(self) -> None:
        self._started: list[TestServer] = []

    async def start(self, handler: Handler) -> TestServer:
        """A running server whose every path and method goes to ``handler``."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        server = TestServer(app)
        await server.start_server()
        self._started.append(server)
        return server

    async def close(self) -> None:
        for server in self._started:
            await server.close()
