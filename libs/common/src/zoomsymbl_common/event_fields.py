"""What the fields of an event may hold: the bounds events and their readers share, and aware-UTC times.

Kafka messages are outside input: a forged or buggy event must not announce more than the services downstream
can take (ffmpeg passes, filter strings, MongoDB's integers, Kafka's 1 MB message). The named bounds live here,
where the services that size their own checks by them import them; one-off bounds are written on their fields.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator

REASON_MAX = 1000
STAGE_MAX = 64
MAX_MIX_CHANNELS = 64
"""Most channels a mixed file has (a tenant's ``max_channels`` is at most 64; a phone call has two)."""
MAX_MIX_SECONDS = 48 * 3600
"""Longest mixed file an event may announce: the mixer refuses mixes past 31 h (Zoom ends a meeting after
30 h); the submitter plans parts and the transcriber its work from these numbers, so a forged event must not
announce days of audio (tens of thousands of ffmpeg passes) or a billion channels (a filter string of gigabytes)."""
MAX_PARTICIPANT_TRACKS = 1000
"""Most participant audio files one ``RecordingCompleted`` carries: one a participant, a meeting holds at most 1,000.
With :data:`MAX_FALLBACK_FILES` it keeps an event within Kafka's 1 MB message (a forged list of 20,000 files made a
4.7 MB event no publish could take: answered 503, retried by Zoom for ever)."""
MAX_FALLBACK_FILES = 200
"""Most other recording files one ``RecordingCompleted`` carries: Zoom makes at most 150 files of a live session's
cloud recording (https://support.zoom.com/hc/en/article?id=zm_kb&sysparm_article=KB0062627)."""
MAX_TRANSCRIPT_FILES = 100
"""Most Zoom transcript files (TRANSCRIPT, CC) one ``AudioMixed`` names."""
JOB_ID_MAX = 256
"""Longest provider job or conversation id an event carries (the providers' are UUIDs or a few dozen digits)."""
INT64_MAX = 2**63 - 1
"""Largest count an event carries: what MongoDB stores (BSON int64). A larger one from a forged event failed
every write of it (pymongo's ``OverflowError``), a bug's retries, then a dead letter."""
MAX_DIGEST_MEETINGS = 1000
"""Most meetings a reconciliation event names (its counts are always complete)."""


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive one is taken as UTC (what every time of an event is).

    Raises ``ValueError`` (a validation error in a model) for an aware time UTC cannot hold: year 1 east
    of UTC, or 9999 west of it.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()!r} is out of range in UTC") from None


UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
"""A time of an event: always aware UTC, so two of them (and :func:`zoomsymbl_common.events.utcnow`) can be
compared and subtracted."""
