"""Fixtures shared by the ingest tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.ingest.support import RecordingPublisher
from tests.ingest.test_handlers import Ingest, serve


@pytest.fixture
async def ingest() -> AsyncIterator[Ingest]:
    publisher = RecordingPublisher()
    running = await serve(publisher)
    running.kafka = publisher.events
    yield running
    await running.client.close()
