"""Whether a failed provider call may still have created a job there (and so its retry may be a duplicate).

The provider clients (:mod:`zoomsymbl_common.providers.http`) do not say whether a request left this
process: a refused connection, a timeout after the body was sent, a gateway's 502 and a 2xx that is not
JSON all become the same :class:`RetryableError`. What is left to decide by:

- :class:`RetryableError` chained (``__cause__``, as ``transport_errors`` raises it) to an
  :class:`aiohttp.ClientConnectorError` (refused, DNS, TLS, proxy) or an
  :class:`aiohttp.ConnectionTimeoutError`: no connection, so no request, so **no job**.
- :class:`RateLimitedError` (429) and :class:`PoisonInputError` (any other 4xx): a refusal, **no job**.
- :class:`InfrastructureUnavailable` (our S3, MongoDB, Kafka) and our other errors (config, missing
  object): raised by our side before or while the request body was read, so the provider never got a
  whole request: **no job**. (The self-hosted whisper and zoom "providers" are a MongoDB insert; a
  transcription stored by an insert that timed out is never announced, so no e-mail comes of it.)
- Any other :class:`RetryableError` (a timeout or a lost connection after connecting, a 5xx, 408, 409,
  425, a 2xx that is not a JSON object, a 2xx without ``upload_url``/``accessToken``) and any error of
  no known type: **maybe**. This over-reports a little (an AssemblyAI upload or a Symbl token call that
  timed out is counted too, as the error does not say which of a submission's calls failed): a flag
  without a duplicate costs nothing, a duplicate without a flag breaks the exactly-once promise.
"""

from __future__ import annotations

import aiohttp
from zoomsymbl_common.errors import (
    InfrastructureUnavailable,
    PoisonInputError,
    RateLimitedError,
    RetryableError,
    ZoomsymblError,
)

_NOT_CONNECTED = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
"""aiohttp's errors of a connection that was never made (it never retries these, for that reason)."""


def maybe_accepted(exc: BaseException) -> bool:
    """True when the provider may have created a job although the call that asked for it failed with ``exc``."""
    if isinstance(exc, PoisonInputError | RateLimitedError | InfrastructureUnavailable):
        return False
    if isinstance(exc, RetryableError):
        return not _never_connected(exc)
    return not isinstance(exc, ZoomsymblError)


def _never_connected(exc: BaseException) -> bool:
    cause: BaseException | None = exc.__cause__
    while cause is not None:
        if isinstance(cause, _NOT_CONNECTED):
            return True
        cause = cause.__cause__
    return False
