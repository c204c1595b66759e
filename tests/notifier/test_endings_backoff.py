"""The outbox's :class:`Backoff` over an e-mail's whole lifetime: a long SMTP outage, and a lifetime of "never".

Before: the wait after attempt ``n`` was ``base * 2 ** (n - 1)`` before the ceiling applied, and a float ``base``
cannot be multiplied by ``2 ** 1024``: from the 1,026th attempt (about 3.5 days into an outage with the default
5 s doubling to 300 s, inside the default 5-day lifetime) every failed attempt raised ``OverflowError`` instead of
recording its retry, and the e-mail was left ``sending`` until its lease ran out. A lifetime the settings accept
(``mail_give_up_after_seconds=inf``, or 1e15) raised ``OverflowError`` at the first failure.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from zoomsymbl_notifier.endings import Backoff

CREATED = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize("attempts", [1026, 1440, 10_000])
def test_the_wait_after_a_long_outage_is_the_ceiling(attempts: int) -> None:
    backoff = Backoff(base=5.0, ceiling=300.0, lease=120.0)
    assert backoff.after(attempts) == timedelta(seconds=300)


@pytest.mark.parametrize("ceiling", [300.0, 1e10])
def test_a_tiny_base_still_doubles_up_to_the_ceiling(ceiling: float) -> None:
    backoff = Backoff(base=1e-300, ceiling=ceiling, lease=120.0)
    assert backoff.after(5000) == timedelta(seconds=ceiling)
    assert timedelta(seconds=ceiling / 2) <= backoff.after(1030) <= timedelta(seconds=ceiling)


@pytest.mark.parametrize("lifetime", [float("inf"), 1e15])
def test_a_lifetime_past_what_a_timedelta_holds_never_expires(lifetime: float) -> None:
    backoff = Backoff(base=5.0, ceiling=300.0, lease=120.0, give_up=lifetime)
    assert not backoff.expired(CREATED, CREATED + timedelta(days=3650))


def test_the_lifetime_still_ends_an_e_mail() -> None:
    backoff = Backoff(base=5.0, ceiling=300.0, lease=120.0, give_up=3600.0)
    assert not backoff.expired(CREATED, CREATED + timedelta(seconds=3600))
    assert backoff.expired(CREATED, CREATED + timedelta(seconds=3601))
