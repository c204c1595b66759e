"""What to submit for one part of a meeting: its idempotency key, its job document, its request. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import SecretStr
from zoomsymbl_common.callback_tokens import TOKEN_TTL, make_callback_token
from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.event_fields import JOB_ID_MAX
from zoomsymbl_common.events import AudioMixed, JobStatusReported, JobSubmitted, Provider, stable_id
from zoomsymbl_common.logs import register_secret
from zoomsymbl_common.mongo import Document
from zoomsymbl_common.providers import zoom_transcript
from zoomsymbl_common.providers.base import AudioOpener, SubmitRequest, SubmittedJob
from zoomsymbl_common.records import Job

from zoomsymbl_submitter.parts import Part

_ID = re.compile(r"[A-Za-z0-9._:-]+")
"""What a provider's job or conversation id may hold: the providers' are UUIDs, digits or our own hex names."""


@dataclass(frozen=True)
class CallbackConfig:
    """Where providers report job status, and the key of the per-job tokens."""

    notifier_base: str
    secret: SecretStr
    assemblyai_header: str = "x-zoomsymbl-callback"


def idempotency_key(event: AudioMixed, provider: Provider, part: Part) -> str:
    """(meeting, input hash, provider, generation[, part]): one submission, whatever the redeliveries."""
    piece = f"part{part.index}of{part.count}" if part.count > 1 else ""
    return stable_id(
        "submission", event.tenant, event.meeting_uuid, event.input_hash, provider, str(event.generation), piece
    )


def job_name(event: AudioMixed, part: Part) -> str:
    """The job's name at the provider: the meeting topic, with the part when split."""
    topic = event.topic_text.strip() or f"Zoom meeting {event.meeting_uuid}"
    return topic if part.count == 1 else f"{topic} (part {part.index + 1} of {part.count})"


def job_fields(event: AudioMixed, provider: Provider, account_key: str, part: Part) -> Document:
    """The facts of a submission stored with its claim (read by the notifier)."""
    fields: Document = {
        "tenant": event.tenant,
        "meeting_uuid": event.meeting_uuid,
        "generation": event.generation,
        "input_hash": event.input_hash,
        "provider": provider,
        "limiter_account_key": account_key,
        "source_event_id": event.event_id,
        "part_index": part.index,
        "part_count": part.count,
        "part_offset_seconds": part.offset_seconds,
        "part_duration_seconds": part.duration_seconds,
        "bucket": part.bucket,
        "object_key": part.object_key,
    }
    named = len({assignment.channel for assignment in event.channel_map})
    if named > event.channels:
        fields["downmixed_from_channels"] = named  # a mono mix (see downmix.py): speakers are diarized
    return fields


Hook = tuple[SecretStr, tuple[str, SecretStr] | None]


def webhook(provider: Provider, callbacks: CallbackConfig, job_ref: str) -> Hook:
    """The webhook URL and, for AssemblyAI, the auth header; both carry the per-job token."""
    token = make_callback_token(callbacks.secret, job_ref)
    if provider == "symbl":
        url = f"{callbacks.notifier_base}/webhooks/symbl/{token}"
        register_secret(url, ttl=TOKEN_TTL)
        return SecretStr(url), None
    return SecretStr(f"{callbacks.notifier_base}/webhooks/assemblyai"), (callbacks.assemblyai_header, SecretStr(token))


def submit_request(
    event: AudioMixed,
    part: Part,
    language: str,
    hook: Hook,
    audio: AudioOpener | None,
    audio_url: SecretStr | None,
) -> SubmitRequest:
    """The provider-neutral request for ``part`` (a URL when one is given, else the stream)."""
    url, header = hook
    return SubmitRequest(
        name=job_name(event, part),
        language=language,
        audio_format=event.format,
        channels=event.channels,
        channel_map=event.channel_map,
        diarization=event.diarization or (event.channels == 1 and _shared(event)),
        webhook_url=url,
        size_bytes=part.size_bytes,
        duration_seconds=part.duration_seconds,
        audio=None if audio_url is not None else audio,
        audio_url=audio_url,
        webhook_auth_header=header,
        object_bucket=part.bucket,
        object_key=part.object_key,
    )


