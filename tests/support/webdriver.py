"""A small W3C WebDriver client for Debian's chromium + chromium-driver (the meeting page's browser test).

chromedriver is started by PID on a free loopback port and spoken to over HTTP (the W3C WebDriver
protocol: https://www.w3.org/TR/webdriver2/), so the test needs no driver package from PyPI and no
download at run time. Chromium runs headless, without sandbox (root in CI containers), with the
browser's console log collected (``goog:loggingPrefs``) so a test can assert there were no errors.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.eventually import eventually

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C element reference key
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = ("/usr/bin/chromedriver",)


def browser_paths() -> tuple[str, str] | None:
    """(chromium, chromedriver) when both are installed (Debian's ``chromium`` and ``chromium-driver``)."""
    browser = next((p for p in CHROMIUM if Path(p).exists()), None) or shutil.which("chromium")
    driver = next((p for p in DRIVER if Path(p).exists()), None) or shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


class WebDriverError(RuntimeError):
    """The driver answered an error (its ``error`` and ``message``)."""


@dataclass
class Browser:
    """One WebDriver session."""

    http: aiohttp.ClientSession
    base: str

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One WebDriver command; its ``value``."""
        async with self.http.request(method, f"{self.base}{path}", json=body) as response:
            data = await response.json(content_type=None)
        value = data.get("value") if isinstance(data, dict) else None
        if response.status >= 400:
            detail = value if isinstance(value, dict) else {}
            raise WebDriverError(f"{detail.get('error')}: {str(detail.get('message'))[:300]}")
        return value

    async def go(self, url: str) -> None:
        """Navigate and wait for the load event (WebDriver's default page-load strategy)."""
        await self.call("POST", "/url", {"url": url})

    async def run(self, script: str, *args: Any) -> Any:
        """The result of ``script`` (a function body) run in the page with ``args``."""
        return await self.call("POST", "/execute/sync", {"script": script, "args": list(args)})

    async def find_all(self, css: str) -> list[str]:
        """Element references of every match of ``css``."""
        found = await self.call("POST", "/elements", {"using": "css selector", "value": css})
        return [e[ELEMENT] for e in found]

    async def click(self, element: str) -> None:
        """Click ``element`` as a user would (scrolled into view first)."""
        await self.call("POST", f"/element/{element}/click", {})

    async def type_into(self, element: str, text: str) -> None:
        """Type ``text`` into ``element``."""
        await self.call("POST", f"/element/{element}/value", {"text": text})

    async def console(self) -> list[dict[str, Any]]:
        """The browser console entries since the last call (chromedriver's log endpoint)."""
        entries = await self.call("POST", "/se/log", {"type": "browser"})
        return list(entries or [])

    async def screenshot(self, path: Path) -> None:
        """Save the viewport as PNG."""
        data = await self.call("GET", "/screenshot")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))


async def search_highlights(browser: Browser, text: str, what: str) -> list[str]:
    """Type ``text`` into the meeting page's search box; the highlighted matches, once there are any."""
    [search] = await browser.find_all("#search")
    await browser.type_into(search, text)
    marks: list[str] = await eventually(
        lambda: browser.run("return Array.from(document.querySelectorAll('#lines mark'), m => m.textContent)"),
        bool,
        timeout=10,
        what=what,
    )
    return marks


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def chromium(log: Path) -> AsyncIterator[Browser]:
    """chromedriver + headless Chromium for the body's duration (stopped by PID afterwards)."""
    paths = browser_paths()
    if paths is None:
        raise RuntimeError("chromium and chromium-driver are not installed (make system-deps)")
    binary, driver = paths
    port = _free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: ASYNC220 - started once, stopped by PID below
            [driver, f"--port={port}", "--allowed-ips=127.0.0.1"], stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            await _wait_up(http, base)
            capabilities = {
                "browserName": "chrome",
                "goog:loggingPrefs": {"browser": "ALL"},
                "goog:chromeOptions": {
                    "binary": binary,
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1600",
                             "--autoplay-policy=no-user-gesture-required", "--mute-audio"],
                },
            }  # fmt: skip
            async with http.post(f"{base}/session", json={"capabilities": {"alwaysMatch": capabilities}}) as r:
                created = await r.json(content_type=None)
            if r.status >= 400:
                raise WebDriverError(str(created)[:500])
            session = created["value"]["sessionId"]
            browser = Browser(http, f"{base}/session/{session}")
            try:
                yield browser
            finally:
                with contextlib.suppress(aiohttp.ClientError, WebDriverError):
                    await http.delete(f"{base}/session/{session}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


async def _wait_up(http: aiohttp.ClientSession, base: str, limit: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        try:
            async with http.get(f"{base}/status") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        if loop.time() > deadline:
            raise RuntimeError(f"chromedriver did not answer at {base} within {limit} s")
        await asyncio.sleep(0.2)
