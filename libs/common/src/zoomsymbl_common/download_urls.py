"""Download URLs without the tokens some of them carry in their query string.

Zoom's download URLs are fetched with the token in an ``Authorization`` header. Some carry one in the query
as well (``?access_token=…``, the form Zoom documented for downloads before Bearer headers; integrations that
replay or re-publish Zoom's payloads still produce it). Such a token must not travel further than the place
it came in at: every event's ``download_url`` passes through :func:`without_token_params`, so a token in a
URL never reaches Kafka, MongoDB or a log line, and the mixer never sends it anywhere (nor to a redirect's
host). A fragment never reaches a server and is dropped with them.
"""

from __future__ import annotations

from typing import Final

from yarl import URL

TOKEN_PARAMS: Final = frozenset({"access_token", "token", "download_token"})


def without_token_params(url: str) -> str:
    """``url`` without its token query parameters and fragment; the same string when it has neither."""
    if "?" not in url and "#" not in url:
        return url
    parsed = URL(url, encoded=True)
    if "#" not in url and not any(name.lower() in TOKEN_PARAMS for name in parsed.query):
        return url
    kept = [(name, value) for name, value in parsed.query.items() if name.lower() not in TOKEN_PARAMS]
    return str(parsed.with_fragment(None).with_query(kept))
