"""What ffmpeg and ffprobe may open, and the environment they run in.

Their inputs are bytes someone else chose (a Zoom download, an object an event names). Left to
itself ffmpeg takes whatever container the bytes claim to be: an HLS or DASH manifest or an
``ffconcat`` list that points at ``file:`` paths (or, with a laxer build, URLs) makes it read files
and hosts nobody asked for. So every input is opened with the ``file`` protocol only and one of
the audio demuxers below (``-format_whitelist``, an input option of Debian's ffmpeg 5.1), and the
tools run with a minimal environment: the service's own (MongoDB URI, S3 secret key) is not
theirs to read or to leak into a crash report.

:func:`run_tool` is the one way every service runs them: an argument list, never a shell; a
timeout after which the process is killed (:class:`ToolTimeout`, retryable); stderr streamed line by
line with only its last lines kept; :meth:`ToolResult.check` turns a failed run into poison input.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from zoomsymbl_common.errors import PoisonInputError, RetryableError

DOWNLOADED_AUDIO: Final = ("mov", "mp3", "aac", "wav", "flac", "ogg", "matroska")
"""Demuxers of what Zoom delivers (M4A/MP4 are ``mov``; MP3; WAV; AAC; OGG/Opus; WebM is ``matroska``)."""
MIXED_AUDIO: Final = ("flac", "wav", "ogg", "mov")
"""Demuxers of what the mixer writes (FLAC, RF64-capable WAV, Opus in Ogg; M4A passed through)."""
_REFUSED_FORMAT: Final = re.compile(r"\[(\w+) @ 0x[0-9a-f]+\] Format not on whitelist")


def input_guard(demuxers: Sequence[str], *, pipe: bool = False) -> list[str]:
    """Options to put before an ``-i`` (or anywhere in ffprobe): local files only, these demuxers only."""
    return ["-protocol_whitelist", "file,pipe" if pipe else "file", "-format_whitelist", ",".join(demuxers)]


def tool_env() -> dict[str, str]:
    """The whole environment of an ffmpeg/ffprobe process: where the binaries are, and a plain locale."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}


def refusal(lines: Iterable[str]) -> str | None:
    """What the guard refused, from a tool's stderr lines (a manifest or playlist is not audio), else None."""
    for line in lines:
        if (found := _REFUSED_FORMAT.search(line)) is not None:
            return f"its bytes are {found[1]!r}, not an audio container (refused)"
    return None


class ToolTimeout(RetryableError):
    """ffmpeg or ffprobe ran past its timeout (machine overloaded) and was killed; try again later."""

    def __init__(self, tool: str, seconds: float) -> None:
        super().__init__(f"{tool} did not finish within {seconds:g} s")
        self.tool = tool


class ToolUnavailable(RetryableError):
    """The tool could not be started (missing binary, no memory); another replica or a later try may."""

    def __init__(self, tool: str, detail: str) -> None:
        super().__init__(f"cannot start {tool!r}: {detail}")
        self.tool = tool


@dataclass(frozen=True)
class ToolResult:
    """How a tool ended: its exit status, the last lines of its stderr, and its stdout when captured."""

    tool: str
    returncode: int
    tail: tuple[str, ...]
    stdout: str = ""

    def check(self, *, stage: str) -> ToolResult:
        """This result when the tool succeeded; else :class:`PoisonInputError` (the input cannot be processed)."""
        if self.returncode != 0:
            last = refusal(self.tail) or (self.tail[-1] if self.tail else "no output")
            raise PoisonInputError(
                f"{self.tool} failed with exit code {self.returncode!r}: {last[:300]!r}", stage=stage
            )
        return self


async def run_tool(
    args: Sequence[str],
    *,
    timeout: float,
    on_line: Callable[[str], None] | None = None,
    capture_stdout: bool = False,
    tail_lines: int = 12,
) -> ToolResult:
    """Run ``args`` (no shell, :func:`tool_env`), streaming stderr lines to ``on_line``; killed after ``timeout`` s.

    Raises :class:`ToolTimeout` or :class:`ToolUnavailable` (both retryable); a non-zero exit is
    returned, for the caller to judge (:meth:`ToolResult.check`). Cancelling kills the process too.
    """
    tool = Path(args[0]).name
    try:
        process = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if capture_stdout else asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=tool_env(),
        )
    except OSError as exc:
        raise ToolUnavailable(args[0], exc.strerror or type(exc).__name__) from exc
    tail: deque[str] = deque(maxlen=tail_lines)
    try:
        async with asyncio.timeout(timeout):
            _, out, code = await asyncio.gather(
                _read_lines(process.stderr, on_line, tail), _read_all(process.stdout), process.wait()
            )
    except TimeoutError:
        raise ToolTimeout(tool, timeout) from None
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    return ToolResult(tool, code, tuple(tail), out.decode("utf-8", errors="replace"))


async def _read_lines(
    stream: asyncio.StreamReader | None, on_line: Callable[[str], None] | None, tail: deque[str]
) -> None:
    """Hand each stderr line to ``on_line``; keep the last lines that are not analysis output for errors."""
    if stream is None:
        return
    async for raw in stream:
        line = raw.decode("utf-8", errors="replace").rstrip()
        if on_line is not None:
            on_line(line)
        if line and "silencedetect" not in line:
            tail.append(line)


async def _read_all(stream: asyncio.StreamReader | None) -> bytes:
    return await stream.read() if stream is not None else b""
