"""SANDBOX helpers for tests and the demo: synthetic multichannel recordings and a loopback callback receiver.

``make_tone_audio`` writes a file whose channels carry tones at known times, so the provider sandboxes'
speech segments (and therefore messages and speakers) are predictable. ``CallbackReceiver`` is a tiny
loopback HTTP server that records webhook posts and can serve files for the "audio by URL" paths.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

Span = tuple[float, float]


def tone_expression(spans: Sequence[Span], frequency_hz: float) -> str:
    """An aevalsrc expression: a sine during each span, digital silence elsewhere."""
    terms = [f"between(t,{start},{end})" for start, end in spans]
    gate = "+".join(terms) or "0"
    return f"0.5*sin(2*PI*{frequency_hz}*t)*gt({gate},0)"


def tone_audio_args(
    path: Path, channels: Sequence[Sequence[Span]], duration_s: float, sample_rate: int = 16000
) -> list[str]:
    expressions = "|".join(tone_expression(spans, 440.0 + 110.0 * i) for i, spans in enumerate(channels))
    source = f"aevalsrc='{expressions}':s={sample_rate}:d={duration_s}"
    return ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "lavfi", "-i", source, str(path)]


def make_tone_audio(path: Path, channels: Sequence[Sequence[Span]], duration_s: float, timeout_s: float = 60.0) -> Path:
    """Write ``path`` (codec from its extension) with one channel per entry of ``channels``."""
    subprocess.run(tone_audio_args(path, channels, duration_s), check=True, timeout=timeout_s)
    return path


@dataclass(frozen=True)
class Callback:
    path: str
    headers: dict[str, str]
    payload: object
    received_at: float


@dataclass
class CallbackReceiver:
    """Records every POST under ``/`` as a ``Callback``; serves registered files at ``/files/<name>``."""

    status: int = 200
    callbacks: list[Callback] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    base_url: str = ""
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/files/{name}", self._serve)
        app.router.add_post("/{tail:.*}", self._record)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def file_url(self, name: str, path: Path) -> str:
        self.files[name] = path
        return f"{self.base_url}/files/{name}"

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        path = self.files.get(request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound()
        return web.FileResponse(path)

    async def _record(self, request: web.Request) -> web.Response:
        payload = await request.json()
        self.callbacks.append(Callback(request.path, dict(request.headers), payload, time.monotonic()))
        self._arrived.set()
        return web.Response(status=self.status)

    async def wait_for(self, done: Callable[[list[Callback]], bool], timeout_s: float = 10.0) -> list[Callback]:
        """Wait until ``done(callbacks)`` holds; raises TimeoutError with what did arrive otherwise."""
        try:
            async with asyncio.timeout(timeout_s):
                while not done(self.callbacks):
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            seen = [c.payload for c in self.callbacks]
            raise TimeoutError(f"callbacks after {timeout_s!r} s: {seen!r}") from None
        return list(self.callbacks)
