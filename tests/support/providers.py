"""The provider sandboxes and what tests feed them, one set for every test folder.

The fixtures here are registered for the whole tree by ``tests/conftest.py``: ``tone_audio`` (two
speakers on two channels), ``receiver`` (a loopback webhook receiver), ``session`` (an HTTP client
session) and ``sandboxes`` (Symbl, AssemblyAI and LLM sandboxes started on demand, closed after the
test). ``submit_request``, ``wait_completed`` and ``drain`` are what tests send to a provider and wait for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from zoomsymbl_common.events import ChannelAssignment
from zoomsymbl_common.providers.base import JobState, SpeechProvider, SubmitRequest
from zoomsymbl_sandbox.assemblyai import AssemblyAIConfig, build_assemblyai_app
from zoomsymbl_sandbox.llm import LLMConfig, build_llm_app
from zoomsymbl_sandbox.provider_jobs import JobBoard, JobTimings
from zoomsymbl_sandbox.provider_testkit import CallbackReceiver, make_tone_audio
from zoomsymbl_sandbox.symbl import SymblConfig, build_symbl_app

from tests.support.eventually import eventually

# Channel 1 (Elisa) speaks at 0.5-1.5 s, channel 2 (Bob) at 2.0-3.0 s, in 3.5 s of audio.
TWO_SPEAKERS = ([(0.5, 1.5)], [(2.0, 3.0)])
TWO_SPEAKERS_S = 3.5
FAST = JobTimings(0.1, 0.1)  # queued, then running: short enough for tests, long enough to be seen
CHANNELS = (
    ChannelAssignment(channel=1, participant_name="Elisa L", participant_email="elisa@example.com", file_ids=("f1",),
                      offset_seconds=0.0),
    ChannelAssignment(channel=2, participant_name="Bob K", file_ids=("f2",), offset_seconds=0.0),
)  # fmt: skip


@dataclass
class ProviderSandboxes:
    """Provider sandboxes (Symbl, AssemblyAI, LLM) on loopback ports, started on demand, closed after the test."""

    scratch: Path
    exits: AsyncExitStack

    async def symbl(self, **config: Any) -> TestServer:
        """A started Symbl sandbox; ``config`` overrides ``SymblConfig`` fields (``FAST`` timings by default)."""
        defaults: dict[str, Any] = {"storage_dir": self.scratch / "symbl", "timings": FAST}
        return await self._start(build_symbl_app(SymblConfig(**(defaults | config))))

    async def assemblyai(self, **config: Any) -> TestServer:
        """A started AssemblyAI sandbox; ``config`` overrides ``AssemblyAIConfig`` fields."""
        defaults: dict[str, Any] = {"storage_dir": self.scratch / "assemblyai", "timings": FAST}
        return await self._start(build_assemblyai_app(AssemblyAIConfig(**(defaults | config))))

    async def llm(self, **config: Any) -> TestServer:
        """A started OpenAI-compatible LLM sandbox (the insights engine's); ``config`` sets ``LLMConfig`` fields."""
        return await self._start(build_llm_app(LLMConfig(**config)))

    async def client(self, server: TestServer) -> TestClient[Any, Any]:
        """A test client on ``server`` (for tests of the sandbox's own HTTP contract)."""
        client: TestClient[Any, Any] = TestClient(server)
        await client.start_server()
        self.exits.push_async_callback(client.close)
        return client

    async def _start(self, app: web.Application) -> TestServer:
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        self.exits.push_async_callback(server.close)
        return server


def url(server: TestServer) -> str:
    """The base URL of ``server``, without a trailing slash (as tenants configure an API base)."""
    return str(server.make_url("")).rstrip("/")


@pytest.fixture(scope="session")
def tone_audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A FLAC file of ``TWO_SPEAKERS``: Elisa on channel 1 at 0.5-1.5 s, Bob on channel 2 at 2.0-3.0 s."""
    path = tmp_path_factory.mktemp("audio") / "meeting.flac"
    return make_tone_audio(path, TWO_SPEAKERS, duration_s=TWO_SPEAKERS_S)


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    """A loopback receiver of webhook posts (the sandboxes' callbacks) that can also serve files."""
    recv = CallbackReceiver()
    await recv.start()
    yield recv
    await recv.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


@pytest.fixture
async def sandboxes(tmp_path: Path) -> AsyncIterator[ProviderSandboxes]:
    async with AsyncExitStack() as exits:
        yield ProviderSandboxes(tmp_path, exits)


def submit_request(source: Path | bytes, webhook: str, /, **overrides: Any) -> SubmitRequest:
    """A request to transcribe ``source`` (a file, streamed; or bytes), shaped like ``tone_audio``: two named
    channels of FLAC, 3.5 s. ``overrides`` replace any ``SubmitRequest`` field."""
    size = source.stat().st_size if isinstance(source, Path) else len(source)

    async def chunks() -> AsyncIterator[bytes]:
        if isinstance(source, bytes):
            yield source
            return
        with source.open("rb") as handle:
            while chunk := handle.read(4096):
                yield chunk

    fields: dict[str, Any] = {
        "name": "Weekly sync",
        "language": "en-US",
        "audio_format": "flac",
        "channels": 2,
        "channel_map": CHANNELS,
        "diarization": False,
        "webhook_url": SecretStr(webhook),
        "size_bytes": size,
        "duration_seconds": TWO_SPEAKERS_S,
        "audio": chunks,
    }
    return SubmitRequest(**(fields | overrides))


async def wait_completed(provider: SpeechProvider, job_id: str, timeout: float = 20.0) -> JobState:
    """The job's state once the provider reports it completed."""

    async def state() -> JobState:
        return await provider.job_status(job_id)

    return await eventually(
        state, lambda s: s.status == "completed", timeout=timeout, what=f"job {job_id!r} to complete"
    )


async def drain(board: JobBoard[Any], timeout: float = 20.0) -> None:
    """Wait until every job of a sandbox's board finished: closing the sandbox earlier would cut ffmpeg runs
    short (the sandbox does not kill its tools on cancel, which leaves processes and pipes behind)."""

    async def unfinished() -> list[str]:
        return [job_id for job_id, job in board.jobs.items() if not job.finished]

    await eventually(unfinished, lambda jobs: not jobs, timeout=timeout, what="every sandbox job to finish")
