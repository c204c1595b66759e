"""The response headers of every meeting-page answer: no caching, no referrer, no indexing, a strict CSP (the
shared ones are :mod:`zoomsymbl_common.page_headers`'). Pure."""

from __future__ import annotations

from urllib.parse import urlsplit

from zoomsymbl_common.settings import InfraSettings


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