def transcript_key(event: AudioMixed) -> str | None:
    """The object key of Zoom's transcript of the meeting (the audio transcript, else the captions).

    Like the audio, it must be the mixer's file of that very tenant and meeting: an event naming any
    other object is poison.
    """
    try:
        return zoom_transcript.transcript_key(event.tenant, event.meeting_uuid, event.transcripts)
    except PoisonInputError as exc:
        raise PoisonInputError(f"audio.mixed {exc.reason}", stage="validate") from exc


def _shared(event: AudioMixed) -> bool:
    """One channel heard by several participants: the provider has to tell the voices apart."""
    return any(assignment.mixed or len(assignment.file_ids) > 1 for assignment in event.channel_map)


def check_job_ids(provider: Provider, job: SubmittedJob) -> None:
    """The provider's ids of an accepted job must fit the events that carry them; else poison at ``submit``.

    Provider answers are outside input. A longer job id failed validation while it was being recorded, after the
    provider had accepted the job: the claim was left behind and each later attempt submitted the meeting again
    (a new provider job each time); a longer conversation id was stored, and every ``JobSubmitted`` built from it
    failed. Both were spent as a bug until the meeting failed with pydantic's text. Refused here, before anything
    is stored: the job the provider may have started is left alone (no event could name it).
    """
    for what, value in (("job id", job.job_id), ("conversation id", job.conversation_id)):
        if len(value) > JOB_ID_MAX:
            raise PoisonInputError(
                f"{provider} accepted the job but answered a {what} of {len(value)} characters"
                f" (at most {JOB_ID_MAX}): the job cannot be followed",
                stage="submit",
            )
        if not _ID.fullmatch(value) or value in (".", ".."):
            # The id goes into the path of every later call about the job (``/v1/job/{id}``, ``/v2/transcript/{id}``),
            # with our key: a ``/``, ``?``, ``#`` or ``..`` in it chose another endpoint of the provider's host.
            raise PoisonInputError(
                f"{provider} accepted the job but answered a {what} that is not a plain name"
                f" ({_ID.pattern}): the job cannot be followed",
                stage="submit",
            )


def job_submitted(event: AudioMixed, provider: Provider, part: Part, key: str, job: SubmittedJob) -> JobSubmitted:
    """The event announcing the job (its id is stable, so a republish is a recognisable duplicate)."""
    return JobSubmitted(
        event_id=stable_id(JobSubmitted.topic, key),
        tenant=event.tenant,
        meeting_uuid=event.meeting_uuid,
        generation=event.generation,
        provider=provider,
        job_id=job.job_id,
        conversation_id=job.conversation_id,
        part_index=part.index,
        part_count=part.count,
        part_offset_seconds=part.offset_seconds,
    )


def announcement(job: Job) -> JobSubmitted:
    """The event announcing a stored, accepted job again: the one :func:`job_submitted` made when it was submitted."""
    return JobSubmitted(
        event_id=stable_id(JobSubmitted.topic, job.id),
        tenant=job.tenant,
        meeting_uuid=job.meeting_uuid,
        generation=job.generation,
        provider=job.provider,
        job_id=job.job_id or "",
        conversation_id=job.conversation_id or "",
        part_index=job.part_index,
        part_count=job.part_count,
        part_offset_seconds=job.part_offset_seconds,
    )


def completed_at_once(event: AudioMixed, provider: Provider, job: SubmittedJob) -> JobStatusReported:
    """The report of a job that finished when it was submitted (the ``zoom`` source): what a provider's
    callback would become at the notifier; a stable id, so a republish is a recognisable duplicate."""
    return JobStatusReported(
        event_id=stable_id(JobStatusReported.topic, provider, job.job_id, "completed"),
        tenant=event.tenant,
        meeting_uuid=event.meeting_uuid,
        generation=event.generation,
        provider=provider,
        job_id=job.job_id,
        reported_status="completed",
        via="worker",
    )
