"""Zoom's recording shapes → :class:`RecordingCompleted`: pure functions, no I/O.

The ``recording.completed`` webhook's ``payload.object`` and the recordings API's meeting objects
(``GET /users/{id}/recordings``, ``GET /meetings/{uuid}/recordings``) share one shape, so ingest's
webhook handler, its backfill and the mixer's URL refresh all map them here. Secrets are never
mapped into the event: the webhook's ``download_token`` is returned separately by
:func:`parse_webhook` for the caller to store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from annotated_types import MaxLen
from pydantic import SecretStr, ValidationError
from pydantic_core import from_json
from zoomsymbl_common.errors import ZoomsymblError
from zoomsymbl_common.event_fields import INT64_MAX, MAX_FALLBACK_FILES, MAX_PARTICIPANT_TRACKS
from zoomsymbl_common.events import EventSource, RecordingCompleted, RecordingFile, stable_id, utcnow
from zoomsymbl_common.logs import register_secret
from zoomsymbl_common.records import MeetingSecret

# Zoom's webhook download token is valid for 24 hours; it is redacted a little longer.
DOWNLOAD_TOKEN_VALIDITY = timedelta(hours=25)
# The longest download token a ``meeting_secrets`` document holds (Zoom's are JWTs of about a thousand characters).
DOWNLOAD_TOKEN_MAX_CHARS: int = next(
    m.max_length for m in MeetingSecret.model_fields["download_token"].metadata if isinstance(m, MaxLen)
)

PARTICIPANT_PREFIX = "Audio only - "
_TOPIC_MAX = 512
_QUOTED_MAX = 64
_RULE_MAX = 160


class PayloadError(ZoomsymblError):
    """A Zoom body is not JSON, lacks a field zoomsymbl needs, or has one with a value an event refuses
    (``invalid``: too long, out of range); ``field`` names it."""

    def __init__(self, message: str, *, field: str = "", invalid: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.invalid = invalid

    @property
    def reason(self) -> Literal["invalid_json", "missing_fields", "invalid_fields"]:
        """The reason a 400 is counted under: ``invalid_json``, ``missing_fields`` or ``invalid_fields``."""
        if self.invalid:
            return "invalid_fields"
        return "missing_fields" if self.field else "invalid_json"


@dataclass(frozen=True)
class Webhook:
    """The envelope of a verified Zoom webhook."""

    event: str
    payload: Mapping[str, Any]
    event_ts: datetime | None
    download_token: SecretStr | None


def parse_webhook(body: bytes) -> Webhook:
    """The envelope of ``body``; raises :class:`PayloadError` unless it is a JSON object with ``event``.

    pydantic-core's parser (Rust) reads the bytes: twice as fast as ``json.loads`` on a webhook here,
    and it refuses by itself what could be neither hashed, stored nor published: invalid UTF-8, lone
    surrogates (escaped or encoded), numbers of more than 4,300 digits and nesting more than 201 levels deep.
    """
    try:
        data = from_json(body)
    except ValueError as exc:
        raise PayloadError(f"body is not JSON: {_json_error(exc)}") from None
    if not isinstance(data, dict):
        raise PayloadError("body is not a JSON object")
    event = data.get("event")
    if not isinstance(event, str) or not event:
        raise PayloadError("missing field 'event'", field="event")
    payload = data.get("payload", {})
    if not isinstance(payload, dict):
        raise PayloadError("field 'payload' is not an object", field="payload")
    token = data.get("download_token")
    if isinstance(token, str) and len(token) > DOWNLOAD_TOKEN_MAX_CHARS:
        # No store could hold it: queued behind the answer, it ended the writer of every later token; written
        # before the publish, it failed the requests sharing its batch. Never quoted: it is a secret.
        raise PayloadError(
            f"field 'download_token' has {len(token)} characters, more than {DOWNLOAD_TOKEN_MAX_CHARS}",
            field="download_token",
            invalid=True,
        )
    secret = SecretStr(token) if isinstance(token, str) and token else None
    if secret is not None:
        register_secret(token, ttl=DOWNLOAD_TOKEN_VALIDITY)
    return Webhook(event=event, payload=payload, event_ts=_epoch_ms(data.get("event_ts")), download_token=secret)


def _json_error(exc: ValueError) -> str:
    message = str(exc)
    return "nested too deeply" if message.startswith("recursion limit exceeded") else message[:200]


def plain_token(webhook: Webhook) -> str:
    """The ``payload.plainToken`` of an ``endpoint.url_validation`` webhook."""
    value = webhook.payload.get("plainToken")
    if not isinstance(value, str) or not value:
        raise PayloadError("missing field 'payload.plainToken'", field="payload.plainToken")
    return value


def recording_object(webhook: Webhook) -> Mapping[str, Any]:
    """The ``payload.object`` of a ``recording.completed`` webhook."""
    obj = webhook.payload.get("object")
    if not isinstance(obj, dict):
        raise PayloadError("missing field 'payload.object'", field="payload.object")
    return obj


def participant_name(file_name: object) -> str | None:
    """The speaker in ``"Audio only - Elisa L"``: only the leading prefix is removed, the rest kept verbatim."""
    if not isinstance(file_name, str):
        return None
    name = file_name.removeprefix(PARTICIPANT_PREFIX).strip()
    return name[:256] or None


def host_of(obj: Mapping[str, Any]) -> tuple[str, str]:
    """``(host_id, host_email)`` of a meeting object, empty strings when absent."""
    return _text(obj.get("host_id")), _text(obj.get("host_email"))


def recording_completed(
    tenant: str,
    obj: Mapping[str, Any],
    *,
    source: EventSource,
    occurred_at: datetime | None = None,
    account_id: str = "",
) -> RecordingCompleted:
    """The event for one meeting object; ``event_id`` is derived from (tenant, uuid, file ids).

    Raises :class:`PayloadError` when the uuid is missing or no file is usable. File entries that
    lack an id or a download URL are dropped, so one odd file does not lose the meeting.
    """
    uuid, tracks, fallback = _meeting_files(obj)
    file_ids = sorted({f.file_id for f in (*tracks, *fallback)})
    host_id, host_email = host_of(obj)
    try:
        return RecordingCompleted(
            event_id=stable_id(tenant, uuid, *file_ids),
            tenant=tenant,
            meeting_uuid=uuid,
            occurred_at=occurred_at or _latest_end((*tracks, *fallback)) or utcnow(),
            meeting_id=obj.get("id") if isinstance(obj.get("id"), int) else None,
            account_id=_text(obj.get("account_id")) or account_id,
            host_id=host_id,
            host_email=host_email,
            topic_text=_text(obj.get("topic"))[:_TOPIC_MAX],
            start_time=_when(obj.get("start_time")),
            # Zoom's announcement, relied on for nothing: a negative or absurd one is dropped, not the meeting.
            duration_minutes=_duration(obj.get("duration")),
            participant_tracks=tracks,
            fallback_files=fallback,
            source=source,
        )
    except ValidationError as exc:
        raise refused_event(f"meeting {quoted(uuid)}", exc) from None


def quoted(value: str) -> str:
    """``value`` quoted for a message, cut short: ids come from outside and an error detail stays small."""
    if len(value) <= _QUOTED_MAX:
        return repr(value)
    return f"{value[:_QUOTED_MAX]!r}… ({len(value)} characters)"


def refused_event(what: str, exc: ValidationError) -> PayloadError:
    """The :class:`PayloadError` of a model pydantic refused: which field and which rule, never the value.

    pydantic's ``msg`` states the rule ("String should have at most 256 characters") without the input,
    so a download URL or token in the payload never reaches the 400's detail or the log.
    """
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])[:_QUOTED_MAX]
    return PayloadError(f"{what}: {where}: {err['msg'][:_RULE_MAX]}", field=where or "payload", invalid=True)


def _meeting_files(obj: Mapping[str, Any]) -> tuple[str, tuple[RecordingFile, ...], tuple[RecordingFile, ...]]:
    uuid = obj.get("uuid")
    if not isinstance(uuid, str) or not uuid:
        raise PayloadError("missing field 'payload.object.uuid'", field="payload.object.uuid")
    tracks = _files(obj.get("participant_audio_files"), participant=True, most=MAX_PARTICIPANT_TRACKS)
    fallback = _files(obj.get("recording_files"), participant=False, most=MAX_FALLBACK_FILES)
    if not tracks and not fallback:
        where = "payload.object.recording_files"
        raise PayloadError(f"meeting {quoted(uuid)} has no usable recording file", field=where)
    return uuid, tracks, fallback


def _files(entries: object, *, participant: bool, most: int) -> tuple[RecordingFile, ...]:
    if not isinstance(entries, list):
        return ()
    if len(entries) > most:
        # Refused before any entry is read: no event holds them (Kafka's message size), and reading 20,000 costs.
        field = "participant_audio_files" if participant else "recording_files"
        raise PayloadError(f"field '{field}' has {len(entries)} entries, more than {most}", field=field, invalid=True)
    files: list[RecordingFile] = []
    for entry in entries:
        if isinstance(entry, dict) and (parsed := _file(entry, participant=participant)) is not None:
            files.append(parsed)
    return tuple(files)


def _file(entry: Mapping[str, Any], *, participant: bool) -> RecordingFile | None:
    fields: dict[str, Any] = {
        "file_id": _text(entry.get("id")),
        "recording_type": _text(entry.get("recording_type")),
        "participant_name": participant_name(entry.get("file_name")) if participant else None,
        "participant_email": _text(entry.get("participant_email"))[:320] or None,
        "recording_start": _when(entry.get("recording_start")),
        "recording_end": _when(entry.get("recording_end")),
        "file_size": _size(entry.get("file_size")),
        "file_type": _text(entry.get("file_type")),
        "file_extension": _text(entry.get("file_extension")),
        "download_url": _text(entry.get("download_url")),
        # Zoom omits status on finished files in some listings; absent means usable.
        "status": _text(entry.get("status")) or "completed",
    }
    try:
        return RecordingFile.model_validate(fields)
    except ValidationError:
        return None


def _latest_end(files: tuple[RecordingFile, ...]) -> datetime | None:
    ends = [f.recording_end for f in files if f.recording_end is not None]
    return max(ends) if ends else None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _size(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _duration(value: object) -> int | None:
    size = _size(value)
    return size if size is not None and size <= INT64_MAX else None


def _when(value: object) -> datetime | None:
    """An ISO-8601 time as aware UTC; a malformed one is dropped rather than losing the file."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
        # OverflowError: year 1 east of UTC, or 9999 west of it, is not a time UTC can hold.
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _epoch_ms(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
