"""SANDBOX: faults to inject into the Zoom sandbox's answers, and counters of what it served."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

RouteName = Literal[
    "oauth",
    "list_users",
    "list_recordings",
    "get_recordings",
    "participants",
    "download",
    "cdn_download",
    "phone_recordings",
    "phone_call_history",
    "phone_download",
    "users",
    "dashboard_meetings",
    "dashboard_participants",
]
FaultKind = Literal["status", "error_body", "truncate", "redirect"]
_DOWNLOAD_ONLY: frozenset[FaultKind] = frozenset({"truncate", "redirect"})


class Fault(BaseModel):
    """What the next `count` requests on `route` (optionally for one `file_id`) get instead.

    - status: answer `status` (429 with `Retry-After: retry_after` when set, 5xx, ...);
    - error_body: answer 200 `text/html` whose body is Zoom's JSON error or an HTML page;
    - truncate: send `after_bytes` bytes of the body, then drop the connection (downloads);
    - redirect: answer 302 to the sandbox's own `/dl/` (`local`) or an off-allowlist host (downloads).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    route: RouteName
    kind: FaultKind
    count: int = Field(default=1, ge=1)
    status: int = Field(default=429, ge=400, le=599)
    retry_after: int | None = Field(default=None, ge=0)
    body: Literal["json", "html"] = "json"
    file_id: str | None = None
    after_bytes: int = Field(default=0, ge=0)
    target: Literal["local", "offsite"] = "offsite"

    @model_validator(mode="after")
    def _download_kinds_on_downloads(self) -> Self:
        if self.kind in _DOWNLOAD_ONLY and self.route != "download":
            raise ValueError(f"fault kind {self.kind!r} applies to route 'download' only")
        return self


class FaultBook:
    """Pending faults, consumed first-in first-out by the requests they match."""

    def __init__(self) -> None:
        self._pending: list[tuple[Fault, int]] = []

    def add(self, fault: Fault) -> None:
        """Queue `fault` for its next `count` matching requests."""
        self._pending.append((fault, fault.count))

    def take(self, route: RouteName, kinds: frozenset[FaultKind], file_id: str | None = None) -> Fault | None:
        """Consume one use of the first pending fault matching this request, if any."""
        for index, (fault, remaining) in enumerate(self._pending):
            if fault.route != route or fault.kind not in kinds:
                continue
            if fault.file_id is not None and fault.file_id != file_id:
                continue
            if remaining <= 1:
                del self._pending[index]
            else:
                self._pending[index] = (fault, remaining - 1)
            return fault
        return None

    def clear(self) -> None:
        """Drop every pending fault."""
        self._pending.clear()

    def to_json(self) -> list[dict[str, Any]]:
        """The pending faults with their remaining uses."""
        return [{**fault.model_dump(), "remaining": remaining} for fault, remaining in self._pending]


@dataclass(frozen=True)
class DownloadRecord:
    """One download answer: which bytes were asked for and how many were sent."""

    file_id: str
    status: int
    range_start: int
    range_end: int | None  # inclusive, as in a Range header; None = to the end
    bytes_sent: int
    auth: str  # "oauth", "download_token" or "signed_url"
    truncated: bool = False


@dataclass
class SandboxStats:
    """Counters tests read to check what a client did (retries, token refreshes, resumes)."""

    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)  # "route status" -> answers
    responses_429: int = 0
    token_issues: int = 0
    download_tokens_issued: int = 0
    webhooks_sent: int = 0
    downloads: dict[str, list[DownloadRecord]] = field(default_factory=dict)
    active_downloads: int = 0
    max_concurrent_downloads: int = 0

    def record_download(self, record: DownloadRecord) -> None:
        """Remember one download answer."""
        self.downloads.setdefault(record.file_id, []).append(record)

    @contextmanager
    def downloading(self) -> Iterator[None]:
        """Count a download body in flight, to report the peak concurrency a client reached."""
        self.active_downloads += 1
        self.max_concurrent_downloads = max(self.max_concurrent_downloads, self.active_downloads)
        try:
            yield
        finally:
            self.active_downloads -= 1

    def to_json(self) -> dict[str, Any]:
        """The counters as a JSON-ready dict."""
        return {
            "requests": dict(self.requests),
            "statuses": dict(self.statuses),
            "responses_429": self.responses_429,
            "token_issues": self.token_issues,
            "download_tokens_issued": self.download_tokens_issued,
            "webhooks_sent": self.webhooks_sent,
            "downloads": {fid: [asdict(r) for r in records] for fid, records in self.downloads.items()},
            "active_downloads": self.active_downloads,
            "max_concurrent_downloads": self.max_concurrent_downloads,
        }
