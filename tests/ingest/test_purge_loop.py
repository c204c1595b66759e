"""Ingest's purge of expired documents (TTL emulation for every service) goes on after a round that failed oddly.

Before, any error but ``MongoUnavailable`` (a delete MongoDB refuses: an ``OperationFailure``) ended the loop for the
life of the process: receipts, download tokens, claims and attempt counts piled up on servers without TTL indexes.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from pymongo.errors import OperationFailure
from zoomsymbl_common.errors import MongoUnavailable
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_ingest import app


async def test_a_refused_purge_round_is_logged_and_the_next_one_runs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    outcomes: list[BaseException | int] = [OperationFailure("refused", code=2), MongoUnavailable("down"), 3]
    rounds = asyncio.Event()

    async def purge(_: Mongo) -> int:
        outcome = outcomes.pop(0)
        if not outcomes:
            rounds.set()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    monkeypatch.setattr(app, "purge_expired", purge)
    monkeypatch.setattr(app, "PURGE_INTERVAL_SECONDS", 0.0)
    caplog.set_level(logging.INFO, logger="zoomsymbl.ingest")
    loop = asyncio.create_task(app._purge_expired_forever(None))  # type: ignore[arg-type]
    try:
        async with asyncio.timeout(10):
            await rounds.wait()
        assert not loop.done(), "the loop lives on"
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
    messages = [r.getMessage() for r in caplog.records]
    assert "expired documents not purged: unexpected failure, tried again next round" in messages
    assert "expired documents not purged" in messages
    assert "expired documents purged" in messages
