"""How big each kind of reliability round is: a quick round in `make test`, the full size with ZS_RELIABILITY_FULL=1.

Every size is also an environment variable of its own (``ZS_REL_<NAME>``), so one kind can be made
bigger or smaller without touching the others, e.g. ``ZS_REL_FUZZ_EXAMPLES=50000``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

TRUTHY = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True)
class Sizes:
    """The knobs of the suite; defaults are the quick round."""

    full: bool = False
    crash_rounds: int = 1
    crash_meetings: int = 3  # meetings per crash round
    kills_per_service: int = 1  # per round
    infra_down_seconds: float = 2.0  # how long Kafka, MongoDB and S3 stay stopped
    smtp_down_seconds: float = 5.0
    upstream_meetings: int = 4
    upstream_storm: int = 6  # 429s/5xx in a row per injected storm
    fuzz_examples: int = 400  # generated requests per endpoint
    load_webhooks: int = 600
    load_meetings: int = 12
    load_concurrency: int = 32
    secret_meetings: int = 2
    tuned_retries: int = 0  # 0: the services' own retry budgets (outages wait without spending them); 1: 30 attempts

    @property
    def mode(self) -> str:
        """``full`` or ``quick``, for the results file."""
        return "full" if self.full else "quick"


FULL = Sizes(
    full=True,
    crash_rounds=5,
    crash_meetings=20,
    kills_per_service=1,
    infra_down_seconds=15.0,
    smtp_down_seconds=60.0,
    upstream_meetings=20,
    upstream_storm=25,
    fuzz_examples=10_000,
    load_webhooks=10_000,
    load_meetings=200,
    load_concurrency=64,
    secret_meetings=3,
)


def load_sizes(env: Mapping[str, str] | None = None) -> Sizes:
    """The quick sizes, or FULL with ZS_RELIABILITY_FULL=1; ``ZS_REL_<FIELD>`` overrides one field."""
    source = os.environ if env is None else env
    base = FULL if source.get("ZS_RELIABILITY_FULL", "").strip().lower() in TRUTHY else Sizes()
    values: dict[str, Any] = {}
    for spec in fields(Sizes):
        raw = source.get(f"ZS_REL_{spec.name.upper()}", "").strip()
        if not raw or spec.name == "full":
            continue
        values[spec.name] = float(raw) if spec.type == "float" else int(raw)
    return replace(base, **values)


SIZES = load_sizes()
