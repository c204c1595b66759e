"""The answer to an expired but authentic link: 403, and a form that asks the notifier to e-mail a new link.

Within the tenant's ``page_link_renewal_days`` after the link expired (:func:`zoomsymbl_common.page_tokens.renewable`)
the refusal page carries one button; it posts the token (a form field, never a query) to the notifier's
:data:`~zoomsymbl_common.page_tokens.RENEW_PATH`, which mails a fresh link to whom the meeting's report goes, never to
whoever pressed it. The web service itself writes nothing: it stays a reader of MongoDB and S3. The form posts to the
page's own origin (the chart's ingress routes ``/links/`` to the notifier), or to ``link_renewal_origin``; the
page's policy allows exactly that target and nothing else.
"""

from __future__ import annotations

from aiohttp import web
from zoomsymbl_common.page_headers import form_csp
from zoomsymbl_common.page_tokens import RENEW_PATH, PageClaim, renewable

from zoomsymbl_web.page_deps import PageDeps
from zoomsymbl_web.render import esc


def renewable_here(deps: PageDeps, claim: PageClaim, now: float) -> bool:
    """True when ``claim``'s (authentic, expired) token is within its tenant's ``page_link_renewal_days``."""
    tenant = deps.tenants.get(claim.tenant)
    return tenant is not None and renewable(claim, tenant.page_link_renewal_days, now)


def expired_page(token: str, action: str) -> str:
    """The page: the link has expired; one button posts ``token`` to ``action``."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">'
        "<title>Link expired</title></head><body><h1>Link expired</h1>"
        "<p>This link to the meeting page has expired.</p>"
        f'<form method="post" action="{esc(action)}"><input type="hidden" name="token" value="{esc(token)}">'
        '<button type="submit" id="renew">E-mail a new link to the meeting\'s host</button></form>'
        "<p>The new link goes to whom the meeting's report went (at most one a day); ask them for it.</p>"
        "</body></html>"
    )


def expired(deps: PageDeps, token: str) -> web.Response:
    """403 with the renewal form, and the policy that lets the form post where it does."""
    origin = deps.settings.link_renewal_origin
    response = web.Response(status=403, text=expired_page(token, origin + RENEW_PATH), content_type="text/html")
    response.headers["Content-Security-Policy"] = form_csp(origin or "'self'")
    return response
