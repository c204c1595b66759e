"""Whole-number percentages that add up to 100, as the report e-mail and the meeting page show talk-time shares.

Rounding each share on its own can show 101 % (38.6 + 38.6 + 22.8 as 39 + 39 + 23) or 99 % (three equal speakers
as 33 + 33 + 33). Largest-remainder rounding (Hamilton's method) floors every share, then gives the points
still missing to the largest remainders: each shown share is its exact value rounded down or up, and they sum to
exactly 100. Computed on exact fractions, so float error never moves a point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

WHOLE = 100


def percentages(values: Sequence[float]) -> list[int]:
    """Each of ``values`` as a whole percentage of their total, the percentages summing to exactly 100.

    A value that is negative, NaN or infinite counts as 0 (it is no measure). When the total is not above 0,
    every percentage is 0. Ties between equal remainders go to the value listed first, so the same values give
    the same percentages.
    """
    weights = [Fraction(v) if math.isfinite(v) and v > 0 else Fraction(0) for v in values]
    total = sum(weights, Fraction(0))
    if total <= 0:
        return [0] * len(weights)
    exact = [w * WHOLE / total for w in weights]
    shown = [math.floor(e) for e in exact]
    missing = WHOLE - sum(shown)
    # Largest remainder first; among equal remainders, the earlier value (sorted() is stable).
    for index in sorted(range(len(exact)), key=lambda i: exact[i] - shown[i], reverse=True)[:missing]:
        shown[index] += 1
    return shown
