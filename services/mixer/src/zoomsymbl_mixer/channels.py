"""Which channel each mixed file lands on: pure functions, no I/O (which files are mixed:
:mod:`zoomsymbl_mixer.selection`).

Channel = speaker is the product: providers transcribe each channel as one speaker. A participant
who left and rejoined has several files; they share one channel when they do not overlap in time.
When there are more speakers than ``max_channels``, the most talkative keep their own channels and
the rest share the last one ("Others", ``mixed=True``). The order is stable: by time of joining,
then name, then file id, so the same input always yields the same channel map.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from zoomsymbl_common.events import ChannelAssignment, RecordingFile

from zoomsymbl_mixer.selection import InputKind

OTHERS = "Others"
MEETING_AUDIO = "Meeting audio"
CALL_AUDIO = "Call audio"
CALL_SIDES = ("Call side 1", "Call side 2")
OVERLAP_TOLERANCE_S = 1.0
"""Overlap of two files of one person that still is one after the other: Zoom's times are whole seconds and an AAC
track's length runs a frame past its audio, so a rejoin within a second looked like two people at once."""


@dataclass(frozen=True)
class Track:
    """A downloaded, verified file ready to mix."""

    file: RecordingFile
    path: str
    duration: float
    sample_rate: int = 32_000
    channels: int = 1
    source_channel: int | None = None  # one channel of a multichannel file (a stereo phone recording)
    skip_samples: int = 0  # encoder priming to drop: an MP4's edit list said so, the ADTS copy cannot


@dataclass(frozen=True)
class Channel:
    """One output channel: who is heard and which tracks (indices into the plan's tracks) feed it."""

    name: str
    email: str | None
    members: tuple[int, ...]
    mixed: bool


@dataclass(frozen=True)
class MixPlan:
    """Tracks, their delays, the channels they feed and the length of the result."""

    tracks: tuple[Track, ...]
    delays_ms: tuple[int, ...]
    channels: tuple[Channel, ...]
    total_seconds: float

    def assignments(self) -> tuple[ChannelAssignment, ...]:
        """The channel map published in ``AudioMixed``."""
        return tuple(
            ChannelAssignment(
                channel=number,
                participant_name=channel.name,
                participant_email=channel.email,
                file_ids=tuple(self.tracks[i].file.file_id for i in channel.members),
                offset_seconds=min(self.delays_ms[i] for i in channel.members) / 1000,
                mixed=channel.mixed,
            )
            for number, channel in enumerate(self.channels, start=1)
        )


def _start(file: RecordingFile, earliest: datetime | None) -> float:
    if file.recording_start is None or earliest is None:
        return 0.0
    return max(0.0, (file.recording_start - earliest).total_seconds())


def _order_key(track: Track, delay_ms: int) -> tuple[int, str, str]:
    return (delay_ms, (track.file.participant_name or "").casefold(), track.file.file_id)


def _identity(file: RecordingFile, index: int) -> str:
    if file.participant_email:
        return "email:" + file.participant_email.casefold()
    if file.participant_name:
        return "name:" + file.participant_name
    return f"file:{index}"


def _group(tracks: Sequence[Track], delays_ms: Sequence[int], order: Sequence[int]) -> list[list[int]]:
    """Tracks of one person that do not overlap in time (by more than ``OVERLAP_TOLERANCE_S``) share a group; order of
    first appearance."""
    groups: list[list[int]] = []
    spans: list[list[tuple[float, float]]] = []
    keys: list[str] = []
    for i in order:
        key, begin = _identity(tracks[i].file, i), delays_ms[i] / 1000
        span = (begin, begin + tracks[i].duration)
        for g, members in enumerate(groups):
            if keys[g] == key and all(_overlap(span, s) <= OVERLAP_TOLERANCE_S for s in spans[g]):
                members.append(i)
                spans[g].append(span)
                break
        else:
            groups.append([i])
            spans.append([span])
            keys.append(key)
    return groups


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return min(a[1], b[1]) - max(a[0], b[0])


