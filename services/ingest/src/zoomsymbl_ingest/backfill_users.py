"""The account's users a backfill walks: ``GET /users`` paged, by status, the tenant's allowlist applied.

With a Server-to-Server OAuth app, ``me`` is the app's owner only, so an account-wide backfill lists
every user (active and inactive: a deactivated host's recordings stay in the cloud; pending users have
none) and then each user's recordings. A ``next_page_token`` lives 15 minutes; an expired one makes the
listing start over, users already listed are not listed twice. An app without the
``user:read:list_users:admin`` scope falls back to ``me`` and says so (``users_error``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_common.zoom import MAX_PAGE_SIZE, UserPage, ZoomClient
from zoomsymbl_common.zoom_answers import InvalidPageError, ZoomApiError, ZoomAuthError

from zoomsymbl_ingest.intake import host_allowed
from zoomsymbl_ingest.metrics import ListingCut
from zoomsymbl_ingest.paging import MAX_USER_PAGES, PageWalk, listed_id

log = logging.getLogger("zoomsymbl.ingest.backfill")
T = TypeVar("T")
Retrying = Callable[[Callable[[], Awaitable[T]]], Awaitable[T]]
# A listing whose page tokens keep expiring (a stalled run) gives up after this many fresh starts.
MAX_LISTING_RESTARTS = 5
USER_STATUSES = ("active", "inactive")


class ListingRestartsExhaustedError(ZoomApiError):
    """A listing's ``next_page_token`` expired ``MAX_LISTING_RESTARTS`` times in a row."""


@dataclass(frozen=True)
class AccountUser:
    """One Zoom user whose recordings are listed (``id`` is what ``/users/{userId}/recordings`` takes)."""

    id: str
    email: str

    @property
    def label(self) -> str:
        """The key of this user in the report: the e-mail, else the id."""
        return self.email or self.id


@dataclass
class UserCounts:
    """What a backfill did for one user."""

    seen: int = 0
    new: int = 0
    skipped: int = 0
    failed: int = 0
    forgotten: int = 0
    """Of the skipped, the meetings erased with ``zoomsymbl forget``."""
    error: str | None = None
    """Why Zoom refused to list this user's recordings (e.g. deleted during the run); the others went on."""


@dataclass
class AccountUsers:
    """The users of the account to walk, and what listing them met."""

    users: list[AccountUser]
    not_allowed: int = 0
    restarts: int = 0
    error: str | None = None
    partial: bool = False
    """Zoom refused the listing after some users were read (those are walked, any others are not), or before any was,
    not for want of the scope (``me`` is walked)."""


async def account_users(
    client: ZoomClient,
    tenant: TenantConfig,
    retrying: Retrying[UserPage],
    *,
    statuses: tuple[str, ...] = USER_STATUSES,
    page_size: int = MAX_PAGE_SIZE,
    on_cut: Callable[[ListingCut], None] = lambda _: None,
) -> AccountUsers:
    """Every user of the account with one of ``statuses`` that the tenant's allowlist admits.

    A listing cut short (see paging.py) is told to ``on_cut``; the users read until then are walked.
    """
    found: dict[str, AccountUser] = {}
    result = AccountUsers(users=[])
    try:
        for status in statuses:
            walk = PageWalk(tenant.id, f"list users ({status})", MAX_USER_PAGES, on_cut)
            result.restarts += await _list_status(client, retrying, status, page_size, found, walk)
    except ZoomApiError as exc:
        if isinstance(exc, ListingRestartsExhaustedError | InvalidPageError | ZoomAuthError):
            # Not a refusal of the listing (no scope): falling back to "me" would hide a broken listing, or
            # credentials Zoom refuses (400 invalid_client) behind a run of one refused user.
            raise
        result.error = str(exc)
        if not found:  # no user:read scope (or no users at all): the app's own user, as before accounts
            log.warning("account users not listed, backfilling me only", extra={"tenant": tenant.id, "error": str(exc)})
            # Only the scope's refusal makes "me" the whole account; any other (a 404, another 400) is a listing
            # that failed: "me" is still walked, and the run is not ok.
            me = [AccountUser(id="me", email="")]
            return AccountUsers(users=me, error=str(exc), partial=not exc.scope_refused)
        result.partial = True
        log.warning("account users listed in part", extra={"tenant": tenant.id, "error": str(exc), "users": len(found)})
    for user in found.values():
        if host_allowed(tenant, user.id, user.email):
            result.users.append(user)
        else:
            result.not_allowed += 1
    return result


async def _list_status(
    client: ZoomClient,
    retrying: Retrying[UserPage],
    status: str,
    page_size: int,
    found: dict[str, AccountUser],
    walk: PageWalk,
) -> int:
    restarts = 0
    token = ""
    while True:
        try:
            page = await retrying(partial(client.list_users, status, token, page_size=page_size))
        except ZoomApiError as exc:
            if not exc.page_token_expired:
                raise
            restarts += 1
            if restarts > MAX_LISTING_RESTARTS:
                raise ListingRestartsExhaustedError(exc.status, "list users", exc.detail, exc.code) from None
            token = ""
            walk.restart()
            continue
        for entry in page.users:
            uid = listed_id(entry.get("id"))  # an id no UTF-8 holds names no URL: as a user without an id
            if uid:
                found.setdefault(uid, AccountUser(id=uid, email=listed_id(entry.get("email"))))
        token = walk.next_token(page.next_page_token)
        if not token:
            return restarts
