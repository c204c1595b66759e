"""Per-channel checkpoints of a job: a later run of the same job transcribes only the channels not stored yet.

Without them a job's channels lived only in the worker's memory until its whole result was stored, and any retry (a
rollout or an eviction cutting the run, a channel past its deadline, an outage the consumer waited out, a crash)
started over from the download: hours of CPU for an 8-hour meeting of 8 channels, at every deployment.

- What: each channel's utterances, stored in ``transcription_checkpoints`` once the channel is transcribed, before
  the run moves on; a channel without speech too (an empty list), so it is not transcribed again either.
- Reused only for the same input and the same transcription (:class:`Source`): the same job, the same audio object
  (key, size and ETag), the same model, the same language (the Whisper code the work order's language became) and
  the same decoding (``Transcriber.decoding``: beam size, compute type, device, window, the decoder's options).
  A checkpoint of anything else (one written before the decoding was recorded too) is not reused; the channel is
  transcribed again and its checkpoint replaced.
- Bounded: a channel keeps what the result could ever hold of it (its earliest utterances within the result's byte
  budget and ``MAX_UTTERANCES``, texts cut at ``MAX_TEXT_CHARS``), so a resumed transcript equals an uninterrupted
  one; it is split into documents of at most ``PART_BYTES`` of utterances (MongoDB refuses a document over 16 MiB).
- Untrusted on read: a document that does not validate, or a channel whose documents are not one whole write, is
  ignored (logged) and the channel transcribed again.
- An aid, not the result: a write or a read MongoDB does not take is logged and the run goes on.
- Written by the lease holder only: the worker writes one right after its progress write matched (and renewed) its
  lease. Dropped once the job's result is stored; one left behind expires a week after it was written
  (``checkpoint_ttl``); ``zoomsymbl forget`` and ``retention`` erase them with the meeting (by job id or audio key).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated

import bson
from pydantic import Field
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError
from zoomsymbl_common.clock import Clock
from zoomsymbl_common.errors import InfrastructureUnavailable
from zoomsymbl_common.mongo import Document, Mongo, guarded
from zoomsymbl_common.providers.whisper import MAX_UTTERANCES
from zoomsymbl_common.records import TRANSCRIPTION_CHECKPOINTS, MalformedRecord, Record
from zoomsymbl_common.records.base import Key
from zoomsymbl_whisper import ChannelUtterance

from zoomsymbl_transcriber.transcript import MAX_TEXT_CHARS, stored_utterances

log = logging.getLogger("zoomsymbl.transcriber")
PART_BYTES = 4 * 1024 * 1024
"""BSON bytes of utterances in one checkpoint document: a channel's 12 MiB at most take 4 documents."""
MAX_PARTS = 8
"""Most documents one channel's checkpoint may have (4 are ever written); more are not read."""
_ARRAY_ITEM_BYTES = 8  # type byte and index key of an array element


@dataclass(frozen=True)
class Source:
    """What a checkpoint is of: a checkpoint is reused only when every field is the run's own."""

    job_id: str
    object_key: str
    object_size: int
    object_etag: str
    model: str
    language: str | None
    """Whisper's code the work order's language became (None: detected)."""
    decoding: str
    """The decoder's settings that change the words (``Transcriber.decoding``)."""


class Said(Record):
    """One utterance of a checkpoint (its channel is its document's), times as the model gave them."""

    start: float = Field(ge=0, allow_inf_nan=False)
    end: float = Field(ge=0, allow_inf_nan=False)
    text: Annotated[str, Field(max_length=MAX_TEXT_CHARS)]


class CheckpointPart(Record):
    """One document of a channel's checkpoint: part ``part`` of ``parts`` of the write ``write``."""

    id: Key = Field(alias="_id")
    job_id: Key
    channel: int = Field(ge=1)
    write: Annotated[str, Field(min_length=1, max_length=64)]
    part: int = Field(ge=0, lt=MAX_PARTS)
    parts: int = Field(ge=1, le=MAX_PARTS)
    object_key: Key
    object_size: int = Field(ge=0)
    object_etag: Annotated[str, Field(max_length=200)]
    model: Annotated[str, Field(max_length=200)]
    language: Annotated[str, Field(max_length=32)] | None
    decoding: Annotated[str, Field(max_length=500)] = ""
    """Empty in a checkpoint written before the decoding was recorded: never the run's, so not reused."""
    owner: Key
    written_at: datetime
    utterances: list[Said] = Field(max_length=MAX_UTTERANCES)

    def source(self) -> Source:
        """The input and transcription this part is of."""
        return Source(
            self.job_id, self.object_key, self.object_size, self.object_etag, self.model, self.language, self.decoding
        )


def kept(utterances: Sequence[ChannelUtterance]) -> list[ChannelUtterance]:
    """What of one channel's ``utterances`` is checkpointed: in start order (ties in the model's order, as the result
    sorts them), its earliest ones the result could hold, each text cut as the result cuts it."""
    ordered = sorted(utterances, key=lambda u: u.start_seconds)
    return [
        ChannelUtterance(u.channel, u.start_seconds, u.end_seconds, u.text[:MAX_TEXT_CHARS])
        for u in ordered[: len(stored_utterances(ordered))]
    ]


