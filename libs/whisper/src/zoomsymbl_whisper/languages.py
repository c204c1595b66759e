"""A tenant's language as Whisper's language code, checked against faster-whisper's own list.

A tenant names its language as a BCP 47 tag (``en-US``, ``zh-Hant-TW``) or a POSIX-style one (``pt_BR``); Whisper
takes the base language in lower case (``en``, ``zh``, ``pt``). ``auto``, an empty tag or none at all ask for
Whisper's own detection. The tag comes from a work order (a stored record a Kafka event names): anything that is
not a short, well-formed tag of a language Whisper knows is refused, never passed on.
"""

from __future__ import annotations

import re
from functools import cache

from zoomsymbl_whisper.errors import TranscriberError

MAX_TAG_LENGTH = 32
"""The longest tag read (the work order's own bound); a longer one is refused, quoted only up to this length."""
DETECT = frozenset({"", "auto"})
"""Tags that ask Whisper to detect the language (on an English-only model: English)."""
_TAG = re.compile(r"[a-z]{2,3}(?:[-_][a-z0-9]{1,8})*")
# ISO 639 codes Whisper's list spells otherwise (as AssemblyAI's does, so one tenant language suits both):
# Norwegian Bokmål, Hebrew, Indonesian, Javanese, Filipino and Yiddish.
_WHISPER_SPELLING = {"nb": "no", "iw": "he", "in": "id", "jv": "jw", "fil": "tl", "ji": "yi"}


class UnsupportedLanguage(TranscriberError):
    """A work order's language that Whisper does not know, or that the loaded model cannot transcribe."""

    def __init__(self, language: str, model: str, *, english_only: bool) -> None:
        shown = language[:MAX_TAG_LENGTH]
        if english_only:
            message = (
                f"the language {shown!r} cannot be transcribed by the English-only Whisper model {model!r}:"
                " set the tenant's language to English, or run the transcriber with a multilingual model"
            )
        else:
            message = (
                f"the language {shown!r} is not one Whisper knows (model {model!r}):"
                " set the tenant's language to one of Whisper's languages (e.g. 'de', 'pt-BR') or 'auto'"
            )
        super().__init__(message)
        self.language = shown
        self.model = model
        self.english_only = english_only


@cache
def whisper_languages() -> frozenset[str]:
    """Every language code Whisper knows: faster-whisper's own list (its tokenizer's; a multilingual model's
    ``supported_languages`` is the same list)."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES  # type: ignore[import-untyped]

    return frozenset(str(code) for code in _LANGUAGE_CODES)


def whisper_language(tag: str | None, model: str = "") -> str | None:
    """Whisper's code for the tenant's ``tag`` (``en-US`` → ``en``, ``pt_BR`` → ``pt``, ``nb-NO`` → ``no``);
    None asks for detection (``auto``, empty, none). Raises :class:`UnsupportedLanguage` (naming ``model``) for a tag
    that is too long, malformed, or of a language Whisper does not know."""
    if tag is None:
        return None
    text = tag.strip().lower()
    if text in DETECT:
        return None
    if len(text) > MAX_TAG_LENGTH or not _TAG.fullmatch(text):
        raise UnsupportedLanguage(tag, model, english_only=False)
    base = re.split(r"[-_]", text, maxsplit=1)[0]
    code = _WHISPER_SPELLING.get(base, base)
    if code not in whisper_languages():
        raise UnsupportedLanguage(tag, model, english_only=False)
    return code
