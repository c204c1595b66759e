"""Each channel's share of a meeting's talk time: how far a job has come once some of its channels are transcribed."""

from __future__ import annotations

import math

from zoomsymbl_common.records import Meeting


def talk_shares(meeting: Meeting | None, channels: int) -> list[float]:
    """Each channel's share of the meeting's talk time (the mixer's ``speaker_stats``); equal when unknown."""
    talk = {c: 0.0 for c in range(1, channels + 1)}
    for channel, seconds in (meeting.talk_seconds() if meeting else {}).items():
        if channel in talk:
            talk[channel] = seconds
    # The records take Infinity (written before the events bounded talk times): such a meeting is unmeasured.
    # Scaled by the largest first, so two talk times near the float's limit do not add up to Infinity.
    top = max(talk.values())
    if not math.isfinite(top) or top <= 0:
        return [1.0 / channels] * channels
    scaled = [talk[c] / top for c in range(1, channels + 1)]
    return [s / sum(scaled) for s in scaled]
