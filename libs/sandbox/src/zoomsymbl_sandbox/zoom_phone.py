"""SANDBOX: Zoom Phone call recordings — the MP3 files, their listing, downloads and the signed webhook.

Follows Zoom's published contracts:
- webhook ``phone.recording_completed`` (https://developers.zoom.us/docs/api/phone/events/): ``payload.account_id``
  and ``payload.object.recordings[]`` with ``id``, ``caller_*``/``callee_*`` (number, name, did_number),
  ``direction``, ``duration``, ``date_time``, ``end_time``, ``download_url``, ``recording_type``, ``call_id``,
  ``call_log_id``, ``user_id`` and ``owner`` (type, id, name, integer ``extension_number``); no ``file_size``;
- ``GET /phone/recordings`` ("Get call recordings", https://developers.zoom.us/docs/api/phone/): account level,
  the last 30 days by default, ``to`` required with ``from``, one month of data per answer (a longer range is
  answered for its last month, zoom_api.py ``list_phone_recordings``), ``page_size`` (default 30, at most 300),
  ``next_page_token`` (expires after 15 minutes), rate-limit label Medium; 429s are injected as faults on route
  ``phone_recordings``;
- ``GET /phone/recording/download/{id}``: the MP3 (48 kHz mono, as Zoom records calls; stereo on request), Bearer
  OAuth token only;
- ``GET /users/{userId}``: the user's ``email`` (how a phone recording's owner becomes an e-mail address).
Speech is espeak-ng, like the meeting tracks: the caller with one voice, the callee with another.
"""

from __future__ import annotations

import hashlib
import math
import wave
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from zoomsymbl_sandbox.zoom_audio import MediaFile, _cached, _timeout
from zoomsymbl_sandbox.zoom_specs import an_hour_ago, user_id, utc_seconds
from zoomsymbl_sandbox.zoom_subprocess import run_tool

PHONE_SAMPLE_RATE = 48_000
GAP_S = 0.6
LEAD_IN_S = 0.5
_VOICES = {"caller": "en", "callee": "en+f3"}
_MP3 = ("-c:a", "libmp3lame", "-ar", str(PHONE_SAMPLE_RATE), "-b:a", "64k")
_QUIET = ("-hide_banner", "-nostdin", "-loglevel", "error", "-y")
Side = Literal["caller", "callee"]


