"""The whisper library's errors (apart from the modules that raise them, so that each may import them)."""

from __future__ import annotations


class TranscriberError(Exception):
    """The model cannot be loaded, the audio cannot be decoded, or the work order's language cannot be transcribed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
