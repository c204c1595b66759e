"""What both reconciliations (meetings, Zoom Phone calls) do alike: page through a window's listing, store a flag."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol, TypeVar

from pymongo.errors import DuplicateKeyError
from zoomsymbl_common.kafka import RetryPolicy
from zoomsymbl_common.mongo import Mongo, guarded
from zoomsymbl_common.records import CONVERSATIONS, ConversationMetadata
from zoomsymbl_common.zoom_answers import ZoomApiError
from zoomsymbl_common.zoom_retries import call_with_retries

from zoomsymbl_ingest.backfill_users import MAX_LISTING_RESTARTS
from zoomsymbl_ingest.paging import PageWalk

RECORDING_SETTLE = timedelta(hours=6)
"""How long after a meeting or call ends its recording may still be on its way: Zoom processes a cloud recording
before ``recording.completed`` is sent (commonly quoted as up to about twice the meeting's length, longer at peak
times: a judgement, not a bound Zoom publishes) and retries an unanswered webhook. A recorded meeting or call that
ended more recently is not judged yet (``pending``)."""


def settling(start: datetime | None, end: datetime | None, now: datetime) -> bool:
    """True when a recorded meeting or call that ended at ``end`` (else started at ``start``) may still be
    processing at Zoom or its webhook on its way: too recent to call "never received"."""
    last = end or start
    return last is not None and last > now - RECORDING_SETTLE


class Paged(Protocol):
    """A page of a Zoom listing: its entries, and the next page's token ("" on the last)."""

    @property
    def next_page_token(self) -> str: ...


P = TypeVar("P", bound=Paged)


async def listed_pages(
    fetch: Callable[[str], Awaitable[P]],
    on_restart: Callable[[], None],
    walk: PageWalk,
    *,
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[Any]],
) -> AsyncIterator[P]:
    """Every page of one window's listing (``fetch(page_token)``), within the retry policy.

    A token lives 15 minutes and a wait for the daily reset outlives it: an expired token lists the window
    again from the start (at most ``MAX_LISTING_RESTARTS`` times, each told to ``on_restart``); callers skip
    what they saw. Any other refusal is the caller's :class:`ZoomApiError`. ``walk`` ends the listing early
    at a repeated page token or its page cap (paging.py), and says so.
    """
    token, restarts = "", 0
    while True:
        try:
            page = await call_with_retries(partial(fetch, token), policy=policy, sleep=sleep)
        except ZoomApiError as exc:
            if not (token and exc.page_token_expired) or restarts >= MAX_LISTING_RESTARTS:
                raise
            token, restarts = "", restarts + 1
            walk.restart()
            on_restart()
            continue
        yield page
        token = walk.next_token(page.next_page_token)
        if not token:
            return


async def insert_flag(mongo: Mongo, record: ConversationMetadata) -> bool:
    """Store a reconciliation record; False when another run flagged it between the lookup and the insert."""
    try:
        await guarded(mongo.db[CONVERSATIONS].insert_one(record.to_document()))
    except DuplicateKeyError:
        return False
    return True
