"""``POST /links/renew``: the button on an expired link's page; a new link e-mailed to whom the meeting's report goes.

The web service answers an expired but authentic page link with 403 and one form (:mod:`zoomsymbl_web.renewal`) that
posts the token here, form-encoded (field ``token``). This route checks it as the page does, ignoring only its expiry:
signed with the page key, of a configured tenant, expired no more than the tenant's ``page_link_renewal_days`` ago
(0: never). Then it makes a fresh link (the tenant's ``page_link_days``) and sends it as ``zoomsymbl link --send``
does (:class:`~zoomsymbl_notifier.link_mail.LinkMailer`): to the host within ``recipient_domains`` and the tenant's
extra recipients, never to whoever pressed the button; through the outbox, so the e-mail is recorded before the answer,
at most one a day per meeting, and one SMTP could not take now is sent by the sweeper.

Whoever holds the old link learns nothing more than the page told them: every checked request gets the same answer
("if the meeting is still in the archive, its host gets a new link"), whether the e-mail went, went earlier today,
waits in the outbox, or the meeting has no recipient, is not ready, was forgotten or is gone; the outcome is logged
and counted (``zoomsymbl_notifier_link_renewals``). A token still valid is sent back to its page (303). Tokens are
never logged: each is registered with the redactor as it is read.

A button pressed again and again (or a leaked old link posted in a loop) costs MongoDB one meeting read and one outbox
claim per request: after a request for a meeting was handled, the same meeting's requests for the next
:data:`QUIET_SECONDS` get the same answer from memory (outcome ``repeated``, counted, not logged), per process. Nothing
is lost by it: an e-mail SMTP could not take (``retry_later``) waits in the outbox for the sweeper, which a second
press would not hurry.
"""

from __future__ import annotations

import html
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final
from urllib.parse import parse_qs

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter
from zoomsymbl_common.bounded import collect
from zoomsymbl_common.errors import InfrastructureUnavailable
from zoomsymbl_common.mongo import Mongo, guarded
from zoomsymbl_common.page_headers import PAGE_HEADERS, PLAIN_CSP
from zoomsymbl_common.page_tokens import RENEW_PATH, PageClaim, page_url, read_page_token, renewable
from zoomsymbl_common.records import MEETINGS, MalformedRecord, Meeting
from zoomsymbl_common.tenants import Tenants

from zoomsymbl_notifier.link_command import Linker
from zoomsymbl_notifier.link_mail import RENEWAL_NOTE, LinkMailer
from zoomsymbl_notifier.settings import Settings

log = logging.getLogger("zoomsymbl.notifier.renewals")
MAX_FORM: Final = 8192
"""Largest form accepted: a token is at most 4,096 characters (the page's bound), URL-encoded at most ~1.5 times."""
ANSWERED: Final = (
    "If this meeting is still in the archive, a new link to its page is on its way to the meeting's host "
    "(at most one a day). Ask them for it."
)


QUIET_SECONDS: Final = 60.0
"""How long a meeting's handled request answers the same meeting's next ones from memory."""
RECENT_MAX: Final = 10_000
"""Most meetings remembered at once (per process); the oldest is forgotten first."""


class RecentRenewals:
    """The meetings whose new link was asked for within the last ``quiet`` seconds, at most ``size`` of them."""

    def __init__(self, quiet: float = QUIET_SECONDS, size: int = RECENT_MAX) -> None:
        self.quiet, self.size = quiet, size
        self._handled: OrderedDict[tuple[str, str], float] = OrderedDict()

    def recent(self, meeting: tuple[str, str], now: float) -> bool:
        """Whether ``meeting``'s last request was handled less than ``quiet`` seconds before ``now``."""
        handled = self._handled.get(meeting)
        if handled is not None and handled <= now < handled + self.quiet:
            return True
        self._handled.pop(meeting, None)
        return False

    def handled(self, meeting: tuple[str, str], now: float) -> None:
        """Remember that ``meeting``'s request was handled at ``now``."""
        self._handled[meeting] = now
        self._handled.move_to_end(meeting)
        while len(self._handled) > self.size:
            self._handled.popitem(last=False)


