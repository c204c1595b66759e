"""SANDBOX AssemblyAI transcript request parsing. Pure.

Follows https://www.assemblyai.com/docs/api-reference/transcripts/submit as of 2026: the deprecated
top-level ``summarization``, ``summary_model``, ``summary_type`` and ``auto_chapters`` are refused with
400 naming the replacement (https://www.assemblyai.com/docs/speech-understanding/migration-guides/summarization
and .../migration-guides/auto-chapters), so a client can never depend on them, as is the singular ``speech_model``
(AssemblyAI answers 400 "speech_model is deprecated. Use "speech_models" instead":
https://www.assemblyai.com/docs/pre-recorded-audio/select-the-speech-model); summaries and action items
come from ``speech_understanding.request`` (the answer: :mod:`zoomsymbl_sandbox.provider_assemblyai_transcript`).

``language_code`` must be one of the codes https://www.assemblyai.com/docs/pre-recorded-audio/set-language-manually
lists (``en_us`` when absent); any other, such as a BCP 47 tag or an ISO code AssemblyAI spells otherwise
(``nb`` for its ``no``), is refused with 400. ``language_detection: true`` (Automatic Language Detection,
https://www.assemblyai.com/docs/pre-recorded-audio/language-detection) leaves the language to AssemblyAI: the
transcript answers the detected one as its ``language_code`` (here always ``en``, with a ``language_confidence``).
A ``language_code`` beside it is refused with 400: the page has one or the other (a code set by hand, or detection),
and clients of the API treat them as exclusive.

``speech_models`` (https://www.assemblyai.com/docs/pre-recorded-audio/select-the-speech-model) is a list of
model ids in priority order; anything but a non-empty list of ids AssemblyAI serves
(https://assemblyai.com/docs/getting-started/model-versions-and-deprecations) is refused with 400 naming the
accepted ids. The transcript answers ``speech_model_used``: the first id of the list, or, without
``speech_models``, the account's default model (``assemblyai-stt-3-7`` for every account from 2026-12-08:
https://assemblyai.com/docs/pre-recorded-audio/assemblyai-stt-3-7-migration-guide).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


class RequestError(ValueError):
    """A transcript request AssemblyAI answers with 400."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# fmt: off
LANGUAGE_CODES = frozenset((
    "en", "en_au", "en_uk", "en_us", "es", "fr", "de", "it", "pt", "nl", "hi", "ja", "zh", "fi", "ko", "pl", "ru",
    "tr", "uk", "vi", "af", "sq", "am", "ar", "hy", "as", "az", "ba", "eu", "be", "bn", "bs", "br", "bg", "my", "ca",
    "hr", "cs", "da", "et", "fo", "gl", "ka", "el", "gu", "ht", "ha", "haw", "he", "hu", "is", "id", "jw", "kn",
    "kk", "km", "lo", "la", "lv", "ln", "lt", "lb", "mk", "mg", "ms", "ml", "mt", "mi", "mr", "mn", "ne", "no", "nn",
    "oc", "pa", "ps", "fa", "ro", "sa", "sr", "sn", "sd", "si", "sk", "sl", "so", "su", "sw", "sv", "tl", "tg", "ta",
    "tt", "te", "th", "bo", "tk", "ur", "uz", "cy", "yi", "yo",
))
# fmt: on
"""The ``language_code`` values AssemblyAI documents (Set Language Manually,
https://www.assemblyai.com/docs/pre-recorded-audio/set-language-manually: "Possible values are found in
Supported Languages"); any other code is refused with 400."""

SPEECH_MODELS = ("assemblyai-stt-3-7", "universal-3-5-pro", "universal-3-pro", "universal-2")
"""Pre-recorded model ids ``speech_models`` accepts (universal-3-5-pro, universal-3-pro: deprecated, still served)."""
ACCOUNT_DEFAULT_MODEL = "assemblyai-stt-3-7"


@dataclass(frozen=True)
class TranscriptRequest:
    audio_url: str
    speech_models: tuple[str, ...] | None = None
    speech_model_used: str = ACCOUNT_DEFAULT_MODEL
    multichannel: bool = False
    speaker_labels: bool = False
    speakers_expected: int | None = None
    webhook_url: str | None = None
    webhook_auth_header_name: str | None = None
    webhook_auth_header_value: str | None = None
    language_code: str = "en_us"
    language_detection: bool = False
    summarization: bool = False
    action_items: bool = False
    iab_categories: bool = False


