"""A generation's part plan as stored and as found in S3: its parts, whether a stored plan is one of a given file, and
which objects of a meeting are the submitter's own.

A part is stored as ``{stem}.cut-{digest}.part{N}.{ext}`` next to the file it is cut from (the mixed file
``mixed/{tenant}/{meeting_key}.mix-{digest}.{ext}``, ``{meeting_key}.{ext}`` from earlier releases, or its mono mix
``mixed/{tenant}/{meeting_key}.mono-{digest}.flac``, :func:`downmix.mono_object_key`), the digest covering the input,
the generation and every cut (:func:`splitting.cut_tag`). A forced replay or a new mix
(another generation or input) never writes into an earlier plan's keys, whose jobs may still fetch them, and two
deliveries of one generation that cut differently (other limits) never into each other's. Parts cut by earlier
releases (``{stem}.part{N}.{ext}``, no tag) stay the submitter's own (:func:`leftovers`, ``zoomsymbl forget`` deletes
the whole ``mixed/{tenant}/{meeting_key}.`` prefix) and their stored plans the plans of their file (:func:`is_plan_of`).

The mixer's tagged files of earlier generations (:func:`earlier_mixes`) are deleted with the leftovers once nothing
reads them (:func:`zoomsymbl_submitter.generations.remove_leftovers` says when); the untagged file of an earlier
release is never: an earlier release's mixer may be writing it again.

Length: a meeting key segment has at most ``MAX_SEGMENT + 1`` = 201 characters
(:mod:`zoomsymbl_common.storage_keys`); the longest suffix written after it, ``.mono-{12 hex}.cut-{12
hex}.part10000.flac`` (50, :data:`jobs.MAX_PARTS` parts; the mono mix is named after the meeting key, not after the
tagged mixed file), keeps the segment within the 255 bytes file-system S3 servers take. A part of the tagged mixed file
itself, ``.mix-{12 hex}.cut-{12 hex}.part10000.opus``, has 49.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from zoomsymbl_common.events import AudioMixed
from zoomsymbl_common.storage_keys import meeting_key

from zoomsymbl_submitter import splitting

_MIX_TAG = r"mix-[0-9a-f]{12}"
# What the submitter writes after a meeting's ``mixed/{tenant}/{meeting_key}.`` (``splitting.part_object_key``,
# ``downmix.mono_object_key``): a part (cut-tagged or not), a mono mix, a part of a mono mix; each of a tagged mixed
# file (``{tag}.`` first) too (a mono mix named after it: an earlier release's, while the mixer's were upgraded first).
_OWN_OBJECT = re.compile(
    rf"(?:{_MIX_TAG}\.)?(?:mono-[0-9a-f]{{12}}\.)?(?:cut-[0-9a-f]{{12}}\.)?part[1-9][0-9]*\.[a-z0-9]+"
    rf"|(?:{_MIX_TAG}\.)?mono-[0-9a-f]{{12}}\.flac"
)
# The tag a key names first (the mixer's tagged file, a part of it), and that file itself: tag, then extension
# (``zoomsymbl_mixer.mixing.mixed_object_key``).
_NAMED_TAG = re.compile(rf"({_MIX_TAG})\.")
_MIXED_FILE = re.compile(rf"{_NAMED_TAG.pattern}[a-z0-9]+")


@dataclass(frozen=True)
class Part:
    """One submission of a meeting: the whole mixed file (index 0 of 1) or a piece of it."""

    index: int
    count: int
    offset_seconds: float
    duration_seconds: float
    bucket: str
    object_key: str
    size_bytes: int

    def as_doc(self) -> dict[str, Any]:
        """The part as stored in the meeting's split plan."""
        return asdict(self)


