"""SANDBOX: runs the media tools (ffmpeg, ffprobe, espeak-ng) with an argument list and a timeout."""

from __future__ import annotations

import asyncio
import contextlib


class SandboxToolError(RuntimeError):
    """A media tool failed or ran past its timeout while the sandbox generated recordings."""

    def __init__(self, args: list[str], reason: str) -> None:
        super().__init__(f"{args[0]!r} failed: {reason}")
        self.args_list = args
        self.reason = reason


async def run_tool(args: list[str], *, timeout: float) -> bytes:
    """Run `args`, return its stdout; raise `SandboxToolError` on a non-zero exit or a timeout."""
    process = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with asyncio.timeout(timeout):
            stdout, stderr = await process.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise SandboxToolError(args, f"no result after {timeout:.0f} s") from None
    if process.returncode != 0:
        tail = stderr.decode(errors="replace").strip()[-800:]
        raise SandboxToolError(args, f"exit {process.returncode}: {tail}")
    return stdout
