"""Page links out of aiohttp's protocol errors: a request it cannot parse is logged quoting its request line.

aiohttp answers a malformed request (a control character in the path, a request line past 8,190 bytes, a bad
header) with a 400 before any route runs, and logs the parser's error at ERROR; that error quotes the request
line or the URL, so ``/m/<token>`` would reach the log in the clear. The log redactor knows a token only once
the page has checked it, and ``scrub`` shortens URLs with a scheme, not a bare path: the page paths in these
errors are cut here, before any handler formats the record.
"""

from __future__ import annotations

import logging
import re
from typing import Final

from aiohttp.http_exceptions import HttpProcessingError
from zoomsymbl_common.logs import REDACTED

SERVER_LOGGER: Final = "aiohttp.server"
_PAGE_PATH = re.compile(r"(/m/)\S+")  # to the end of the path: a request line ends it with a space


def without_page_paths(text: str) -> str:
    """``text`` with every ``/m/…`` path (token, file name, query, up to the next space) cut to ``/m/[redacted]``."""
    return _PAGE_PATH.sub(lambda m: m[1] + REDACTED, text)


class PagePathFilter(logging.Filter):
    """Cuts page paths out of the protocol errors a record carries (the record itself always passes)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the parser errors in ``record``'s exception chain; True: the record is logged."""
        seen: set[int] = set()
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None and id(exc) not in seen:
            seen.add(id(exc))
            if isinstance(exc, HttpProcessingError) and "/m/" in exc.message:
                exc.message = without_page_paths(exc.message)
                exc.args = tuple(without_page_paths(a) if isinstance(a, str) else a for a in exc.args)
            exc = exc.__cause__ or exc.__context__
        return True


def install() -> None:
    """Put :class:`PagePathFilter` on aiohttp's server logger (once per process)."""
    logger = logging.getLogger(SERVER_LOGGER)
    if not any(isinstance(f, PagePathFilter) for f in logger.filters):
        logger.addFilter(PagePathFilter())
