"""Where a failed meeting stopped, in words the host reads. Pure.

The notifier's failure notice says ``Stage: downloading the recording from Zoom (mixer: download)``, and the
meeting page of a failed meeting says the same: both take the words from here.
"""

from __future__ import annotations

import unicodedata
from typing import Final

STAGE_WORDS: Final = {
    "tenant": "checking the account's configuration",
    "config": "checking the account's configuration",
    "auth": "getting access to the recording at Zoom",
    "download": "downloading the recording from Zoom",
    "verify": "checking the downloaded audio",
    "space": "making room for the recording's audio",
    "validate": "checking where the merged audio is",
    "merge": "merging the participants' audio",
    "upload": "storing the merged audio",
    "publish": "handing the audio on for transcription",
    "split": "splitting the audio into parts",
    "submit": "submitting the audio for transcription",
    "provider": "transcription at the provider",
    "status": "checking the transcription job",
    "insights": "fetching the transcript and insights",
    "transcript": "getting Zoom's transcript",
}
"""A stage a service gives up in, in words."""
SERVICE_WORDS: Final = {
    "mixer": "preparing the recording's audio",
    "submitter": "submitting the audio for transcription",
    "notifier": "collecting the transcript and insights",
}
"""What a service was doing, for a stage without words of its own."""
STAGE_MAX: Final = 200
"""Most characters of the stage line (the e-mail's bound)."""


def one_line(value: str, limit: int) -> str:
    """``value`` as one line of printable text (control and separator characters become spaces, runs collapse),
    at most ``limit`` characters: the e-mail's ``clean_line``."""
    chars = (" " if unicodedata.category(c).startswith(("C", "Z")) and c != " " else c for c in value)
    return " ".join("".join(chars).split())[:limit]


def stage_text(service: str, stage: str) -> str:
    """Where processing stopped, in words, with the technical name: ``downloading … (mixer: download)``."""
    words = STAGE_WORDS.get(stage) or SERVICE_WORDS.get(service) or "processing the recording"
    where = f"{service}: {stage}" if service else stage
    return one_line(f"{words} ({where})", STAGE_MAX)