def plan_mix(
    tracks: Sequence[Track],
    *,
    max_channels: int,
    kind: InputKind = "participants",
    talk_seconds: Mapping[str, float] | None = None,
) -> MixPlan:
    """Delays from ``recording_start``, speaker groups, and (above ``max_channels``) an "Others" channel."""
    if not tracks:
        raise ValueError("plan_mix needs at least one track")
    starts = [t.file.recording_start for t in tracks if t.file.recording_start is not None]
    earliest = min(starts) if starts else None
    delays = tuple(round(_start(t.file, earliest) * 1000) for t in tracks)
    order = sorted(range(len(tracks)), key=lambda i: _order_key(tracks[i], delays[i]))
    groups = _group(tracks, delays, order)
    total = max(delays[i] / 1000 + t.duration for i, t in enumerate(tracks))
    if kind == "phone":
        channels = _call_channels(tracks)
    elif kind != "participants":
        # Everyone in one recording, stretch after stretch (the recording stopped and started again): one channel.
        channels = [Channel(MEETING_AUDIO, None, tuple(order), True)]
    elif len(groups) <= max_channels:
        channels = [_own_channel(tracks, g) for g in groups]
    else:
        channels = _with_overflow(tracks, groups, max_channels, talk_seconds or {})
    return MixPlan(tuple(tracks), delays, tuple(channels), total)


def split_stereo(track: Track) -> list[Track]:
    """A two-channel phone recording as two tracks, one per side (each read from its own channel)."""
    if track.channels != 2:
        return [track]
    return [dataclasses.replace(track, channels=1, source_channel=side) for side in (0, 1)]


def _call_channels(tracks: Sequence[Track]) -> list[Channel]:
    # Zoom documents phone recordings as mono: one shared channel, the provider separates the speakers.
    # When Zoom gives two channels they are kept apart; which side is the caller Zoom does not say.
    if len(tracks) == 2 and all(t.source_channel is not None for t in tracks):
        return [Channel(name, None, (i,), False) for i, name in enumerate(CALL_SIDES)]
    return [Channel(CALL_AUDIO, None, tuple(range(len(tracks))), True)]


def _own_channel(tracks: Sequence[Track], members: Sequence[int]) -> Channel:
    first = tracks[members[0]].file
    name = first.participant_name or f"Participant {first.file_id}"
    email = next((tracks[i].file.participant_email for i in members if tracks[i].file.participant_email), None)
    return Channel(name, email, tuple(members), False)


def _with_overflow(
    tracks: Sequence[Track], groups: Sequence[Sequence[int]], max_channels: int, talk: Mapping[str, float]
) -> list[Channel]:
    def talked(group: Sequence[int]) -> float:
        return sum(talk.get(tracks[i].file.file_id, 0.0) for i in group)

    # sorted() is stable, so equally talkative speakers keep their join order.
    ranked = sorted(range(len(groups)), key=lambda g: -talked(groups[g]))
    keep = set(ranked[: max_channels - 1])
    own = [_own_channel(tracks, groups[g]) for g in range(len(groups)) if g in keep]
    rest = tuple(i for g in range(len(groups)) if g not in keep for i in groups[g])
    return [*own, Channel(OTHERS, None, rest, True)]


def per_track(plan: MixPlan) -> MixPlan:
    """The same tracks and delays with one channel per track (to measure each track's talk time)."""
    channels = tuple(
        Channel(t.file.participant_name or t.file.file_id, t.file.participant_email, (i,), False)
        for i, t in enumerate(plan.tracks)
    )
    return MixPlan(plan.tracks, plan.delays_ms, channels, plan.total_seconds)


def overflowed(plan: MixPlan) -> bool:
    """True when some participants had to share the "Others" channel."""
    return any(c.name == OTHERS and c.mixed for c in plan.channels)


def with_emails(plan: MixPlan, people: Sequence[tuple[str, str]]) -> MixPlan:
    """``plan`` with e-mails for the unshared channels that had none, matched on the participant's name.

    A name that two attendees with different addresses share is ambiguous and left without one.
    """
    addresses = _addresses(people)
    channels = tuple(
        dataclasses.replace(c, email=found)
        if not c.email and not c.mixed and (found := _address(addresses, c.name))
        else c
        for c in plan.channels
    )
    return dataclasses.replace(plan, channels=channels)


def assignments_with_emails(
    assignments: Sequence[ChannelAssignment], people: Sequence[tuple[str, str]]
) -> tuple[ChannelAssignment, ...]:
    """A recorded mix's channel map with e-mails for the unshared channels that had none, as :func:`with_emails`."""
    addresses = _addresses(people)
    return tuple(
        a.model_copy(update={"participant_email": found})
        if not a.participant_email and not a.mixed and (found := _address(addresses, a.participant_name))
        else a
        for a in assignments
    )


def _addresses(people: Sequence[tuple[str, str]]) -> dict[str, set[str]]:
    addresses: dict[str, set[str]] = {}
    for name, mail in people:
        addresses.setdefault(name.casefold(), set()).add(mail)
    return addresses


def _address(addresses: dict[str, set[str]], name: str) -> str | None:
    """The one address of ``name``; None when it has none or several (ambiguous)."""
    found = addresses.get(name.casefold(), set())
    return next(iter(found)) if len(found) == 1 else None
