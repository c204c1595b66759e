"""SANDBOX bookkeeping shared by the provider sandboxes: submission log, rate limit, injected faults.

These records are what tests assert on ("max concurrency <= cap", "no 1-s window above rate+burst",
"0 duplicate submissions"), so they count every attempt, not only the accepted ones.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields


def max_in_window(times: list[float], window_s: float = 1.0) -> int:
    """The largest number of ``times`` inside any half-open window of ``window_s`` seconds."""
    ordered = sorted(times)
    best = 0
    left = 0
    for right, now in enumerate(ordered):
        while now - ordered[left] >= window_s:
            left += 1
        best = max(best, right - left + 1)
    return best


@dataclass
class SubmitLog:
    """Every submit attempt (after auth) with its time, plus accepted submissions per key."""

    clock: Callable[[], float] = time.time
    attempt_times: list[float] = field(default_factory=list)
    accepted_by_key: Counter[str] = field(default_factory=Counter)
    rejections: Counter[int] = field(default_factory=Counter)

    def attempt(self) -> None:
        self.attempt_times.append(self.clock())

    def accept(self, key: str) -> None:
        self.accepted_by_key[key] += 1

    def reject(self, status: int) -> None:
        self.rejections[status] += 1

    def per_second(self) -> dict[str, int]:
        return {str(sec): n for sec, n in sorted(Counter(int(t) for t in self.attempt_times).items())}

    def duplicates(self) -> dict[str, int]:
        return {key: n for key, n in self.accepted_by_key.items() if n > 1}

    def snapshot(self) -> dict[str, object]:
        return {
            "submit_attempts": len(self.attempt_times),
            "submits_per_second": self.per_second(),
            "max_submits_in_1s_window": max_in_window(self.attempt_times),
            "submissions_by_name": dict(self.accepted_by_key),
            "duplicate_submissions": self.duplicates(),
            "rejections": {str(code): n for code, n in self.rejections.items()},
        }


@dataclass
class RateLimiter:
    """Token bucket: ``rate_per_s`` sustained, ``burst`` at once; None disables the limit."""

    rate_per_s: float | None
    burst: int = 1
    clock: Callable[[], float] = time.monotonic
    _tokens: float = field(init=False, default=0.0)
    _last: float | None = field(init=False, default=None)

    def allow(self) -> bool:
        if self.rate_per_s is None:
            return True
        now = self.clock()
        if self._last is None:
            self._tokens = float(self.burst)
        else:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate_per_s)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class FaultsError(ValueError):
    """A ``POST /_sandbox/faults`` body that names an unknown fault or a wrong type."""


@dataclass
class Faults:
    """Runtime fault injection; counts are "the next N" and go down as they fire."""

    reject_next: int = 0
    reject_status: int = 429
    fail_next_jobs: int = 0
    drop_callbacks: int = 0
    duplicate_callbacks: int = 0
    summary_not_ready_calls: int = 0

    def update(self, changes: Mapping[str, object]) -> None:
        known = {f.name for f in fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise FaultsError(f"unknown fault {name!r}; known: {sorted(known)!r}")
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise FaultsError(f"fault {name!r} needs a non-negative integer, got {value!r}")
        if changes.get("reject_status", 429) not in (429, 500, 502, 503):
            raise FaultsError(f"reject_status must be 429 or 5xx, got {changes['reject_status']!r}")
        for name, value in changes.items():
            setattr(self, name, value)

    def take(self, name: str) -> bool:
        """Consume one occurrence of a counted fault; True when it fires."""
        left = int(getattr(self, name))
        if left <= 0:
            return False
        setattr(self, name, left - 1)
        return True

    def snapshot(self) -> dict[str, int]:
        return {f.name: int(getattr(self, f.name)) for f in fields(self)}
