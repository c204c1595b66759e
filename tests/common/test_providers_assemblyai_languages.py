"""The client sends every language tag as a ``language_code`` AssemblyAI lists.

https://www.assemblyai.com/docs/pre-recorded-audio/set-language-manually lists the accepted codes; a few
differ from the ISO 639-1 code a BCP 47 tag carries (Norwegian Bokmål ``nb`` is AssemblyAI's ``no``), and
the sandbox, like AssemblyAI, refuses a code it does not list.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from zoomsymbl_common.providers.assemblyai_request import assemblyai_language, transcript_body
from zoomsymbl_sandbox.provider_assemblyai_request import LANGUAGE_CODES

from tests.common.test_providers_assemblyai import request


@pytest.mark.parametrize(
    ("tag", "code"),
    [("nb-NO", "no"), ("nb", "no"), ("iw-IL", "he"), ("in-ID", "id"), ("jv", "jw"), ("fil-PH", "tl"), ("ji", "yi")],
)
def test_tags_assemblyai_spells_otherwise_become_its_codes(tag: str, code: str) -> None:
    assert assemblyai_language(tag) == code
    assert code in LANGUAGE_CODES


@pytest.mark.parametrize(
    "tag", ["en-US", "en-GB", "en-AU", "en-IN", "en", "fr-CA", "pt-BR", "zh-Hant-TW", "no-NO", "nn", "he", "de-CH"]
)
def test_common_tags_become_codes_assemblyai_lists(tag: str) -> None:
    assert assemblyai_language(tag) in LANGUAGE_CODES


def test_auto_asks_for_language_detection_and_no_language_code() -> None:
    """https://www.assemblyai.com/docs/pre-recorded-audio/language-detection. What only some languages have (Speech
    Understanding, IAB topics) is not asked for a language not known yet: the insights engine covers it."""
    body = transcript_body(request(Path(__file__), "https://n.example/hook", language="auto"), "https://audio")
    assert body["language_detection"] is True
    assert "language_code" not in body
    assert "speech_understanding" not in body and "iab_categories" not in body
    assert body["speech_models"], "the models stay pinned: detection routes among them"
