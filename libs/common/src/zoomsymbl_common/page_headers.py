"""The response headers of every answer about a meeting page, whichever service gives it: the web service's page and
its refusals, the notifier's answer to a link renewal (:data:`~zoomsymbl_common.page_tokens.RENEW_PATH`). Pure."""

from __future__ import annotations

PLAIN_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
"""The policy of every answer without script, media or form (errors, status pages, downloads)."""

PAGE_HEADERS = {
    "Cache-Control": "private, no-store, max-age=0",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    # The link is the only key to the meeting: one that leaks (pasted into a public page, a shared document) must not
    # put the meeting's topic, summary and transcript into a search engine's index and cache until it expires.
    "X-Robots-Tag": "noindex, nofollow, noarchive",
}
"""Sent with every answer under ``/m/``: a page (or a download) names one meeting, must not linger nor be indexed."""


def form_csp(action_origin: str) -> str:
    """:data:`PLAIN_CSP` for a page whose one form posts to ``action_origin`` (``'self'``, or an origin)."""
    return PLAIN_CSP.replace("form-action 'none'", f"form-action {action_origin}")
