"""What one Symbl submission sends: its processing options, the upload's Content-Type, the channel rule. Pure.

Built against Symbl's published documentation (its API hosts have reportedly not resolved since
2026-08, so these pages are the contract, not observed behaviour):

- POST Audio, https://docs.symbl.ai/docs/async-api/overview/audio/post-audio/ : the body is the
  recording and the options are query parameters. ``Content-Type`` is optional: "Accepted values are
  audio/wav, audio/mpeg, audio/mp3 and audio/wave only. If your audio is in a format other than
  these, do not use this field" (the API then detects the format itself).
- POST Audio URL, https://docs.symbl.ai/docs/async-api/overview/audio/post-audio-url/ : a JSON body
  with ``url`` (public, no redirects) and the same options, ``enableSummary`` among them.
- Get summary using Async API, https://docs.symbl.ai/docs/get-summary-using-async-api :
  ``enableSummary=true`` at submit, otherwise the conversation has no summary.
- FAQ, https://docs.symbl.ai/docs/faq/ : formats mp3, wav, amr, aac, ac3, aiff, flac, ogg, opus, wma
  and m4a; "we support mono and dual-channel audio files"; diarization, when enabled, takes priority
  over per-channel recognition (so a request never asks for both).
- Speaker separation, https://docs.symbl.ai/docs/asr-speaker-separation : a file without separate
  channels is separated with ``enableSpeakerDiarization`` + ``diarizationSpeakerCount`` (English only
  on that page; English and Spanish on the older tutorial).

So a FLAC, Opus or M4A file is uploaded as bytes *without* a ``Content-Type`` (or fetched by URL),
a WAV file as ``audio/wav``; and a mixed file of more than two channels is never sent as it is: the
submitter downmixes it to mono first (``zoomsymbl_submitter.downmix``) and the request then asks for
diarization with one speaker per channel of the original file. The conversation keeps the meeting's
name (operators and tests find jobs by it); the job document says ``downmixed_from_channels``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.events import AudioFormat, ChannelAssignment
from zoomsymbl_common.providers.base import SubmitRequest

MAX_CHANNELS = 2
"""Mono and dual-channel files only (Symbl's FAQ)."""

ACCEPTED_UPLOAD_TYPES = frozenset({"audio/wav", "audio/mpeg", "audio/mp3", "audio/wave"})
"""The only ``Content-Type`` values ``POST /v1/process/audio`` accepts (or none at all)."""

UPLOAD_CONTENT_TYPE: Mapping[AudioFormat, str | None] = {"wav": "audio/wav", "flac": None, "opus": None, "m4a": None}
"""The ``Content-Type`` a raw upload of each mixed format carries; None = no header (Symbl detects it)."""


def speaker_count(channel_map: Sequence[ChannelAssignment]) -> int:
    """Distinct voices: one per own channel, one per file on a shared ("Others") channel; at least 2."""
    heard = sum(len(c.file_ids) if c.mixed else 1 for c in channel_map)
    return max(2, heard)


def downmixed_from(request: SubmitRequest) -> int:
    """How many channels a mono file was mixed down from (0 when it was not: the map names one channel)."""
    named = len({c.channel for c in request.channel_map})
    return named if request.channels == 1 and named > 1 else 0


def check_channels(request: SubmitRequest) -> None:
    """Refuse a file Symbl's documentation does not cover, before any byte is sent."""
    if request.channels > MAX_CHANNELS:
        raise PoisonInputError(
            f"symbl takes mono or dual-channel files (FAQ), this one has {request.channels!r} channels: "
            "the submitter should have mixed it down to mono",
            stage="submit",
        )


def _channel_metadata(request: SubmitRequest) -> list[dict[str, Any]]:
    by_channel = {c.channel: c for c in request.channel_map}
    metadata = []
    for channel in range(1, request.channels + 1):
        assigned = by_channel.get(channel)
        speaker: dict[str, str] = {"name": assigned.participant_name if assigned else f"Channel {channel}"}
        if assigned is not None and assigned.participant_email:
            speaker["email"] = assigned.participant_email
        metadata.append({"channel": channel, "speaker": speaker})
    return metadata


def symbl_options(request: SubmitRequest) -> dict[str, Any]:
    """The processing options of a submit request, as Symbl's JSON body names them."""
    options: dict[str, Any] = {
        "name": request.name,
        "languageCode": request.language,
        "webhookUrl": request.webhook_url.get_secret_value(),
        "enableSummary": True,
    }
    if request.channels > 1:
        options["enableSeparateRecognitionPerChannel"] = True
        options["channelMetadata"] = _channel_metadata(request)
    elif request.diarization or downmixed_from(request):
        options["enableSpeakerDiarization"] = True
        options["diarizationSpeakerCount"] = speaker_count(request.channel_map)
    return options


def as_query(options: Mapping[str, Any]) -> dict[str, str]:
    """Options as query parameters (``/v1/process/audio`` takes the body as audio)."""
    query: dict[str, str] = {}
    for key, value in options.items():
        if isinstance(value, bool):
            query[key] = "true" if value else "false"
        elif isinstance(value, list | dict):
            query[key] = json.dumps(value, separators=(",", ":"))
        else:
            query[key] = str(value)
    return query


__all__ = [
    "ACCEPTED_UPLOAD_TYPES",
    "MAX_CHANNELS",
    "UPLOAD_CONTENT_TYPE",
    "as_query",
    "check_channels",
    "downmixed_from",
    "speaker_count",
    "symbl_options",
]
