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


async def raw_request(host: str, port: int, request_line: str) -> tuple[str, list[str]]:
    """Send ``request_line`` as it is (no client would) and return the answer's status line and the JSON log lines
    of aiohttp's server logger meanwhile (a parser's refusal is logged there, at ERROR)."""
    import asyncio
    import logging

    from zoomsymbl_common.logs import JsonFormatter

    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(JsonFormatter().format(record))

    capture, server_log = Capture(), logging.getLogger("aiohttp.server")
    server_log.addHandler(capture)
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"{request_line}\r\nHost: x\r\nConnection: close\r\n\r\n".encode("latin-1"))
        await writer.drain()
        async with asyncio.timeout(30):
            answer = await reader.read()
        writer.close()
    finally:
        server_log.removeHandler(capture)
    return answer.split(b"\r\n", 1)[0].decode("latin-1"), lines
