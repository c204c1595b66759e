"""A channel of a multichannel file decoded by ffmpeg to 16 kHz mono float PCM, read a window at a time.

ffmpeg gets a minimal environment and may open local files in audio containers only, and it never outlives its
channel: a caller that goes away (cancelled, or out of time) kills it, which also wakes a thread blocked on a
stalled decoder's output. Its messages are drained as it runs (a damaged file logs a line per bad frame), and
only their tail is kept for the error.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Generator
from pathlib import Path
from typing import IO, Any

import numpy as np

from zoomsymbl_whisper.errors import TranscriberError

SAMPLE_RATE = 16_000
AUDIO_DEMUXERS = "flac,wav,ogg,mov,mp3,aac,matroska"
"""What ffmpeg may read the file as: audio containers, never a playlist or manifest that names other files."""
_BYTES_PER_SAMPLE = 4  # f32le
_STDERR_TAIL = 4096
"""Bytes of ffmpeg's messages kept for an error (a damaged file logs one line per bad frame: megabytes)."""
_EXIT_SECONDS = 30.0
"""How long ffmpeg may take to exit once its output ended; it is killed after that."""


class TranscriptionStopped(Exception):
    """The caller went away (cancelled): the worker thread stopped early, and nobody reads its result."""


def check_stop(stop: threading.Event | None) -> None:
    """Raise :class:`TranscriptionStopped` once ``stop`` is set."""
    if stop is not None and stop.is_set():
        raise TranscriptionStopped


class StopSignal(threading.Event):
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


def channel_windows(
    path: Path, channel: int, window_seconds: float, stop: threading.Event | None = None
) -> Generator[tuple[float, np.ndarray[Any, np.dtype[np.float32]]], None, None]:
    """Channel ``channel`` (1-based) of ``path`` as 16 kHz mono samples, ``window_seconds`` at a time, with each
    window's offset in seconds; raises :class:`TranscriberError` when ffmpeg fails. A :class:`StopSignal` kills
    ffmpeg when set; any other ``stop`` is checked between windows."""
    window_bytes = int(window_seconds * SAMPLE_RATE) * _BYTES_PER_SAMPLE
    watcher = stop if isinstance(stop, StopSignal) else None  # a plain Event can only be checked between windows
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
        check_stop(stop)  # killed by a stop: its exit code says nothing of the audio
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
