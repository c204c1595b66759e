"""Secret paths out of aiohttp's protocol errors: a request it cannot parse is logged quoting its request line.

aiohttp answers a malformed request (a control character in the path, a request line past 8,190 bytes, a bad
header) with a 400 before any route runs, and logs the parser's error at ERROR; that error quotes the request
line or the URL, so a token in a path (the meeting page's ``/m/<token>``, Symbl's callback
``/webhooks/symbl/<token>``) would reach the log in the clear. The log redactor knows such a token only once a
handler has checked it, and ``scrub`` shortens URLs with a scheme, not a bare path: the paths under the given
prefixes are cut here, before any handler formats the record.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Final

from aiohttp.http_exceptions import HttpProcessingError

from zoomsymbl_common.logs import REDACTED

SERVER_LOGGER: Final = "aiohttp.server"


def _pattern(prefixes: Sequence[str]) -> re.Pattern[str]:
    # To the end of the path: a request line ends it with a space.
    return re.compile("(" + "|".join(re.escape(p) for p in prefixes) + r")\S+")


def without_secret_paths(text: str, prefixes: Sequence[str]) -> str:
    """``text`` with every path under one of ``prefixes`` (token, file name, query, up to the next space) cut to
    ``<prefix>[redacted]``."""
    return _pattern(prefixes).sub(lambda m: m[1] + REDACTED, text)


class SecretPathFilter(logging.Filter):
    """Cuts the paths under ``prefixes`` out of the protocol errors a record carries (the record always passes)."""

    def __init__(self, prefixes: Sequence[str]) -> None:
        super().__init__()
        self.prefixes = tuple(prefixes)
        self._pattern = _pattern(self.prefixes)

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the parser errors in ``record``'s exception chain; True: the record is logged."""
        seen: set[int] = set()
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None and id(exc) not in seen:
            seen.add(id(exc))
            if isinstance(exc, HttpProcessingError) and any(p in exc.message for p in self.prefixes):
                exc.message = self._cut(exc.message)
                exc.args = tuple(self._cut(a) if isinstance(a, str) else a for a in exc.args)
            exc = exc.__cause__ or exc.__context__
        return True

    def _cut(self, text: str) -> str:
        return self._pattern.sub(lambda m: m[1] + REDACTED, text)


def install(prefixes: Sequence[str]) -> None:
    """Put a :class:`SecretPathFilter` for ``prefixes`` on aiohttp's server logger (once per process and set)."""
    logger = logging.getLogger(SERVER_LOGGER)
    if not any(isinstance(f, SecretPathFilter) and f.prefixes == tuple(prefixes) for f in logger.filters):
        logger.addFilter(SecretPathFilter(prefixes))
