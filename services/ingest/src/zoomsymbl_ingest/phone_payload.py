"""Zoom Phone recording shapes → :class:`RecordingCompleted`: pure functions, no I/O.

The ``phone.recording_completed`` webhook's ``payload.object.recordings[]`` and the entries of
``GET /phone/recordings`` (account level) share one shape, documented by Zoom
(https://developers.zoom.us/docs/api/phone/events/ and https://developers.zoom.us/docs/api/phone/,
"Get call recordings"): ``id``, ``caller_number``/``caller_name``/``caller_did_number``, the same for
the callee, ``direction``, ``duration`` (seconds), ``date_time``/``end_time``, ``download_url``,
``recording_type`` (OnDemand, Automatic), ``call_id``, ``call_log_id``, ``owner`` (type, id, name,
extension_number) and ``user_id``. Each recording is one MP3 (48 kHz mono); one event per recording,
its ``meeting_uuid`` is ``phone:{recording id}`` so it never collides with a meeting's UUID.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from zoomsymbl_common.event_parts import CallDirection
from zoomsymbl_common.events import (
    CallParty,
    EventSource,
    PhoneCall,
    RecordingCompleted,
    RecordingFile,
    stable_id,
    utcnow,
)

from zoomsymbl_ingest.zoom_payload import PayloadError, _text, _when, quoted, refused_event

PHONE_PREFIX = "phone:"
_DIRECTIONS: dict[str, CallDirection] = {"inbound": "inbound", "outbound": "outbound", "internal": "internal"}


def phone_meeting_uuid(recording_id: str) -> str:
    """The conversation key of a phone recording: never the shape of a Zoom meeting UUID."""
    return PHONE_PREFIX + recording_id


# Recordings of one phone.recording_completed (Zoom sends the recordings of one call: one, or a few when recording
# was stopped and started again); far more is no call of Zoom's.
MAX_PHONE_RECORDINGS = 100


def phone_recordings(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The ``payload.object.recordings`` of a ``phone.recording_completed`` webhook (objects only)."""
    obj = payload.get("object")
    if not isinstance(obj, dict):
        raise PayloadError("missing field 'payload.object'", field="payload.object")
    entries = obj.get("recordings")
    if not isinstance(entries, list) or not entries:
        raise PayloadError("missing field 'payload.object.recordings'", field="payload.object.recordings")
    if len(entries) > MAX_PHONE_RECORDINGS:
        # Each entry is a publish and a log line: a forged list of thousands is refused whole, before any is read.
        raise PayloadError(
            f"field 'payload.object.recordings' has {len(entries)} entries, more than {MAX_PHONE_RECORDINGS}",
            field="payload.object.recordings",
            invalid=True,
        )
    return [entry for entry in entries if isinstance(entry, dict)]


def phone_owner(entry: Mapping[str, Any]) -> tuple[str, str]:
    """``(user id, e-mail)`` of the recorded user as the payload gives them (Zoom sends no e-mail here)."""
    owner = entry.get("owner") if isinstance(entry.get("owner"), dict) else {}
    assert isinstance(owner, dict)
    return _text(owner.get("id")) or _text(entry.get("user_id")), _text(owner.get("email"))


def phone_call(entry: Mapping[str, Any]) -> PhoneCall:
    """The call metadata of one recording entry; raises :class:`PayloadError` without a recording id."""
    recording_id = _text(entry.get("id"))
    if not recording_id:
        raise PayloadError("phone recording without 'id'", field="payload.object.recordings.id")
    owner = entry.get("owner") if isinstance(entry.get("owner"), dict) else {}
    assert isinstance(owner, dict)
    fields: dict[str, Any] = {
        "recording_id": recording_id,
        "call_id": _text(entry.get("call_id"))[:128],
        "call_log_id": _text(entry.get("call_log_id"))[:128],
        "caller": _party(entry, "caller"),
        "callee": _party(entry, "callee"),
        "direction": _DIRECTIONS.get(_text(entry.get("direction")).lower(), "unknown"),
        "duration_seconds": _seconds(entry.get("duration")),
        "start_time": _when(entry.get("date_time")),
        "end_time": _when(entry.get("end_time")),
        "recording_type": _text(entry.get("recording_type"))[:32],
        "owner_type": _text(owner.get("type"))[:32],
        "owner_id": _text(owner.get("id"))[:128],
        "owner_name": _text(owner.get("name"))[:256],
        "owner_extension": _scalar(owner.get("extension_number"))[:32],
        "user_id": _text(entry.get("user_id"))[:128],
    }
    try:
        return PhoneCall.model_validate(fields)
    except ValidationError as exc:
        raise refused_event(f"phone recording {quoted(recording_id)}", exc) from None


def phone_recording_completed(
    tenant: str,
    entry: Mapping[str, Any],
    *,
    source: EventSource,
    account_id: str = "",
    occurred_at: datetime | None = None,
    owner_email: str = "",
) -> RecordingCompleted:
    """The event of one phone recording; ``event_id`` derives from (tenant, recording id), like a meeting's.

    Raises :class:`PayloadError` for an entry no event can be built of (no id or download URL, a value
    beyond the event's bounds: a recording id over 250 characters, an account id over 128).
    """
    call = phone_call(entry)
    url = _text(entry.get("download_url"))
    if not url:
        raise PayloadError(f"phone recording {quoted(call.recording_id)} has no download_url", field="download_url")
    uuid = phone_meeting_uuid(call.recording_id)
    owner_id, payload_email = phone_owner(entry)
    minutes = -(-call.duration_seconds // 60) if call.duration_seconds is not None else None
    try:
        return RecordingCompleted(
            event_id=stable_id(tenant, uuid, call.recording_id),
            tenant=tenant,
            meeting_uuid=uuid,
            occurred_at=occurred_at or call.end_time or utcnow(),
            account_id=account_id,
            host_id=owner_id[:128],
            host_email=(owner_email or payload_email)[:320],
            topic_text=call_title(call),
            start_time=call.start_time,
            duration_minutes=minutes,
            fallback_files=(_phone_file(call, url),),
            source=source,
            platform="zoom_phone",
            phone_call=call,
        )
    except ValidationError as exc:
        raise refused_event(f"phone recording {quoted(call.recording_id)}", exc) from None


def _phone_file(call: PhoneCall, url: str) -> RecordingFile:
    return RecordingFile(
        file_id=call.recording_id,
        recording_type="phone_call",
        participant_name=None,
        recording_start=call.start_time,
        recording_end=call.end_time,
        file_size=None,  # Zoom does not announce it for phone recordings; ffprobe still checks the file
        file_type="MP3",
        file_extension="mp3",
        download_url=url,
    )


def call_title(call: PhoneCall) -> str:
    """``Zoom Phone call: Caller Name (1026) → Callee Name (1045)``: the report's subject and topic."""
    return f"Zoom Phone call: {party_label(call.caller)} → {party_label(call.callee)}"[:512]


def party_label(party: CallParty) -> str:
    """``Name (number)``, or whichever of the two Zoom gave, or ``unknown``."""
    number = party.did_number or party.number
    if party.name and number:
        return f"{party.name} ({number})"
    return party.name or number or "unknown"


def _party(entry: Mapping[str, Any], side: str) -> CallParty:
    return CallParty(
        number=_scalar(entry.get(f"{side}_number"))[:64],
        did_number=_scalar(entry.get(f"{side}_did_number"))[:64],
        name=_text(entry.get(f"{side}_name"))[:256],
    )


def _scalar(value: object) -> str:
    # Zoom documents extension_number as a string in one place and an integer in another.
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value)
    return _text(value)


def _seconds(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