def part_documents(
    source: Source, channel: int, utterances: Sequence[ChannelUtterance], *, write: str, owner: str, at: datetime
) -> list[Document]:
    """The documents of one write of ``channel``'s checkpoint, each within ``PART_BYTES`` of utterances."""
    chunks: list[list[Document]] = [[]]
    size = 0
    for u in kept(utterances):
        # Not validated here: a time the model got wrong (NaN) makes the checkpoint unreadable, not the run fail.
        said: Document = {"start": u.start_seconds, "end": u.end_seconds, "text": u.text}
        grows = len(bson.encode(said)) + _ARRAY_ITEM_BYTES
        if chunks[-1] and size + grows > PART_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(said)
        size += grows
    fields = asdict(source)
    return [
        {
            "_id": f"{source.job_id}#{channel}#{write}#{index}",
            **fields,
            "channel": channel,
            "write": write,
            "part": index,
            "parts": len(chunks),
            "owner": owner,
            "written_at": at,
            "utterances": chunk,
        }
        for index, chunk in enumerate(chunks)
    ]


@dataclass(frozen=True)
class Checkpoints:
    """The checkpoints of the jobs ``owner`` runs, in MongoDB."""

    mongo: Mongo
    owner: str
    clock: Clock

    @property
    def _docs(self) -> AsyncCollection[Document]:
        return self.mongo.db[TRANSCRIPTION_CHECKPOINTS]

    async def load(self, source: Source, channels: int) -> dict[int, list[ChannelUtterance]]:
        """The channels of 1…``channels`` stored for ``source``, with their utterances. A channel stored for another
        input or transcription, or unreadable, is left out: it is transcribed again. Logged, never raised."""
        found: dict[int, list[ChannelUtterance]] = {}
        for channel in range(1, channels + 1):
            query = {"job_id": source.job_id, "channel": channel}
            try:
                docs = await guarded(self._docs.find(query).limit(2 * MAX_PARTS).to_list(None))
            except (InfrastructureUnavailable, PyMongoError) as exc:
                extra = {"job_id": source.job_id, "channel": channel, "error": type(exc).__name__}
                log.warning("checkpoints not read, the channels left transcribed again", extra=extra)
                break
            said = _channel(source, channel, docs)
            if said is not None:
                found[channel] = said
        if found:
            log.info("resumed from checkpoints", extra={"job_id": source.job_id, "channels_stored": sorted(found)})
        return found

    async def save(self, source: Source, channel: int, utterances: Sequence[ChannelUtterance]) -> None:
        """Store ``channel``'s utterances as one write, then remove the channel's earlier writes (a checkpoint of other
        input): a reader finds one whole write at every moment. Not taken by MongoDB: logged, the run goes on."""
        write = uuid.uuid4().hex
        docs = part_documents(source, channel, utterances, write=write, owner=self.owner, at=self.clock())
        try:
            await guarded(self._docs.insert_many(docs))
            await guarded(
                self._docs.delete_many({"job_id": source.job_id, "channel": channel, "write": {"$ne": write}})
            )
        except (InfrastructureUnavailable, PyMongoError) as exc:
            extra = {"job_id": source.job_id, "channel": channel, "error": type(exc).__name__}
            log.warning("checkpoint not stored, the channel is transcribed again if the run is", extra=extra)

    async def drop(self, job_id: str) -> None:
        """Remove the job's checkpoints (its result is stored). Not taken by MongoDB: logged, they expire later."""
        try:
            await guarded(self._docs.delete_many({"job_id": job_id}))
        except (InfrastructureUnavailable, PyMongoError) as exc:
            log.warning("checkpoints not removed, they expire", extra={"job_id": job_id, "error": type(exc).__name__})


def _channel(source: Source, channel: int, docs: list[Document]) -> list[ChannelUtterance] | None:
    """The utterances of the newest whole write of ``source`` among ``docs`` (one channel's), or None."""
    writes: dict[str, list[CheckpointPart]] = {}
    ids = {"job_id": source.job_id, "channel": channel}
    for doc in docs:
        try:
            part = CheckpointPart.from_document(doc)
        except MalformedRecord as exc:
            log.warning("checkpoint unreadable, ignored", extra={**ids, "error": str(exc)[:300]})
            continue
        if (part.job_id, part.channel) == (source.job_id, channel):
            writes.setdefault(part.write, []).append(part)
    whole = [parts for parts in writes.values() if _whole(parts)]
    if not whole:
        if docs:
            log.warning("checkpoint incomplete or unreadable, the channel is transcribed again", extra=ids)
        return None
    latest: list[CheckpointPart] = max(whole, key=_written_at)
    newest = sorted(latest, key=lambda part: part.part)
    if newest[0].source() != source:
        other = [name for name, value in asdict(newest[0].source()).items() if asdict(source)[name] != value]
        log.info("checkpoint of other input or transcription, not reused", extra={**ids, "differs": other})
        return None
    return [ChannelUtterance(channel, s.start, s.end, s.text) for part in newest for s in part.utterances]


def _written_at(parts: list[CheckpointPart]) -> datetime:
    return parts[0].written_at


def _whole(parts: list[CheckpointPart]) -> bool:
    """True when ``parts`` are every part of one write, of one source, once each."""
    first = parts[0]
    return sorted(p.part for p in parts) == list(range(first.parts)) and all(
        (p.parts, p.source()) == (first.parts, first.source()) for p in parts
    )
