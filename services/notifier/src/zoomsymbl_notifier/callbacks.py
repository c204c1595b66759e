"""Provider callback bodies: what they may look like, and the one fact taken from them. Pure.

The body is never trusted for the status itself (the worker asks the provider's job API); it only
names the job, which must be the job the authenticated token was issued for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from zoomsymbl_common.errors import ZoomsymblError
from zoomsymbl_common.events import Provider

# Symbl's documentation shows {"jobId", "status"}, one of its own samples {"id", "status"}.
_ID_FIELDS: dict[Provider, tuple[str, ...]] = {
    "symbl": ("jobId", "id"),
    "assemblyai": ("transcript_id",),
}
_MAX_ID = 256
# The statuses each provider documents for its callbacks; anything else is refused with 400 instead
# of becoming a new event (and a provider call) per invented string. A status is lower-cased first, so
# "COMPLETED" and "completed" are one event.
# AssemblyAI: https://assemblyai.com/docs/deployment/webhooks ("Delivery payload": transcript_id, status
# completed or error). Symbl: the Async API job status (scheduled, in_progress, completed, failed).
STATUSES: dict[Provider, frozenset[str]] = {
    "symbl": frozenset({"scheduled", "in_progress", "completed", "failed"}),
    "assemblyai": frozenset({"queued", "processing", "completed", "error"}),
}


class InvalidCallback(ZoomsymblError):
    """A callback body that is not the provider's documented shape."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CallbackBody:
    """The job a callback is about and the status it claims."""

    job_id: str
    status: str


def parse_callback(provider: Provider, raw: bytes) -> CallbackBody:
    """The job id and claimed status of a callback body, or :class:`InvalidCallback`."""
    try:
        data = json.loads(raw)
        json.dumps(data, ensure_ascii=False).encode("utf-8")  # a lone surrogate parses but cannot be published
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: deeply nested arrays/objects
        raise InvalidCallback("body is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidCallback("body is not a JSON object")
    job_id = next((data[f] for f in _ID_FIELDS[provider] if f in data), None)
    if not isinstance(job_id, str) or not job_id or len(job_id) > _MAX_ID:
        raise InvalidCallback(f"missing or invalid job id (one of {list(_ID_FIELDS[provider])!r})")
    status = data.get("status")
    if not isinstance(status, str) or status.lower() not in STATUSES[provider]:
        raise InvalidCallback(f"missing or unknown status (one of {sorted(STATUSES[provider])!r})")
    return CallbackBody(job_id=job_id, status=status.lower())
