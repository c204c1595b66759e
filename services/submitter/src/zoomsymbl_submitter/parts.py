"""The parts a mixed file is submitted as: the file itself, or pieces cut at silences (ffmpeg).

A part must fit the provider's limits on the path the audio takes (:attr:`AudioSource.path`): its
duration, and the size limit of that path (AssemblyAI: 2.2 GB as an upload, 5 GB from a URL).
Cuts fall at silences, so parts of equal length need not be of equal size: a part that still comes
out too large makes the file be cut again into more parts (a few rounds at most).

Splitting downloads the mixed file to a scratch directory (ffmpeg needs to seek), looks for
silences only in the windows around the cut points, writes each part from its cut on (Opus packets
copied behind a pre-skip: :mod:`ogg_opus`; FLAC encoded again, WAV copied: :func:`splitting.part_codec`;
so a part starts at its offset to the sample),
and uploads it as ``mixed/{tenant}/{meeting_key}.cut-{digest}.part{N}.{ext}``. Scratch space: the file plus its
parts, about twice its size.

A generation's plan is fixed once made (:meth:`PartPlanner.generation_parts`): the first delivery of its
``AudioMixed`` stores it (a whole file's too) before any part is claimed, and every later delivery submits those
parts, whatever the limits say by then (``max_part_seconds`` changed by a deploy, the provider's limits, the audio
path). Planned again, a redelivery cut other parts into the same keys, under the job keys of another part count
(new provider jobs), and the notifier, which joins the parts of one generation, waited for a part that never came
or merged parts of both plans. A part of the plan gone from S3 is cut again at its own span; a part past the
current limits is submitted all the same (the provider judges it, and a forced replay plans anew).

Every cut goes to keys of its own (:mod:`zoomsymbl_submitter.part_plan`: input, generation and cut in a digest):
a meeting run again (``zoomsymbl replay --force``, a new mix) never overwrites the parts the earlier generation's
jobs may still fetch, nor does a delivery cutting otherwise than another one of the same generation. The plan is
stored first writer wins (:meth:`~zoomsymbl_submitter.meetings.MeetingStore.save_split_plan`): two deliveries of one
``AudioMixed`` at once (a rebalance mid-split during a rolling deploy under other limits) both miss the stored plan
and cut; the one that stores its plan second submits the first one's and deletes its own cut, which nothing reads.

Once a meeting's submission is done, :meth:`PartPlanner.remove_leftovers` deletes the submitter's own objects of the
meeting that its current plan does not name (:func:`part_plan.leftovers`), and the mixer's files earlier generations
were submitted from (:func:`part_plan.earlier_mixes`), that no unfinished job of the meeting (any generation) may still
read: never the generation's mixed file nor the one the meeting page plays, never a part of the generation's plan,
never the parts or mixed file of an earlier generation whose jobs still run (their transcript stands in for the newer
generation's report should that one fail, ``zoomsymbl_notifier.generations``). What such jobs read is noted on the
meeting and deleted once they finished (:mod:`zoomsymbl_submitter.held`), or by a later submission of the meeting,
``zoomsymbl forget`` or the tenant's retention. The jobs of the earlier
generation keep their documents (the notifier frees their slots when they finish, ``zoomsymbl status`` shows them); no
report or page joins them with the new ones, as both join the parts of one generation only.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from zoomsymbl_common.errors import ObjectNotFound, PoisonInputError
from zoomsymbl_common.events import AudioMixed
from zoomsymbl_common.media_tools import run_tool
from zoomsymbl_common.providers.base import ProviderLimits
from zoomsymbl_common.scratch import scratch_root, work_dir

from zoomsymbl_submitter import ogg_opus, splitting
from zoomsymbl_submitter.audio import AudioSource
from zoomsymbl_submitter.part_plan import MeetingGeneration, Readers, earlier_mixes
from zoomsymbl_submitter.part_plan import Part as Part
from zoomsymbl_submitter.part_plan import is_plan_of as is_plan_of
from zoomsymbl_submitter.part_plan import leftovers as leftovers
from zoomsymbl_submitter.part_plan import meeting_prefix as meeting_prefix
from zoomsymbl_submitter.splitting import Span

SPLIT_PREFIX = "zoomsymbl-split-"
"""The name of the scratch directory of a split starts so (swept at start-up when left behind)."""
log = logging.getLogger("zoomsymbl.submitter.parts")


@dataclass(frozen=True)
class SplitSettings:
    """Limits override and the knobs of :mod:`splitting`."""

    max_part_seconds: float | None = None
    margin_seconds: float = 120.0
    search_seconds: float = 300.0
    work_dir: str | None = None
    ffmpeg_timeout: float = 1800.0

    def max_seconds(self, limits: ProviderLimits) -> float:
        """The provider's limit, or the configured one when lower."""
        return min(limits.max_file_seconds, self.max_part_seconds or limits.max_file_seconds)