@dataclass(frozen=True)
class Readers:
    """What the jobs of a meeting say about its objects (:meth:`~zoomsymbl_submitter.jobs.JobStore.readers`): the keys
    an unfinished job may still read, and the tags (:func:`~zoomsymbl_common.storage_keys.mix_tag`) of the mixed
    files jobs of generations before the one judged were submitted from."""

    still_read: frozenset[str] = frozenset()
    earlier_mixes: frozenset[str] = frozenset()


class MeetingGeneration(Protocol):
    """A meeting at one of its generations, its objects in one bucket: an ``AudioMixed``, or what a leftover cleanup
    kept for unfinished jobs (:class:`zoomsymbl_submitter.held.HeldLeftovers`), judged again without an event."""

    @property
    def tenant(self) -> str: ...

    @property
    def meeting_uuid(self) -> str: ...

    @property
    def generation(self) -> int: ...

    @property
    def bucket(self) -> str: ...


def meeting_prefix(event: MeetingGeneration) -> str:
    """The key prefix of every object of ``event``'s meeting under ``mixed/`` (its meeting key holds no ``.``)."""
    return f"mixed/{event.tenant}/{meeting_key(event.meeting_uuid)}."


def leftovers(prefix: str, keys: Iterable[str], keep: Collection[str]) -> list[str]:
    """The submitter's own objects among ``keys`` under ``prefix`` (parts, mono mixes, their parts) that are not
    in ``keep``; never the mixed file, nor any object whose name the submitter does not make."""
    return sorted({key for key in keys if key.startswith(prefix) and key not in keep
                   and _OWN_OBJECT.fullmatch(key[len(prefix):])})  # fmt: skip


def earlier_mixes(prefix: str, keys: Iterable[str], keep: Collection[str], tags: Collection[str]) -> list[str]:
    """The mixer's tagged files among ``keys`` under ``prefix`` whose tag is one of ``tags`` (the mixes earlier
    generations' jobs were submitted from), not in ``keep``; never an untagged one, nor a part or mono mix."""
    found = set()
    for key in keys:
        match = _MIXED_FILE.fullmatch(key[len(prefix) :]) if key.startswith(prefix) else None
        if match is not None and match.group(1) in tags and key not in keep:
            found.add(key)
    return sorted(found)


def tag_named(prefix: str, key: str) -> str | None:
    """The mix tag that ``key`` under ``prefix`` starts with: a tagged mixed file's, or a part cut from it."""
    match = _NAMED_TAG.match(key[len(prefix) :]) if key.startswith(prefix) else None
    return match.group(1) if match else None


def is_plan_of(event: AudioMixed, parts: list[Part]) -> bool:
    """``parts`` are a plan of ``event``'s very file, in order: the file itself or its pieces, under the keys of
    their cut (:func:`splitting.cut_tag`) or, cut by an earlier release, untagged. Not the plan of another file of
    the meeting and generation (the mono mix, or the multichannel file, when the tenant's provider changed between
    two deliveries), even of the same count."""
    if not parts:
        return False
    tag = splitting.cut_tag(event.input_hash, event.generation, [part.offset_seconds for part in parts])
    found = [(part.index, part.count, part.bucket, part.object_key) for part in parts]
    return any(
        found == [(index, len(parts), event.bucket, key) for index, key in enumerate(keys)]
        for keys in (
            splitting.plan_object_keys(event.object_key, event.format, len(parts), tag),
            splitting.plan_object_keys(event.object_key, event.format, len(parts)),
        )
    )


def first_part_pattern(event: AudioMixed) -> str:
    """A regular expression (MongoDB's ``$regex``) matching the first part's key of any plan of ``event``'s file:
    the file itself, or its first piece, tagged or not."""
    untagged = splitting.part_object_key(event.object_key, 0, event.format)
    stem, _, ext = untagged.rpartition(".part1.")
    piece = rf"{re.escape(stem)}\.(?:cut-[0-9a-f]{{12}}\.)?part1\.{re.escape(ext)}"
    return rf"^(?:{re.escape(event.object_key)}|{piece})$"
