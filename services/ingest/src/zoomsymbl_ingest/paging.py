"""Where a Zoom listing stops: the last page, a page token seen before, or a cap on pages.

Zoom ends a listing with an empty ``next_page_token``. An answer that never does (a token repeated, a
cycle of tokens, a fresh token forever: a Zoom fault, a proxy replaying a page) would otherwise list
forever and spend the account's shared API quota. A token seen before stops the listing at once; the cap
stops everything else.

The caps are far above real accounts, so they only ever stop a fault. At 300 entries a page (the most
Zoom serves):

* ``GET /users``: 1,000 pages are 300,000 users of one status, three times the largest accounts we
  plan for (100,000 users are 334 pages).
* ``GET /users/{id}/recordings``: 1,000 pages are 300,000 recordings by one user in one month
  (10,000 a day, where a busy host records tens).
* Account-wide monthly listings (``/phone/recordings``, ``/phone/call_history``, ``/metrics/meetings``):
  10,000 pages are 3,000,000 entries a month, a contact centre of 5,000 agents recording
  20 calls a day.

A runaway listing therefore costs at most 1,000 (or 10,000) calls per listing attempt, after which the
run goes on with what it read; an expired token's fresh start counts afresh (at most
``MAX_LISTING_RESTARTS`` of them).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from zoomsymbl_common.zoom_answers import JsonObject

from zoomsymbl_ingest.metrics import ListingCut

log = logging.getLogger("zoomsymbl.ingest.paging")

MAX_USER_PAGES = 1_000
"""Pages of one user's listing, or of the account's users (300,000 entries)."""
MAX_ACCOUNT_PAGES = 10_000
"""Pages of one month of an account-wide listing (3,000,000 entries)."""


def entry_key(entry: JsonObject) -> str:
    """The key of a listed entry without an id of its own: a digest of its content. A listing restarted after an
    expired page token counts it once; two different entries without an id stay two (never one failure for all)."""
    text = json.dumps(entry, sort_keys=True, default=str)  # ASCII: a lone surrogate from the JSON encodes too
    return "entry:" + hashlib.sha256(text.encode("ascii")).hexdigest()


def listed_id(value: object) -> str:
    """The id of a listed entry (a UUID, a user, call or recording id): a non-empty string UTF-8 can hold, else "".

    Zoom's answers are read by Python's JSON parser, which accepts an escaped lone surrogate (``"m\\ud800=="``) and
    hands it on as a code point no UTF-8 holds: as a MongoDB look-up's value or a URL path segment it raised
    ``UnicodeEncodeError`` and ended the whole run (the periodic round's task with it). Such an entry names nothing we
    can look up, store or ask Zoom about: it is counted as an entry without an id."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return ""
    return value


def _ignore(_: ListingCut) -> None:
    return None


@dataclass
class PageWalk:
    """The pages of one listing so far, and whether it was cut short (``cut``) and why."""

    tenant: str
    what: str
    max_pages: int
    on_cut: Callable[[ListingCut], None] = _ignore
    pages: int = 0
    cut: ListingCut | None = None
    _tokens: set[str] = field(default_factory=set)

    def next_token(self, token: str) -> str:
        """After a page whose ``next_page_token`` is ``token``: the token to ask for next, "" to stop here."""
        self.pages += 1
        if not token:
            return ""
        if token in self._tokens:
            self.cut = "repeated_token"
        elif self.pages >= self.max_pages:
            self.cut = "page_cap"
        else:
            self._tokens.add(token)
            return token
        log.warning(
            "zoom listing cut short",
            extra={"tenant": self.tenant, "listing": self.what, "reason": self.cut, "pages": self.pages},
        )
        self.on_cut(self.cut)
        return ""

    def restart(self) -> None:
        """The listing starts over (its page token expired): new tokens, and the cap counts afresh."""
        self.pages = 0
        self._tokens.clear()
