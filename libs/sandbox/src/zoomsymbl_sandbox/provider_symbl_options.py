"""SANDBOX parsing and validation of Symbl "process audio" options (query string or JSON body). Pure.

Imitates, as Symbl documented them:
- POST Audio, https://docs.symbl.ai/docs/async-api/overview/audio/post-audio/ : ``Content-Type`` is
  optional; when given it must be audio/wav, audio/mpeg, audio/mp3 or audio/wave, "and the audio format
  is validated" (here: WAV must hold PCM, MPEG must hold MP3); without it the format is detected.
- POST Audio URL, https://docs.symbl.ai/docs/async-api/overview/audio/post-audio-url/ : the options,
  ``enableSummary`` among them ("Setting this parameter to true allows you to generate Summaries").
- FAQ, https://docs.symbl.ai/docs/faq/ : "we support mono and dual-channel audio files"; with
  diarization enabled it "takes priority over Speaker recognition per Channel".
- Response codes, https://docs.symbl.ai/docs/developer-tools/errors/ : an invalid request is a 400
  (Symbl lists no 415).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from zoomsymbl_sandbox.provider_audio import AudioInfo
from zoomsymbl_sandbox.provider_insights import Speaker


class OptionsError(ValueError):
    """Options Symbl would answer with 400; ``message`` goes into the error body."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


MAX_CHANNELS = 2
"""Mono and dual-channel files only (FAQ)."""

UPLOAD_MEDIA: dict[str, str] = {"audio/wav": "wav", "audio/wave": "wav", "audio/mpeg": "mp3", "audio/mp3": "mp3"}
"""The ``Content-Type`` values POST Audio accepts, and the format each one declares."""


@dataclass(frozen=True)
class SymblOptions:
    name: str | None = None
    webhook_url: str | None = None
    language_code: str = "en-US"
    separate_channels: bool = False
    speakers: dict[int, Speaker] = field(default_factory=dict)
    diarization: bool = False
    diarization_count: int = 1
    enable_summary: bool = False

    @property
    def per_channel(self) -> bool:
        """Channels recognised separately: asked for, and not overridden by diarization (FAQ)."""
        return self.separate_channels and not self.diarization


_SEPARATE = "enableSeparateRecognitionPerChannel"


def _bool(value: object, option: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise OptionsError(f"{option} must be true or false, got {value!r}")


def _text(value: object, option: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise OptionsError(f"{option} must be a string, got {value!r}")


def _speaker(entry: object) -> tuple[int, Speaker]:
    if not isinstance(entry, dict):
        raise OptionsError(f"channelMetadata entries must be objects, got {entry!r}")
    channel, speaker = entry.get("channel"), entry.get("speaker")
    if not isinstance(channel, int) or isinstance(channel, bool) or channel < 1:
        raise OptionsError(f"channelMetadata channel numbers start at 1, got {channel!r}")
    if not isinstance(speaker, dict) or not isinstance(speaker.get("name"), str):
        raise OptionsError(f"channelMetadata channel {channel!r} needs speaker.name")
    email = speaker.get("email", "")
    if not isinstance(email, str):
        raise OptionsError(f"channelMetadata channel {channel!r} speaker.email must be a string")
    return channel, Speaker(speaker["name"], email)


def parse_channel_metadata(raw: object) -> dict[int, Speaker]:
    if raw is None:
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise OptionsError(f"channelMetadata is not valid JSON: {exc}") from exc
    if not isinstance(raw, list):
        raise OptionsError("channelMetadata must be a list")
    speakers: dict[int, Speaker] = {}
    for entry in raw:
        channel, speaker = _speaker(entry)
        if channel in speakers:
            raise OptionsError(f"channelMetadata channel {channel!r} appears twice")
        if channel > MAX_CHANNELS:
            raise OptionsError(
                f"channelMetadata names channel {channel!r}; mono and dual-channel audio files are supported"
            )
        speakers[channel] = speaker
    return speakers


def _count(value: object) -> int:
    try:
        count = int(str(value))
    except ValueError:
        raise OptionsError(f"diarizationSpeakerCount must be an integer, got {value!r}") from None
    if count < 1:
        raise OptionsError(f"diarizationSpeakerCount must be at least 1, got {count!r}")
    return count


def parse_options(raw: Mapping[str, object]) -> SymblOptions:
    """Options from the query string (all strings) or the JSON body of ``/v1/process/audio/url``."""
    return SymblOptions(
        name=_text(raw.get("name"), "name"),
        webhook_url=_text(raw.get("webhookUrl"), "webhookUrl"),
        language_code=_text(raw.get("languageCode"), "languageCode") or "en-US",
        separate_channels=_bool(raw.get(_SEPARATE, False), _SEPARATE),
        speakers=parse_channel_metadata(raw.get("channelMetadata")),
        diarization=_bool(raw.get("enableSpeakerDiarization", False), "enableSpeakerDiarization"),
        diarization_count=_count(raw.get("diarizationSpeakerCount", 1)),
        enable_summary=_bool(raw.get("enableSummary", False), "enableSummary"),
    )


def declared_format(content_type: str | None) -> str | None:
    """The format a POST Audio ``Content-Type`` declares (None when absent: Symbl detects it)."""
    if content_type is None:
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in UPLOAD_MEDIA:
        raise OptionsError(
            f"Content-Type {media!r} is not accepted: use audio/wav, audio/mpeg, audio/mp3 or audio/wave, "
            "or send no Content-Type and let the format be detected"
        )
    return UPLOAD_MEDIA[media]


def check_declared(declared: str | None, info: AudioInfo) -> None:
    """A declared format is validated against the file (WAV holds PCM, MPEG holds MP3)."""
    if declared is None:
        return
    matches = info.codec.startswith("pcm_") if declared == "wav" else info.codec == "mp3"
    if not matches:
        raise OptionsError(f"Content-Type declares {declared!r} audio but the file holds {info.codec!r}")


def check_against_audio(options: SymblOptions, info: AudioInfo, max_duration_s: float) -> None:
    """The checks Symbl makes once it has looked at the file."""
    if info.duration_s > max_duration_s:
        raise OptionsError(f"audio is {info.duration_s:.0f} s long; the maximum is {max_duration_s:.0f} s per file")
    if info.channels > MAX_CHANNELS:
        raise OptionsError(f"audio has {info.channels!r} channels; mono and dual-channel audio files are supported")
    if not options.per_channel:
        return
    expected = set(range(1, info.channels + 1))
    if set(options.speakers) != expected:
        raise OptionsError(
            f"channelMetadata describes channels {sorted(options.speakers)!r} "
            f"but the file has {info.channels!r} channel(s): {sorted(expected)!r}"
        )
