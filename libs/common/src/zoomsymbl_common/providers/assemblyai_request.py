"""The JSON of AssemblyAI's ``POST /v2/transcript`` (https://www.assemblyai.com/docs/api-reference/transcripts/submit).

Pure, apart from the client (assemblyai.py): the language in AssemblyAI's own spelling, ``speech_models``
always, summaries and action items through Speech Understanding and topics through IAB categories where the
language has them.
"""

from __future__ import annotations

from typing import Any

from zoomsymbl_common.providers.base import SubmitRequest
from zoomsymbl_common.tenants import DEFAULT_ASSEMBLYAI_SPEECH_MODELS

DETECT = "auto"
"""The tenant language that leaves it to AssemblyAI to detect."""
_REGIONAL_ENGLISH = {"us": "en_us", "gb": "en_uk", "uk": "en_uk", "au": "en_au"}
# ISO 639 codes AssemblyAI spells otherwise (its language_code list, "Set Language Manually": no, he, id, jw,
# tl, yi); sent as they are, AssemblyAI refuses the transcript with 400.
_ASSEMBLYAI_SPELLING = {"nb": "no", "iw": "he", "in": "id", "jv": "jw", "fil": "tl", "ji": "yi"}
IAB_LANGUAGES = frozenset({"en", "en_us", "en_uk", "en_au"})
"""Topic Detection (IAB) is English only (Topic Detection page, "Supported languages")."""
SPEECH_UNDERSTANDING_LANGUAGES = frozenset(
    {"en", "es", "fr", "de", "it", "pt", "nl", "hi", "ja", "zh", "fi", "ko", "pl", "ru", "tr", "uk", "vi"}
)
"""Languages whose transcripts Speech Understanding summarises (the languages of AssemblyAI's Universal
model, which the LLM-based summarization and action items run over); others get a transcript and the
insights engine's sections only."""


def assemblyai_language(language: str) -> str:
    """AssemblyAI's code for a BCP 47 tag: ``en-US`` → ``en_us``, ``fr-FR`` → ``fr``, ``nb-NO`` → ``no``."""
    base, _, region = language.replace("_", "-").lower().partition("-")
    if base == "en" and region:
        return _REGIONAL_ENGLISH.get(region, "en")
    return _ASSEMBLYAI_SPELLING.get(base, base) or "en_us"


def transcript_body(
    request: SubmitRequest, audio_url: str, speech_models: tuple[str, ...] = DEFAULT_ASSEMBLYAI_SPEECH_MODELS
) -> dict[str, Any]:
    """The JSON of ``POST /v2/transcript`` for ``request`` (contains secrets: never log it).

    ``speech_models`` is always sent: without it AssemblyAI uses the account's default model, which it
    changes (to assemblyai-stt-3-7 on 2026-12-08, with no fallback to another model for a language it
    lacks: https://assemblyai.com/docs/pre-recorded-audio/assemblyai-stt-3-7-migration-guide).

    Only current parameters: summary and action items through ``speech_understanding.request`` (the old
    top-level summary and chapter parameters are deprecated, see the migration guides), topics through
    ``iab_categories`` where the language has it.

    ``auto`` asks for Automatic Language Detection (``language_detection``, never beside a ``language_code``:
    https://www.assemblyai.com/docs/pre-recorded-audio/language-detection). The language is then known only to
    AssemblyAI, so neither Speech Understanding nor IAB topics, which only some languages have, are asked for:
    the insights engine's sections stand in for them, whatever the language turns out to be.
    """
    detect = request.language == DETECT
    language = "" if detect else assemblyai_language(request.language)
    body: dict[str, Any] = {
        "audio_url": audio_url,
        **({"language_detection": True} if detect else {"language_code": language}),
        "webhook_url": request.webhook_url.get_secret_value(),
        "speech_models": list(speech_models),
    }
    if request.webhook_auth_header is not None:
        name, value = request.webhook_auth_header
        body["webhook_auth_header_name"] = name
        body["webhook_auth_header_value"] = value.get_secret_value()
    if request.channels > 1:
        body["multichannel"] = True
    elif request.diarization:
        body["speaker_labels"] = True
    understanding = speech_understanding_request(language) if language else {}
    if understanding:
        body["speech_understanding"] = {"request": understanding}
    if language in IAB_LANGUAGES:
        body["iab_categories"] = True
    return body


def speech_understanding_request(language: str) -> dict[str, Any]:
    """``speech_understanding.request``: topic summaries and action items, where ``language`` has them."""
    if language.split("_")[0] not in SPEECH_UNDERSTANDING_LANGUAGES:
        return {}
    return {"summarization": {"summary_type": "bullets"}, "action_items": {}}