class PhoneCallSpec(BaseModel):
    """One recorded Zoom Phone call: who called whom, who owns the recording, and what was said in turn."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    recording_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    call_id: str = "7072598989368295984"
    caller_number: str = "+12092592844"
    caller_name: str = "Jack Chill"
    callee_number: str = "1026"
    callee_name: str = "Jill Chill"
    direction: Literal["inbound", "outbound", "internal"] = "inbound"
    owner_email: str = "host@example.com"
    owner_name: str = "Jill Chill"
    owner_extension: int = 1026
    start_time: datetime = Field(default_factory=an_hour_ago)
    lines: tuple[tuple[Side, str], ...] = Field(min_length=1)
    stereo: bool = Field(False, description="caller left, callee right (Zoom documents mono)")

    @field_validator("start_time")
    @classmethod
    def _utc_seconds(cls, value: datetime) -> datetime:
        return utc_seconds(value)

    @property
    def owner_id(self) -> str:
        """A stable Zoom-style user id derived from the owner's e-mail (like a meeting host's)."""
        return user_id(self.owner_email)


@dataclass(frozen=True)
class RecordedCall:
    """A call and its generated MP3."""

    spec: PhoneCallSpec
    media: MediaFile
    duration_s: int


def demo_call_spec(recording_id: str = "demophonecall0001", *, owner_email: str = "host@example.com") -> PhoneCallSpec:
    """A short support call (``make demo``): a question, a decision, an action item and a follow-up."""
    return PhoneCallSpec(
        recording_id=recording_id,
        owner_email=owner_email,
        lines=(
            ("caller", "Hi Jill, this is Jack. Can you renew our support contract before Friday?"),
            ("callee", "Yes. We decided to renew it for one year. I will send you the new contract tomorrow."),
            ("caller", "Great, thanks. Let's talk again next week about the pricing."),
        ),
    )


def _wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as audio:
        return audio.getnframes() / audio.getframerate()


async def _speak(text: str, voice: str, out: Path) -> float:
    script = out.with_suffix(".txt")
    try:
        script.write_text(text, encoding="utf-8")  # through a file: text starting with "-" is never an option
        await run_tool(["espeak-ng", "-v", voice, "-w", str(out), "-f", str(script)], timeout=60)
    finally:
        script.unlink(missing_ok=True)
    return _wav_seconds(out)


async def _render(spec: PhoneCallSpec, out: Path) -> None:
    wavs = [out.with_name(f"{out.stem}.line{i}.wav") for i in range(len(spec.lines))]
    try:
        offsets: list[float] = []
        clock = LEAD_IN_S
        for (side, text), wav in zip(spec.lines, wavs, strict=True):
            offsets.append(clock)
            clock += await _speak(text, _VOICES[side], wav) + GAP_S
        total = math.ceil(clock)
        inputs = [arg for wav in wavs for arg in ("-i", str(wav))]
        await run_tool(
            ["ffmpeg", *_QUIET, *inputs, "-filter_complex", _graph(spec, offsets, total), "-map", "[out]", *_MP3,
             "-ac", "2" if spec.stereo else "1", str(out)],
            timeout=_timeout(total),
        )  # fmt: skip
    finally:
        for wav in wavs:
            wav.unlink(missing_ok=True)


def _graph(spec: PhoneCallSpec, offsets: list[float], total: int) -> str:
    parts = [
        f"[{i}:a]aresample={PHONE_SAMPLE_RATE},aformat=channel_layouts=mono,"
        f"adelay={round(offset * 1000)}:all=1,apad=whole_dur={total}[l{i}]"
        for i, offset in enumerate(offsets)
    ]

    def mixed(indices: list[int], label: str) -> None:
        if not indices:
            parts.append(f"anullsrc=r={PHONE_SAMPLE_RATE}:cl=mono,atrim=end={total}[{label}]")
        elif len(indices) == 1:
            parts.append(f"[l{indices[0]}]atrim=end={total}[{label}]")
        else:
            inputs = "".join(f"[l{i}]" for i in indices)
            parts.append(f"{inputs}amix=inputs={len(indices)}:normalize=0,atrim=end={total}[{label}]")

    if not spec.stereo:
        mixed(list(range(len(offsets))), "out")
        return ";".join(parts)
    mixed([i for i, (side, _) in enumerate(spec.lines) if side == "caller"], "left")
    mixed([i for i, (side, _) in enumerate(spec.lines) if side == "callee"], "right")
    parts.append("[left][right]join=inputs=2:channel_layout=stereo[out]")
    return ";".join(parts)


async def generate_call_media(spec: PhoneCallSpec, cache_dir: Path) -> RecordedCall:
    """Generate (or reuse from ``cache_dir``) the MP3 Zoom Phone would have recorded for ``spec``."""
    key = [list(spec.lines), spec.stereo, LEAD_IN_S, GAP_S, PHONE_SAMPLE_RATE]

    async def produce(out: Path) -> None:
        await _render(spec, out)

    media = await _cached(cache_dir, "phone", key, "mp3", produce)
    probe = await run_tool(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(media.path)], timeout=30
    )
    duration = math.ceil(float(probe.decode().strip() or "0"))
    return RecordedCall(spec=spec, media=media, duration_s=max(1, duration))


def phone_recording_entry(call: RecordedCall, base_url: str) -> dict[str, Any]:
    """One entry of ``recordings[]``, field for field as Zoom documents it (webhook and listing alike)."""
    spec = call.spec
    end = spec.start_time + timedelta(seconds=call.duration_s)
    return {
        "id": spec.recording_id,
        "user_id": spec.owner_id,
        "caller_number": spec.caller_number,
        "caller_number_type": 2 if spec.caller_number.startswith("+") else 1,
        "caller_name": spec.caller_name,
        "callee_number": spec.callee_number,
        "callee_number_type": 2 if spec.callee_number.startswith("+") else 1,
        "callee_name": spec.callee_name,
        "duration": call.duration_s,
        "download_url": f"{base_url}/v2/phone/recording/download/{spec.recording_id}",
        "direction": spec.direction,
        "date_time": spec.start_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_time": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "recording_type": "Automatic",
        "call_id": spec.call_id,
        "call_log_id": hashlib.sha256(spec.recording_id.encode()).hexdigest()[:32],
        "auto_delete_policy": "1 year",
        "owner": {
            "type": "user",
            "id": spec.owner_id,
            "name": spec.owner_name,
            "extension_number": spec.owner_extension,
            "has_access_permission": True,
        },
    }


def phone_recording_completed_event(entries: list[dict[str, Any]], account_id: str, *, event_ts: int) -> dict[str, Any]:
    """The ``phone.recording_completed`` body (no download token: phone recordings need the OAuth token)."""
    return {
        "event": "phone.recording_completed",
        "event_ts": event_ts,
        "payload": {"account_id": account_id, "object": {"recordings": entries}},
    }


__all__ = [
    "PHONE_SAMPLE_RATE",
    "PhoneCallSpec",
    "RecordedCall",
    "demo_call_spec",
    "generate_call_media",
    "phone_recording_completed_event",
    "phone_recording_entry",
]
