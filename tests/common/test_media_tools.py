"""Running ffmpeg and ffprobe: a broken file is poison, a hung or missing tool is retryable, no secrets leak."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from zoomsymbl_common.errors import PoisonInputError, RetryableError
from zoomsymbl_common.media_tools import ToolTimeout, ToolUnavailable, run_tool


async def test_a_file_ffmpeg_cannot_read_is_poison_once_checked(tmp_path: Path) -> None:
    broken = tmp_path / "broken.flac"
    broken.write_bytes(b"not audio at all")
    result = await run_tool(["ffmpeg", "-hide_banner", "-nostdin", "-i", str(broken), "-f", "null", "-"], timeout=30)
    assert result.returncode != 0 and result.tail
    with pytest.raises(PoisonInputError, match="ffmpeg failed with exit code") as caught:
        result.check(stage="split")
    assert caught.value.stage == "split"


async def test_a_tool_that_hangs_is_killed_and_retryable() -> None:
    with pytest.raises(ToolTimeout, match=r"did not finish within 0\.3 s") as caught:
        await run_tool([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.3)
    assert isinstance(caught.value, RetryableError)


async def test_a_missing_tool_is_retryable() -> None:
    with pytest.raises(ToolUnavailable, match="cannot start") as caught:
        await run_tool(["/nonexistent/ffmpeg"], timeout=5)
    assert isinstance(caught.value, RetryableError)


async def test_stderr_is_streamed_and_only_its_last_lines_are_kept() -> None:
    script = "import sys\nfor i in range(100): sys.stderr.write(f'line {i}\\n')\nprint('out')"
    seen: list[str] = []
    result = await run_tool([sys.executable, "-c", script], timeout=30, on_line=seen.append, capture_stdout=True)
    assert result.check(stage="test") is result
    assert len(seen) == 100 and result.tail == tuple(f"line {i}" for i in range(88, 100))
    assert result.stdout == "out\n"


async def test_the_tool_gets_a_minimal_environment_without_the_services_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ZOOMSYMBL_MONGO_URI", "mongodb://svc:mongo-pw-2@db/")
    monkeypatch.setenv("ZOOMSYMBL_SUBMITTER_CALLBACK_SECRET", "callback-secret-2")
    script = "import json, os; print(json.dumps(dict(os.environ)))"
    result = await run_tool([sys.executable, "-c", script], timeout=30, capture_stdout=True)
    env = json.loads(result.stdout)
    assert not [name for name in env if name.startswith("ZOOMSYMBL_")]
    assert set(env) <= {"PATH", "LC_ALL", "LC_CTYPE"}  # LC_CTYPE: the interpreter may set it for itself
