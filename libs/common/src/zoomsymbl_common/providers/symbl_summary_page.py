"""Which summary page URL Symbl's answer may put in an e-mail: a link that goes where it reads, on Symbl's domain.

The URL comes from ``POST /v1/conversations/{conversationId}/experiences`` (:mod:`zoomsymbl_common.providers.symbl`)
and is e-mailed as a link, so a hostile or broken answer must not turn it into a link elsewhere.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

MAX_SUMMARY_URL = 2_048
"""Most characters of the summary page's URL: it is e-mailed as a link, and a real one is ~100."""


SUMMARY_PAGE_DOMAIN = "symbl.ai"
"""Symbl's summary pages are on this domain (``https://meetinginsights.symbl.ai/meeting/#/…``)."""


def summary_page_url(value: object, schemes: tuple[str, ...] = ("https",), hosts: tuple[str, ...] = ()) -> str | None:
    """``value`` if it can be e-mailed as a link: a URL of one of ``schemes`` with a host, at most
    :data:`MAX_SUMMARY_URL` characters, no whitespace and no control or format character (which could end
    the link early or disguise it), and a host that reads as written: ASCII only (a Unicode host imitates
    another: ``symbl.\u0430i``), no user part (``https://meetinginsights.symbl.ai@evil.example/`` goes to
    ``evil.example``), no backslash (read as ``/`` by browsers); anything else is no summary page.

    The host must be :data:`SUMMARY_PAGE_DOMAIN` or under it, or one of ``hosts`` (the configured API's own
    host, for a Symbl-compatible server): an answer cannot send the host to a page of its choosing."""
    if not isinstance(value, str) or not value or len(value) > MAX_SUMMARY_URL:
        return None
    if not value.isascii() or "\\" in value:
        return None
    if any(c.isspace() or unicodedata.category(c).startswith("C") for c in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None
    written_out = value[: len(parts.scheme) + 3].lower() == f"{parts.scheme}://"  # not "https:host/…"
    if parts.scheme not in schemes or not written_out or not parts.hostname or "@" in parts.netloc:
        return None
    host = parts.hostname.rstrip(".")
    ours = host == SUMMARY_PAGE_DOMAIN or host.endswith(f".{SUMMARY_PAGE_DOMAIN}") or host in hosts
    return value if ours else None