PlanStore = tuple[
    Callable[[AudioMixed, int], Awaitable[list[Part] | None]],
    Callable[[AudioMixed, list[Part], int], Awaitable[list[Part] | None]],
]
"""Load the parts planned as ``count`` (the count computed before cutting); save them under that count unless a plan
of the file is stored for its input and generation: the plan stored then, ours or the first one (None: none)."""
SPLIT_ROUNDS = 3


class PartPlanner:
    """Decides the parts of a mixed file and produces them in S3 when it must be split."""

    def __init__(self, audio: AudioSource, plans: PlanStore, settings: SplitSettings) -> None:
        self._audio = audio
        self._load_plan, self._save_plan = plans
        self._settings = settings

    async def generation_parts(
        self, event: AudioMixed, limits: ProviderLimits, stored: list[Part] | None
    ) -> list[Part]:
        """The parts of ``event``'s generation: ``stored``, the plan stored for its input and generation whatever
        count it was planned as, when it is this file's (:func:`is_plan_of`); else :meth:`parts`, stored (a whole
        file too) before any of them is claimed, so that every later delivery submits the same parts."""
        if stored is not None and is_plan_of(event, stored):
            return await self._as_stored(event, limits, stored)
        parts = await self.parts(event, limits)
        if len(parts) == 1:  # a split plan is stored as it is made
            return await self._first_plan(event, limits, parts, 1)
        return parts

    async def parts(self, event: AudioMixed, limits: ProviderLimits) -> list[Part]:
        """The parts to submit for ``event`` under ``limits`` on the audio's path (splitting when needed)."""
        size = await self._audio.size(event.bucket, event.object_key)
        max_seconds = self._settings.max_seconds(limits)
        max_bytes = limits.max_bytes(self._audio.path)
        planned = splitting.part_count(
            event.duration_seconds, size, max_seconds, max_bytes, self._settings.margin_seconds
        )
        if planned == 1:
            return [Part(0, 1, 0.0, event.duration_seconds, event.bucket, event.object_key, size)]
        stored = await self._load_plan(event, planned)
        if stored is not None and await self._reusable(event, stored, max_bytes):
            return stored
        count = planned
        for _ in range(SPLIT_ROUNDS):
            parts = await self._split(event, size, count, max_seconds)
            largest = max(part.size_bytes for part in parts)
            if largest <= max_bytes:
                return await self._first_plan(event, limits, parts, planned)
            # Not deleted: another delivery's plan may name the same keys (the cut's keys follow its offsets, not the
            # limit it was measured against), and its jobs read them. Leftovers of a meeting that fails are the
            # leftover cleanup's (docs/services.md).
            count = splitting.recount(count, largest, max_bytes)
        raise PoisonInputError(
            f"{event.object_key!r} ({size} bytes) still has a part of {largest} bytes after {SPLIT_ROUNDS} splits;"
            f" the {self._audio.path} limit is {max_bytes} bytes",
            stage="split",
        )

    async def remove_leftovers(
        self, event: MeetingGeneration, keep: Collection[str], readers: Readers, within: Collection[str] | None = None
    ) -> tuple[list[str], list[str]]:
        """Delete the submitter's objects of ``event``'s meeting not in ``keep`` (what earlier plans left), and the
        mixer's files earlier generations' jobs were submitted from (:func:`part_plan.earlier_mixes`), unless a job may
        still read them; the keys deleted, and those kept for a job. ``within``: judge only these (what an earlier
        judgement kept, judged again: :mod:`zoomsymbl_submitter.held`). In a versioned bucket a deleted key's older
        versions stay for ``zoomsymbl forget`` or the bucket's rules."""
        prefix, read = meeting_prefix(event), readers.still_read
        store = self._audio.store(event.bucket)
        keys = await store.keys(prefix)
        found = sorted({*leftovers(prefix, keys, keep), *earlier_mixes(prefix, keys, keep, readers.earlier_mixes)})
        if within is not None:
            found = [key for key in found if key in within]
        removed = [key for key in found if key not in read]
        for key in removed:
            with contextlib.suppress(ObjectNotFound):  # gone since listed: another judgement of the same (a replica's)
                await store.remove(key)
        return removed, [key for key in found if key in read]

    async def _first_plan(
        self, event: AudioMixed, limits: ProviderLimits, parts: list[Part], planned: int
    ) -> list[Part]:
        """``parts``, stored as the plan of ``event``'s generation; or the plan another delivery stored first (it
        submits them too), as S3 has it, and of ``parts`` the pieces that plan does not name deleted: no job reads
        them."""
        stored = await self._save_plan(event, parts, planned)
        if stored is None or stored == parts:
            return parts
        named = {part.object_key for part in stored}
        unused = sorted({part.object_key for part in parts if len(parts) > 1} - named)  # never the file itself
        store = self._audio.store(event.bucket)
        for key in unused:
            await store.remove(key)
        where = {"meeting_uuid": event.meeting_uuid, "parts": len(stored), "cut": len(parts), "deleted": len(unused)}
        log.warning("plan another delivery stored first submitted", extra=where)
        return await self._as_stored(event, limits, stored)

    async def _as_stored(self, event: AudioMixed, limits: ProviderLimits, stored: list[Part]) -> list[Part]:
        """The stored plan, each part's size as S3 has it now (the upload's length); a part gone cut again."""
        if len(stored) == 1:  # the mixed file itself: gone, it is poison
            parts = [dataclasses.replace(stored[0], size_bytes=await self._audio.size(event.bucket, event.object_key))]
        else:
            parts = await self._restored(event, stored)
        max_seconds, max_bytes = self._settings.max_seconds(limits), limits.max_bytes(self._audio.path)
        if any(part.duration_seconds > max_seconds or part.size_bytes > max_bytes for part in parts):
            where = {"meeting_uuid": event.meeting_uuid, "max_seconds": max_seconds, "max_bytes": max_bytes}
            log.warning("stored plan kept past the current limits", extra=where)
        return parts

    async def _restored(self, event: AudioMixed, stored: list[Part]) -> list[Part]:
        """``stored`` with every part in S3: one gone is cut again at its own span, as it was (the generation's jobs
        of the other parts count on that cut)."""
        store = self._audio.store(event.bucket)
        parts, missing = list(stored), []
        for part in stored:
            try:
                parts[part.index] = dataclasses.replace(part, size_bytes=await store.size(part.object_key))
            except ObjectNotFound:
                missing.append(part.index)
        if not missing:
            return parts
        where = {
            "meeting_uuid": event.meeting_uuid,
            "parts": [index + 1 for index in missing],
        }  # as their keys name them
        log.warning("parts of the stored plan cut again", extra=where)
        whole = await self._audio.size(event.bucket, event.object_key)
        spans = splitting.spans(event.duration_seconds, [part.offset_seconds for part in stored[1:]])
        async with self._source(event) as source:
            for index in missing:
                parts[index] = await self._store_part(event, whole, source, spans, stored[index])
        return parts

    async def _reusable(self, event: AudioMixed, stored: list[Part], max_bytes: int) -> bool:
        """``stored``, found under the count planned now, is this file's plan, within the size limit, all in S3."""
        if not is_plan_of(event, stored) or any(part.size_bytes > max_bytes for part in stored):
            return False
        for part in stored:
            if not await self._audio.store(part.bucket).exists(part.object_key):
                return False
        return True

    async def _split(self, event: AudioMixed, whole: int, count: int, max_seconds: float) -> list[Part]:
        log.info(
            "splitting long recording",
            extra={"meeting_uuid": event.meeting_uuid, "duration": event.duration_seconds, "parts": count},
        )
        async with self._source(event) as source:
            spans = splitting.spans(event.duration_seconds, await self._cuts(source, event, count, max_seconds))
            tag = splitting.cut_tag(event.input_hash, event.generation, [span.offset for span in spans])
            parts = []
            for i, span in enumerate(spans):
                key = splitting.part_object_key(event.object_key, i, event.format, tag)
                place = Part(i, count, span.offset, span.duration, event.bucket, key, 0)
                parts.append(await self._store_part(event, whole, source, spans, place))
            return parts

    @contextlib.asynccontextmanager
    async def _source(self, event: AudioMixed) -> AsyncIterator[str]:
        """The mixed file downloaded to a scratch directory of its own (ffmpeg needs to seek), its parts next to it."""
        async with work_dir(scratch_root(self._settings.work_dir), SPLIT_PREFIX) as scratch:
            source = str(Path(scratch) / f"mixed.{splitting.EXTENSIONS[event.format]}")
            await self._audio.store(event.bucket).get_file(event.object_key, source)
            yield source

    async def _store_part(self, event: AudioMixed, whole: int, source: str, spans: list[Span], place: Part) -> Part:
        """Part ``place``, ``spans[place.index]`` of ``source``, cut and uploaded to its key; its size and duration
        as cut."""
        index, ext = place.index, splitting.EXTENSIONS[event.format]
        target = str(Path(source).parent / f"part{index + 1}.{ext}")
        duration = await self._cut(event, whole, source, target, spans[index], index == len(spans) - 1)
        store = self._audio.store(event.bucket)
        size = await store.put_file(place.object_key, target, content_type=splitting.CONTENT_TYPES[event.format])
        return dataclasses.replace(place, duration_seconds=duration, size_bytes=size)

    async def _cut(self, event: AudioMixed, whole: int, source: str, target: str, span: Span, last: bool) -> float:
        """Write ``span`` of ``source`` to ``target``; its duration in seconds. Opus packets are copied behind a
        pre-skip (:mod:`ogg_opus`), else ffmpeg copies or encodes again (:func:`splitting.part_codec`)."""
        if event.format == "opus":
            try:
                return await asyncio.to_thread(_copy_opus, source, target, span, last)
            except ogg_opus.NotCopyable as exc:
                where = {"meeting_uuid": event.meeting_uuid, "reason": str(exc)[:200]}
                log.warning("opus part encoded again: its packets cannot be copied", extra=where)
        codec = splitting.part_codec(event.format, event.channels, whole, event.duration_seconds)
        budget = self._settings.ffmpeg_timeout
        if codec != ["-c", "copy"]:  # decoded and encoded again: its CPU grows with channels and length
            budget = splitting.run_timeout(budget, event.format, event.channels, span.duration)
        cut = await run_tool(splitting.cut_args(source, target, span, codec), timeout=budget)
        cut.check(stage="split")
        return span.duration

    async def _cuts(self, source: str, event: AudioMixed, count: int, max_seconds: float) -> list[float]:
        windows = splitting.cut_windows(
            event.duration_seconds, count, max_seconds, self._settings.margin_seconds, self._settings.search_seconds
        )
        cuts = []
        for window in windows:
            args = splitting.silencedetect_args(source, window)
            found: list[str] = []
            result = await run_tool(args, timeout=self._settings.ffmpeg_timeout, on_line=splitting.silence_lines(found))
            result.check(stage="split")
            silences = splitting.parse_silences("\n".join(found), window, event.channels)
            cuts.append(cut := splitting.choose_cut(window, silences))
            if not any(a <= cut <= b for a, b in silences):  # someone speaks all through the window
                where = {"meeting_uuid": event.meeting_uuid, "cut_seconds": cut, "window": [window.start, window.end]}
                log.warning("split inside speech: no silence of every channel near the cut", extra=where)
        return cuts


def _copy_opus(source: str, target: str, span: Span, last: bool) -> float:
    """``span`` of the Ogg Opus ``source`` copied to ``target`` (the last span to the file's end: the event's
    duration is rounded); its duration as played, in seconds."""
    start = round(span.offset * ogg_opus.RATE)
    end = None if last else round((span.offset + span.duration) * ogg_opus.RATE)
    with open(source, "rb") as whole, open(target, "wb") as part:
        cut = ogg_opus.cut(whole, part, start, end)
    return round(cut.samples / ogg_opus.RATE, 6)
