"""How long one channel's decode and transcription may take, and the error past it.

The worker renews its job's lease for as long as it lives, so a run that never ends (a stalled ffmpeg, a crawling
model) would hold its job for ever; past the deadline the run is cancelled and :class:`ChannelOverdue` raised.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from zoomsymbl_common.errors import RetryableError
from zoomsymbl_common.providers.whisper import WHISPER_LIMITS
from zoomsymbl_whisper import ChannelUtterance, Transcriber


class ChannelOverdue(RetryableError):
    """A channel's decode and transcription ran past its deadline; its ffmpeg was killed and its thread told to stop."""

    def __init__(self, channel: int, channels: int, seconds: float) -> None:
        super().__init__(f"channel {channel} of {channels} not transcribed within its deadline of {seconds:.0f} s")
        self.channel = channel
        self.seconds = seconds


@dataclass(frozen=True)
class ChannelDeadline:
    """How long one channel's decode and transcription may take: ``factor`` × the audio's length, at least
    ``min_seconds`` (model warm-up and short meetings). An unknown length counts as the longest a whisper work
    order may be: no job fails for a length nobody measured."""

    factor: float = 4.0
    min_seconds: float = 900.0

    def seconds(self, duration_seconds: float | None) -> float:
        """The deadline of each channel of audio ``duration_seconds`` long."""
        length = WHISPER_LIMITS.max_file_seconds if duration_seconds is None else duration_seconds
        return max(self.min_seconds, self.factor * length)


async def within(
    seconds: float, model: Transcriber, path: Path, channel: int, channels: int, language: str | None
) -> list[ChannelUtterance]:
    """One channel's utterances within ``seconds``; past them it is cancelled (ffmpeg killed, the model thread
    stopped) and :class:`ChannelOverdue` raised: the lease renewals must not hold a hung run's job for ever."""
    window = asyncio.timeout(seconds)
    try:
        async with window:
            return await model.transcribe_channel(path, channel, language=language)
    except TimeoutError:
        if not window.expired():
            raise
        raise ChannelOverdue(channel, channels, seconds) from None
