"""Submission log, rate limiter and fault switches: the numbers tests assert on must be right."""

from __future__ import annotations

import pytest
from zoomsymbl_sandbox.provider_stats import Faults, FaultsError, RateLimiter, SubmitLog, max_in_window


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_max_in_window_uses_sliding_one_second_windows() -> None:
    # 3 submissions straddle a second boundary: a per-calendar-second count would say 2.
    assert max_in_window([0.6, 0.9, 1.2, 2.5]) == 3
    assert max_in_window([0.0, 1.0, 2.0]) == 1
    assert max_in_window([]) == 0


def test_submit_log_counts_duplicates_and_seconds() -> None:
    clock = FakeClock()
    log = SubmitLog(clock=clock)
    for name in ("a", "b", "a"):
        log.attempt()
        log.accept(name)
        clock.now += 0.4
    log.reject(429)
    snap = log.snapshot()
    assert snap["duplicate_submissions"] == {"a": 2}
    assert snap["submits_per_second"] == {"1000": 3}
    assert snap["rejections"] == {"429": 1}


def test_rate_limiter_allows_burst_then_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=2.0, burst=2, clock=clock)
    assert [limiter.allow() for _ in range(3)] == [True, True, False]
    clock.now += 0.5
    assert [limiter.allow(), limiter.allow()] == [True, False]
    assert RateLimiter(rate_per_s=None).allow()


def test_faults_are_consumed_and_validated() -> None:
    faults = Faults()
    faults.update({"reject_next": 2, "reject_status": 500})
    assert [faults.take("reject_next") for _ in range(3)] == [True, True, False]
    for bad in ({"explode": 1}, {"reject_next": -1}, {"reject_next": True}, {"reject_status": 404}):
        with pytest.raises(FaultsError):
            faults.update(bad)
