"""Running ffmpeg: a broken file is poison, a hung tool is retryable and killed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from zoomsymbl_common.errors import PoisonInputError, RetryableError
from zoomsymbl_submitter.tools import run_tool


async def test_a_file_ffmpeg_cannot_read_is_poison(tmp_path: Path) -> None:
    broken = tmp_path / "broken.flac"
    broken.write_bytes(b"not audio at all")
    with pytest.raises(PoisonInputError, match="ffmpeg failed with exit code") as caught:
        await run_tool(["ffmpeg", "-hide_banner", "-nostdin", "-i", str(broken), "-f", "null", "-"], 30)
    assert caught.value.stage == "split"


async def test_a_tool_that_hangs_is_stopped_and_retryable() -> None:
    with pytest.raises(RetryableError, match=r"did not finish within 0\.3 s"):
        await run_tool([sys.executable, "-c", "import time; time.sleep(30)"], 0.3)


async def test_a_missing_tool_is_retryable() -> None:
    with pytest.raises(RetryableError, match="cannot start"):
        await run_tool(["/nonexistent/ffmpeg"], 5)


async def test_the_tool_output_is_returned() -> None:
    out = await run_tool([sys.executable, "-c", "import sys; sys.stderr.write('silence_start: 1')"], 30)
    assert out == "silence_start: 1"


async def test_the_tool_gets_a_minimal_environment_without_the_services_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ZOOMSYMBL_MONGO_URI", "mongodb://svc:mongo-pw-2@db/")
    monkeypatch.setenv("ZOOMSYMBL_SUBMITTER_CALLBACK_SECRET", "callback-secret-2")
    out = await run_tool(
        [sys.executable, "-c", "import json, os, sys; sys.stderr.write(json.dumps(dict(os.environ)))"], 30
    )
    env = json.loads(out)
    assert not [name for name in env if name.startswith("ZOOMSYMBL_")]
    assert set(env) <= {"PATH", "LC_ALL", "LC_CTYPE"}  # LC_CTYPE: the interpreter may set it for itself
