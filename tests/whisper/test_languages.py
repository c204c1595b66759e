"""A work order's language reaches faster-whisper as Whisper's code; one Whisper or the model cannot do is refused.

The mapping is pure; the model's side runs real ffmpeg with stand-in models (multilingual and English-only), since
the only model here is the packaged tiny.en (tests/transcriber/test_language.py runs that one through the worker).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from zoomsymbl_whisper import (
    ModelConfig,
    Transcriber,
    TranscriberError,
    UnsupportedLanguage,
    whisper_language,
    whisper_languages,
)

from tests.support.audio import sine_flac


class StandInModel:
    """Says which languages it supports (as faster-whisper's ``WhisperModel.supported_languages``) and records the
    language of every window it is asked to transcribe."""

    def __init__(self, supported: list[str]) -> None:
        self.supported_languages = supported
        self.languages: list[str | None] = []

    def transcribe(self, samples: Any, **kwargs: Any) -> tuple[list[SimpleNamespace], None]:
        self.languages.append(kwargs["language"])
        return [SimpleNamespace(text="words", start=0.0, end=1.0)], None


def multilingual() -> StandInModel:
    return StandInModel(sorted(whisper_languages()))


def transcriber(model: StandInModel, **config: Any) -> Transcriber:
    loaded = Transcriber(ModelConfig(Path("no-model"), window_seconds=1.0, name="large-v3", **config))
    loaded._model = model  # loaded: the stand-in
    return loaded


@pytest.mark.parametrize(
    ("tag", "code"),
    [
        ("en-US", "en"),
        ("de", "de"),
        ("DE-at", "de"),
        ("pt_BR", "pt"),
        ("zh-Hant-TW", "zh"),
        ("yue-HK", "yue"),
        ("haw", "haw"),
        (" fr-CA ", "fr"),
        ("nb-NO", "no"),  # ISO 639 codes Whisper spells otherwise
        ("iw", "he"),
        ("in-ID", "id"),
        ("jv", "jw"),
        ("fil-PH", "tl"),
        ("ji", "yi"),
    ],
)
def test_a_tenants_tag_becomes_whispers_code(tag: str, code: str) -> None:
    assert whisper_language(tag) == code


@pytest.mark.parametrize("tag", [None, "", "  ", "auto", "AUTO"])
def test_auto_empty_and_none_ask_for_detection(tag: str | None) -> None:
    assert whisper_language(tag) is None


@pytest.mark.parametrize(
    "tag", ["xx-YY", "english", "en US", "de\x00", "d\ne", "de;rm -rf", "x-private", "-de", "de-", "e", "de-" + "a" * 9]
)
def test_an_unknown_or_malformed_tag_is_refused_naming_the_tag_and_the_model(tag: str) -> None:
    with pytest.raises(UnsupportedLanguage) as refused:
        whisper_language(tag, "large-v3")
    assert isinstance(refused.value, TranscriberError), "the transcriber's permanent failure"
    assert f"the language {tag!r} is not one Whisper knows (model 'large-v3')" in refused.value.message
    assert not refused.value.english_only


def test_an_overlong_tag_is_refused_and_quoted_only_up_to_the_bound() -> None:
    tag = "de-" + "-abcdefgh" * 10_000
    with pytest.raises(UnsupportedLanguage) as refused:
        whisper_language(tag, "large-v3")
    assert repr(tag[:32]) in refused.value.message
    assert len(refused.value.message) < 300


def test_the_list_is_faster_whispers_own() -> None:
    from faster_whisper.tokenizer import _LANGUAGE_CODES  # type: ignore[import-untyped]

    assert whisper_languages() == frozenset(_LANGUAGE_CODES)
    # Every spelling the mapping rewrites to must be in it (else that language would be refused after all).
    for tag in ("nb", "iw", "in", "jv", "fil", "ji"):
        assert whisper_language(tag) in whisper_languages()


async def test_a_german_work_order_on_a_multilingual_model_passes_de_to_faster_whisper(tmp_path: Path) -> None:
    model = multilingual()
    loaded = transcriber(model)
    tone = sine_flac(tmp_path / "tone.flac", 3)

    language = loaded.language_for("de-DE")
    assert language == "de"
    await loaded.transcribe_channel(tone, 1, language=language)
    assert model.languages == ["de", "de", "de"], "every window of the channel"


async def test_a_call_naming_no_language_takes_the_configs_or_detects(tmp_path: Path) -> None:
    tone = sine_flac(tmp_path / "tone.flac", 1)
    detected, configured = multilingual(), multilingual()
    assert transcriber(detected).language_for("auto") is None
    await transcriber(detected).transcribe_channel(tone, 1, language=None)
    await transcriber(configured, language="fr").transcribe_channel(tone, 1)
    assert (detected.languages, configured.languages) == ([None], ["fr"])


def test_an_english_only_model_refuses_any_other_language_naming_it_and_the_model() -> None:
    english_only = transcriber(StandInModel(["en"]))
    assert english_only.language_for("en-GB") == "en"
    assert english_only.language_for("auto") is None  # detection on an English-only model is English
    with pytest.raises(UnsupportedLanguage) as refused:
        english_only.language_for("de-DE")
    assert refused.value.english_only
    assert refused.value.message.startswith(
        "the language 'de-DE' cannot be transcribed by the English-only Whisper model 'large-v3'"
    )