DEPRECATED = {
    "summarization": "speech_understanding.request.summarization",
    "summary_model": "speech_understanding.request.summarization (effort)",
    "summary_type": "speech_understanding.request.summarization.summary_type",
    "auto_chapters": "speech_understanding.request.summarization",
    "speech_model": "speech_models",
}
_UNDERSTANDING_TASKS = ("summarization", "action_items", "translation", "speaker_identification", "custom_formatting")


def _flag(body: Mapping[str, object], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise RequestError(f"{name} must be a boolean, got {value!r}")
    return value


def _text(body: Mapping[str, object], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise RequestError(f"{name} must be a string, got {value!r}")
    return value


def _speakers_expected(body: Mapping[str, object]) -> int | None:
    value = body.get("speakers_expected")
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise RequestError(f"speakers_expected must be a positive integer, got {value!r}")
    return value


def _understanding(body: Mapping[str, object]) -> tuple[bool, bool]:
    """(summarization, action_items) asked for in ``speech_understanding.request``."""
    raw = body.get("speech_understanding")
    if raw is None:
        return False, False
    request = raw.get("request") if isinstance(raw, dict) else None
    if not isinstance(request, dict):
        raise RequestError("speech_understanding must be an object with a request object")
    for task, options in request.items():
        if task not in _UNDERSTANDING_TASKS:
            raise RequestError(f"speech_understanding.request.{task} is not a supported task")
        if not isinstance(options, dict):
            raise RequestError(f"speech_understanding.request.{task} must be an object")
    return "summarization" in request, "action_items" in request


def _speech_models(body: Mapping[str, object]) -> tuple[str, ...] | None:
    """``speech_models`` as sent, or None when absent or null (the account's default model is used)."""
    value = body.get("speech_models")
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(model, str) and model in SPEECH_MODELS for model in value)
    ):
        raise RequestError(f"speech_models must be a non-empty list of model ids among {list(SPEECH_MODELS)!r}")
    return tuple(value)


def _language_code(body: Mapping[str, object]) -> str:
    """``language_code`` as sent (``en_us`` when absent or null); a code AssemblyAI does not list is refused."""
    code = _text(body, "language_code")
    if code is None:
        return "en_us"
    if code not in LANGUAGE_CODES:
        raise RequestError(f"language_code {code!r} is not a supported language code")
    return code


DETECTED_LANGUAGE = "en"
"""What the sandbox's detection finds (its audio is English speech or a tone)."""


def _language(body: Mapping[str, object]) -> tuple[str, bool]:
    """(``language_code``, ``language_detection``): the code as sent, or the detected one when detection is on."""
    if not _flag(body, "language_detection"):
        return _language_code(body), False
    if body.get("language_code") is not None:
        raise RequestError("language_code cannot be used together with language_detection: send one of them")
    return DETECTED_LANGUAGE, True


def parse_request(body: Mapping[str, object], account_default: str = ACCOUNT_DEFAULT_MODEL) -> TranscriptRequest:
    """Known fields are type-checked, deprecated ones refused; unknown ones are ignored (the API has many more)."""
    for name, replacement in DEPRECATED.items():
        if name in body:
            raise RequestError(f"{name} is deprecated; use {replacement}")
    url = body.get("audio_url")
    if not isinstance(url, str) or not url:
        raise RequestError("audio_url is required")
    summarization, action_items = _understanding(body)
    models = _speech_models(body)
    language_code, language_detection = _language(body)
    request = TranscriptRequest(
        audio_url=url,
        speech_models=models,
        speech_model_used=models[0] if models else account_default,
        multichannel=_flag(body, "multichannel"),
        speaker_labels=_flag(body, "speaker_labels"),
        speakers_expected=_speakers_expected(body),
        webhook_url=_text(body, "webhook_url"),
        webhook_auth_header_name=_text(body, "webhook_auth_header_name"),
        webhook_auth_header_value=_text(body, "webhook_auth_header_value"),
        language_code=language_code,
        language_detection=language_detection,
        summarization=summarization,
        action_items=action_items,
        iab_categories=_flag(body, "iab_categories"),
    )
    if bool(request.webhook_auth_header_name) != bool(request.webhook_auth_header_value):
        raise RequestError("webhook_auth_header_name and webhook_auth_header_value go together")
    if request.iab_categories and not request.language_code.startswith("en"):
        raise RequestError(f"iab_categories is not available for language_code {request.language_code!r}")
    return request
