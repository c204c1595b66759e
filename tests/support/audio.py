"""Audio files a test makes with ffmpeg."""

from __future__ import annotations

import subprocess
from pathlib import Path


def sine_flac(path: Path, seconds: float) -> Path:
    """``seconds`` of a 440 Hz mono tone at ``path`` (FLAC): not silence, so every window reaches a model."""
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-ac", "1", str(path)],
        check=True,
        timeout=60,
    )  # fmt: skip
    return path
