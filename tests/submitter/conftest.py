"""Submitter test configuration: the ``reliability`` marker (``make test-reliability`` selects it), and the Symbl
sandbox and slot completer the submission tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_sandbox.provider_jobs import JobTimings
from zoomsymbl_sandbox.symbl import SYMBL_STATE

from tests.submitter.support import SYMBL_ACCOUNT, Completer
from tests.support.providers import ProviderSandboxes, drain


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "reliability: multi-process reliability tests (full size with ZS_RELIABILITY_FULL=1)"
    )


@pytest.fixture
async def symbl(sandboxes: ProviderSandboxes) -> AsyncIterator[TestServer]:
    """A Symbl sandbox finishing jobs in 0.05 s, five at once; drained before it stops."""
    server = await sandboxes.symbl(timings=JobTimings(0.05, 0.05), max_concurrent_jobs=5)
    yield server
    await drain(server.app[SYMBL_STATE].board)


@pytest.fixture
async def completer(mongo: Mongo) -> AsyncIterator[Completer]:
    """Frees the Symbl account's limiter slots of finished jobs, as the notifier does."""
    c = Completer(mongo, SYMBL_ACCOUNT)
    await c.start()
    yield c
    await c.close()
