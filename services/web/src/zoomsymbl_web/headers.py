"""The response headers of every meeting-page answer: no caching, no referrer, no indexing, a strict CSP. Pure."""

from __future__ import annotations

from urllib.parse import urlsplit

from zoomsymbl_common.settings import InfraSettings

PLAIN_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
"""The policy of every answer without script or media (errors, status pages, downloads)."""

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


def media_origin(infra: InfraSettings, public_url: str = "") -> str:
    """The origin the browser fetches the presigned audio from (``public_url``, else the S3 endpoint)."""
    if public_url:
        parts = urlsplit(public_url)
        return f"{parts.scheme}://{parts.netloc}"
    return f"{'https' if infra.s3_secure else 'http'}://{infra.s3_endpoint}"


def page_csp(nonce: str, media: str) -> str:
    """The meeting page's policy: only the nonce'd style and script, audio only from ``media``."""
    return (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; media-src {media}; "
        "img-src 'none'; connect-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