class RenewalMetrics:
    """Link renewals asked for, by outcome."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.asked = Counter(
            "zoomsymbl_notifier_link_renewals",
            "Requests for a new meeting-page link by outcome (sent, already_sent, retry_later, refused, ...).",
            ["outcome"],
            registry=registry,
        )


@dataclass(frozen=True)
class RenewalDeps:
    """What the route needs: the page key and address, tenants, MongoDB (meetings, outbox), metrics."""

    settings: Settings
    tenants: Tenants
    mongo: Mongo
    metrics: RenewalMetrics
    clock: Callable[[], float] = field(default=time.time)
    recent: RecentRenewals = field(default_factory=RecentRenewals)


RENEWAL_DEPS = web.AppKey("renewal_deps", RenewalDeps)


def add_renewal_routes(app: web.Application) -> None:
    """Register ``POST /links/renew`` (its dependencies go in ``app[RENEWAL_DEPS]``)."""
    app.router.add_post(RENEW_PATH, on_renew)


async def on_renew(request: web.Request) -> web.Response:
    """200 (asked: the same page whatever became of it), 303 (the link still opens its page), 403 (not a link this
    route renews), 400/413/415 (not the page's form), 404 (no page links here), 503 (MongoDB down: ask again)."""
    deps = request.app[RENEWAL_DEPS]
    settings = deps.settings
    if not settings.page_key.get_secret_value() or not settings.page_base_url:
        return _answer(deps, "no_pages", 404, "Not found", "This server makes no meeting-page links.")
    token = await _form_token(request)
    if isinstance(token, web.Response):
        return token
    now = deps.clock()
    claim = _claim(deps, token, now)
    if claim is None:
        return _answer(deps, "refused", 403, "Link not valid", "This link is not valid or too old to renew.")
    if now < claim.expires:
        deps.metrics.asked.labels("still_valid").inc()
        raise web.HTTPSeeOther(page_url(settings.page_base_url, token), headers=PAGE_HEADERS)
    meeting = (claim.tenant, claim.meeting_uuid)
    if deps.recent.recent(meeting, now):
        return _answer(deps, "repeated", 200, "New link asked for", ANSWERED)
    try:
        outcome = await _renew(deps, claim, now)
    except InfrastructureUnavailable as exc:
        log.warning("link renewal not handled, server unavailable", extra={"error": type(exc).__name__})
        response = _answer(deps, "unavailable", 503, "Try again shortly", "Press the button again in a minute.")
        response.headers["Retry-After"] = "30"
        return response
    deps.recent.handled(meeting, now)
    fields = {"tenant": claim.tenant, "meeting_uuid": claim.meeting_uuid, "outcome": outcome}
    log.info("new page link asked for", extra=fields)
    return _answer(deps, outcome, 200, "New link asked for", ANSWERED)


def _claim(deps: RenewalDeps, token: str, now: float) -> PageClaim | None:
    """The meeting of ``token`` when it is a page link of a configured tenant, valid or within its renewal days."""
    keys = deps.settings
    claim = read_page_token(keys.page_key, token, now=now, previous=keys.page_key_previous)
    tenant = deps.tenants.get(claim.tenant) if claim is not None else None
    if claim is None or tenant is None:
        return None
    if now < claim.expires or renewable(claim, tenant.page_link_renewal_days, now):
        return claim
    return None


async def _form_token(request: web.Request) -> str | web.Response:
    """The form's ``token``, or the answer to a request that is not the page's form."""
    deps = request.app[RENEWAL_DEPS]
    if request.content_type != "application/x-www-form-urlencoded":
        return _answer(deps, "malformed", 415, "Not the page's form", "Use the button on the link's page.")
    if (request.content_length or 0) > MAX_FORM:
        return _answer(deps, "malformed", 413, "Not the page's form", "Use the button on the link's page.")
    body = await collect(request.content.iter_chunked(4096), MAX_FORM)
    if body is None:
        return _answer(deps, "malformed", 413, "Not the page's form", "Use the button on the link's page.")
    try:
        fields = parse_qs(body.decode("ascii"), strict_parsing=True, max_num_fields=4)
    except ValueError:  # not ASCII (a token is), not a form, or more fields than the page's one
        fields = {}
    tokens = fields.get("token", [])
    if len(tokens) != 1:
        return _answer(deps, "malformed", 400, "Not the page's form", "Use the button on the link's page.")
    return tokens[0]


async def _renew(deps: RenewalDeps, claim: PageClaim, now: float) -> str:
    """Send the meeting's new link (the outbox's outcome), or why none was sent."""
    query = {"tenant": claim.tenant, "meeting_uuid": claim.meeting_uuid}
    document = await guarded(deps.mongo.db[MEETINGS].find_one(query))
    if document is None:
        return "not_found"
    try:
        meeting = Meeting.from_document(document)
    except MalformedRecord as exc:
        log.error("meeting document unreadable, no new link", extra={**query, "error": str(exc)[:300]})
        return "unreadable"
    mailer = LinkMailer(deps.mongo, deps.settings, datetime.fromtimestamp(now, UTC), note=RENEWAL_NOTE)
    made = await Linker(deps.mongo, deps.settings, deps.tenants, None, now, mailer).link(meeting)
    return "forgotten" if isinstance(made, str) else made.mailed or "not_sent"


def _answer(deps: RenewalDeps, outcome: str, status: int, title: str, text: str) -> web.Response:
    """A plain page (no script, style or form) with the meeting page's headers; the outcome counted."""
    deps.metrics.asked.labels(outcome).inc()
    title, text = html.escape(title), html.escape(text)
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">'
        f"<title>{title}</title></head><body><h1>{title}</h1><p>{text}</p></body></html>"
    )
    response = web.Response(status=status, text=body, content_type="text/html")
    response.headers.update({**PAGE_HEADERS, "Content-Security-Policy": PLAIN_CSP})
    return response
