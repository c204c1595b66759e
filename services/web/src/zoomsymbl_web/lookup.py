"""The meeting a page token opens, or the plain answer that replaces the page (refused, not found, not ready, ...).

An altered or expired token (or one for a tenant no longer configured) gets the same plain 403 page, with
no detail; the page of a link that expired within its tenant's ``page_link_renewal_days`` adds a button that asks
for a new one (:mod:`zoomsymbl_web.renewal`). A valid token is handed to the log redactor until it expires, before
anything is logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web
from zoomsymbl_common.errors import InfrastructureUnavailable
from zoomsymbl_common.page_tokens import PageClaim, read_page_token
from zoomsymbl_common.records import MalformedRecord

from zoomsymbl_web import render
from zoomsymbl_web.meeting import MeetingPages, MeetingView, NotReady, Playable
from zoomsymbl_web.page_deps import PAGE_DEPS, PageDeps
from zoomsymbl_web.renewal import expired, renewable_here

log = logging.getLogger("zoomsymbl.web.routes")
T = TypeVar("T", MeetingView, Playable)


def _authentic(deps: PageDeps, token: str, now: float) -> PageClaim | None:
    """What an authentic token of a configured tenant names, whatever its expiry."""
    keys = deps.settings
    claim = read_page_token(keys.page_key, token, now=now, previous=keys.page_key_previous)
    return claim if claim is not None and deps.tenants.get(claim.tenant) is not None else None


def plain(status: int, title: str, text: str) -> web.Response:
    """Every answer that is not the meeting page: no script or media, so the strict ``PLAIN_CSP`` holds for it."""
    return web.Response(status=status, text=render.plain_page(title, text), content_type="text/html")


def unavailable() -> web.Response:
    """MongoDB or S3 did not answer: try again shortly (503, ``Retry-After``)."""
    text = "The archive cannot be reached right now. Reload this page in a minute."
    response = plain(503, "Try again shortly", text)
    response.headers["Retry-After"] = "30"
    return response


def forbidden() -> web.Response:
    """The one answer to every refused token: no hint of why."""
    return plain(403, "Link not valid", "This link is not valid or has expired. Ask the meeting's host for a new one.")


async def lookup(request: web.Request, kind: str) -> tuple[PageDeps, MeetingView | web.Response]:
    """The page of the request's token, or the answer that replaces it (refused, not found, not ready, ...)."""
    return await read_claimed(request, kind, lambda pages, tenant, meeting_uuid: pages.lookup(tenant, meeting_uuid))


async def read_claimed(
    request: web.Request, kind: str, read: Callable[[MeetingPages, str, str], Awaitable[T | NotReady | None]]
) -> tuple[PageDeps, T | web.Response]:
    """What ``read`` finds of the meeting the request's token opens, or the answer that replaces it; each
    outcome counted under ``kind``."""
    deps = request.app[PAGE_DEPS]
    token, now = request.match_info["token"], time.time()
    claim = _authentic(deps, token, now)
    if claim is None or now >= claim.expires:
        if kind == "page" and claim is not None and renewable_here(deps, claim, now):
            deps.metrics.pages.labels(kind, "expired").inc()
            return deps, expired(deps, token)
        deps.metrics.pages.labels(kind, "forbidden").inc()
        return deps, forbidden()
    try:
        found = await read(deps.pages, claim.tenant, claim.meeting_uuid)
    except InfrastructureUnavailable as exc:
        deps.metrics.pages.labels(kind, "unavailable").inc()
        log.warning("meeting not read, server unavailable", extra={"error": type(exc).__name__})
        return deps, unavailable()
    except MalformedRecord as exc:
        deps.metrics.pages.labels(kind, "unreadable").inc()
        log.error("meeting documents unreadable", extra={"error": str(exc)[:300]})
        text = "This meeting's records cannot be read. Tell your administrator."
        return deps, plain(500, "Meeting unreadable", text)
    if found is None:
        deps.metrics.pages.labels(kind, "not_found").inc()
        return deps, plain(404, "Meeting not found", "This meeting is not (or no longer) in the archive.")
    if isinstance(found, NotReady):
        deps.metrics.pages.labels(kind, "not_ready").inc()
        if found.failed:
            failed = render.failed_page(found.topic or "Zoom meeting", found.where, found.reason)
            return deps, web.Response(text=failed, content_type="text/html")
        text = "This meeting is still being processed; reload this page in a few minutes."
        return deps, plain(200, found.topic or "Zoom meeting", text)
    return deps, found
