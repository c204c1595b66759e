"""The Kafka side of the mixer: one subscriber, the shared consumer policy, and what giving up means.

``Consumer.consume`` parses the raw bytes, retries retryable failures with backoff, and
dead-letters poison input; :func:`give_up` first marks the meeting failed with the stage and reason
and publishes ``MeetingFailed`` (the notifier tells the host), unless its ``AudioMixed`` may have gone
out: then that is announced again and the meeting goes on. An exception no part of zoomsymbl
anticipated becomes a retryable failure (logged with its traceback), so a bug ends in a dead letter
after the attempt budget instead of a crash or an endless redelivery loop. A meeting's mix, the policy's retries
and its outage waits can outlast the poll interval: a meeting still at work at its poll deadline is given back and
polled again while the work goes on (:mod:`zoomsymbl_common.poll_deadline`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final, Protocol

from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry, Counter, Histogram
from zoomsymbl_common.errors import RetryableError, ZoomsymblError
from zoomsymbl_common.events import AudioMixed, Event, MeetingFailed, RecordingCompleted
from zoomsymbl_common.kafka import Consumer, GiveUp
from zoomsymbl_common.poll_deadline import PollDeadline, held_subscriber

from zoomsymbl_mixer.errors import EarlierGeneration, SupersededRecording
from zoomsymbl_mixer.progress import Progress, Step
from zoomsymbl_mixer.state import UnreadableSent

log = logging.getLogger("zoomsymbl.mixer.handlers")
SERVICE: Final = "mixer"
GROUP_ID: Final = f"zoomsymbl-{SERVICE}"
"""The consumer group (under the topic prefix, which also isolates a test's group)."""
RETRY: Final = "retry"
"""The stage the consumer gives up in when the retry budget or the outage wait is spent (no stage of the meeting)."""
PublishFailure = Callable[[MeetingFailed], Awaitable[None]]
Announce = Callable[[RecordingCompleted, AudioMixed], Awaitable[object]]


class MixerMetrics:
    """Prometheus metrics of one mixer process."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.meetings = Counter(
            "zoomsymbl_mixer_meetings_total", "Meetings by outcome.", ["outcome"], registry=registry
        )
        self.seconds = Histogram(
            "zoomsymbl_mixer_mix_seconds",
            "Wall time of one handled meeting (download, merge, upload).",
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600, 7200),
            registry=registry,
        )


class MeetingMixer(Protocol):
    """What the handler needs of :class:`~zoomsymbl_mixer.mixing.Mixer`."""

    async def on_recording_completed(self, event: RecordingCompleted) -> AudioMixed | None: ...


class Tombstones(Protocol):
    """What the handler needs to know of forgotten meetings (:class:`~zoomsymbl_mixer.state.MeetingState`)."""

    async def forgotten(self, tenant: str, meeting_uuid: str) -> bool: ...


class FailureMarker(Protocol):
    """What giving up needs of :class:`~zoomsymbl_mixer.state.MeetingState`."""

    async def mark_failed(self, event: RecordingCompleted, stage: str, reason: str) -> bool: ...

    async def unconfirmed(self, event: RecordingCompleted) -> AudioMixed | UnreadableSent | None: ...

    async def step_of(self, event: RecordingCompleted) -> Step | None: ...


async def on_recording_completed(
    event: RecordingCompleted, mixer: MeetingMixer, metrics: MixerMetrics, tombstones: Tombstones | None = None
) -> AudioMixed | None:
    """Mix one meeting (None: only Zoom's transcripts came, stored); unexpected exceptions become
    retryable failures with a clear reason.

    A meeting erased with ``zoomsymbl forget`` (``tombstones`` says so) is acknowledged untouched: nothing
    is fetched from Zoom or stored, whatever brought its event back (Kafka's retention, a replay, Zoom's
    webhook retries, a backfill). MongoDB not answering that question is a retryable failure, never a mix.
    An event of a generation its meeting has left is not mixed either (:class:`EarlierGeneration`), nor an older
    delivery than the one its archive record was written for (:class:`SupersededRecording`): both counted
    ``superseded``, neither mixed nor recorded (Zoom's transcripts they name are still stored).
    """
    started = time.monotonic()
    fields = {"tenant": event.tenant, "meeting_uuid": event.meeting_uuid, "event_id": event.event_id}
    try:
        if tombstones is not None and await tombstones.forgotten(event.tenant, event.meeting_uuid):
            metrics.meetings.labels("forgotten").inc()
            log.info("forgotten meeting skipped", extra=fields)
            return None
        mixed = await mixer.on_recording_completed(event)
    except EarlierGeneration as left:
        metrics.meetings.labels("superseded").inc()
        log.info("recording of an earlier generation not mixed", extra={**fields, "generation": left.generation,
                 "current_generation": left.current})  # fmt: skip
        return None
    except SupersededRecording:
        metrics.meetings.labels("superseded").inc()
        log.info("older delivery of a recording not mixed", extra={**fields, "generation": event.generation})
        return None
    except ZoomsymblError:
        metrics.meetings.labels("error").inc()
        raise
    except Exception as exc:
        metrics.meetings.labels("error").inc()
        log.exception("unexpected failure", extra=fields)
        raise RetryableError(f"unexpected {type(exc).__name__} in the mixer") from exc
    metrics.meetings.labels("mixed" if mixed is not None else "transcripts_only").inc()
    metrics.seconds.observe(time.monotonic() - started)
    return mixed


def give_up(
    state: FailureMarker,
    metrics: MixerMetrics,
    publish: PublishFailure,
    announce: Announce,
    progress: Progress | None = None,
) -> GiveUp:
    """Mark the meeting failed (with stage and reason) and announce it before its event is dead-lettered.

    The stage is the one the meeting failed in: poison names its own; a retry budget or an outage wait spent (the
    consumer's stage ``retry``) is the step ``progress`` saw the meeting reach (``download``, ``space``, ``merge``,
    ``upload``, ``publish``); for an event this process never began (a restart between attempts, the last cut short)
    the step noted on the meeting by the process that handled it (``state.step_of``). It stays ``retry`` when neither
    knows one (a failure before the first step). The reason is the consumer's (``gave up after 5 attempts: …``).

    ``publish`` returns once Kafka acknowledged ``MeetingFailed`` (or raises): the consumer dead-letters
    the event and commits its offset only afterwards, so a crash or an outage in between redelivers
    the event and the announcement is made again (the notifier e-mails once).

    A meeting whose ``AudioMixed`` was sent and never confirmed (its acknowledgement lost, or the note of it)
    is not failed: it may be downstream already, and a failure notice would precede its report. Its
    ``AudioMixed`` is announced again instead (``announce``: the same event, which the submitter takes once). One
    whose kept ``AudioMixed`` this release cannot read is not failed either (a failure notice could precede a
    report all the same): it is left at ``mixed``, logged with the reason and counted ``unreadable_sent``; a replay
    of the dead-lettered event announces its mix again.
    """

    async def on_give_up(event: Event | None, stage: str, reason: str) -> None:
        if not isinstance(event, RecordingCompleted):
            metrics.meetings.labels("failed").inc()
            return
        await settle(event, await step(event) if stage == RETRY else stage, reason)
        if progress is not None:
            progress.done(event)

    async def step(event: RecordingCompleted) -> str:
        if progress is not None and progress.began(event):
            return progress.step_of(event) or RETRY
        return await state.step_of(event) or RETRY  # handled in another process, or before a restart

    async def settle(event: RecordingCompleted, stage: str, reason: str) -> None:
        fields = {"tenant": event.tenant, "meeting_uuid": event.meeting_uuid, "stage": stage, "reason": reason}
        marked = await state.mark_failed(event, stage, reason)
        sent = None if marked else await state.unconfirmed(event)
        if isinstance(sent, UnreadableSent):
            metrics.meetings.labels("unreadable_sent").inc()
            log.error(
                "kept audio_mixed_sent unreadable, meeting left at mixed", extra={**fields, "sent_error": sent.reason}
            )
            return
        if sent is not None:
            await announce(event, sent)
            metrics.meetings.labels("announced_at_give_up").inc()
            log.warning("mix announced again at give-up", extra={**fields, "audio_mixed": sent.event_id})
            return
        metrics.meetings.labels("failed").inc()
        log.warning("meeting failed", extra={**fields, "marked": marked})
        if marked:  # not when the meeting had moved on (a late duplicate of an event that succeeded)
            await publish(MeetingFailed.of(event, SERVICE, stage, reason))

    return on_give_up


def register_subscribers(
    broker: KafkaBroker,
    consumer: Consumer,
    handle: Callable[[RecordingCompleted], Awaitable[object]],
    on_give_up: GiveUp,
    *,
    concurrent_meetings: int = 1,
    max_poll_interval_ms: int = 3_600_000,
) -> PollDeadline:
    """Register the ``zoom.recording-completed.v1`` subscriber on ``broker`` (before it starts); the
    :class:`PollDeadline` returned holds the work of meetings given back at their poll deadline: close it once the
    broker has stopped."""

    async def handler(event: RecordingCompleted) -> None:
        await handle(event)

    # Above 1, FastStream runs one worker per partition: each meeting's events stay in order.
    return held_subscriber(
        broker, consumer, RecordingCompleted, handler, on_give_up,
        group=GROUP_ID, max_poll_interval_ms=max_poll_interval_ms, max_workers=concurrent_meetings,
    )  # fmt: skip
