"""Running ffmpeg: argument lists, a timeout, and the error types the consumer policy understands."""

from __future__ import annotations

import asyncio
import contextlib

from zoomsymbl_common.errors import PoisonInputError, RetryableError
from zoomsymbl_common.media_tools import refusal, tool_env


async def run_tool(args: list[str], timeout: float, *, stage: str = "split") -> str:
    """Run ``args`` (with a minimal environment) and return its stderr.

    A non-zero exit means the file cannot be processed (:class:`PoisonInputError`); a timeout or a
    missing binary may pass (:class:`RetryableError`). The process is killed on timeout or cancel.
    """
    try:
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=tool_env(),  # not the submitter's: no MongoDB URI or S3 secret for a tool reading foreign bytes
        )
    except OSError as exc:
        raise RetryableError(f"cannot start {args[0]!r}: {exc.strerror}") from exc
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        await _kill(proc)
        raise RetryableError(f"{args[0]} did not finish within {timeout!r} s") from None
    except asyncio.CancelledError:
        await _kill(proc)
        raise
    text = stderr.decode("utf-8", errors="replace")
    if proc.returncode != 0:
        lines = text.strip().splitlines()
        last = refusal(lines) or (lines[-1] if lines else "no output")
        raise PoisonInputError(f"{args[0]} failed with exit code {proc.returncode!r}: {last[:300]!r}", stage=stage)
    return text


async def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    await proc.wait()
