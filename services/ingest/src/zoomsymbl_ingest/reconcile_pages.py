"""What both reconciliations (meetings, Zoom Phone calls) do alike: page through a window's listing, store a flag."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any, Protocol, TypeVar

from pymongo.errors import DuplicateKeyError
from zoomsymbl_common.kafka import RetryPolicy
from zoomsymbl_common.mongo import Mongo, guarded
from zoomsymbl_common.records import CONVERSATIONS, ConversationMetadata
from zoomsymbl_common.zoom import ZoomApiError, call_with_retries

from zoomsymbl_ingest.backfill_users import MAX_LISTING_RESTARTS
from zoomsymbl_ingest.paging import PageWalk


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
