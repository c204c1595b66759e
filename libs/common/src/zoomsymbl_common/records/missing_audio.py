"""The participant audio a meeting's mix went without (``missing_audio`` on the meeting), and the words the report
e-mail and the meeting page say it in. Pure.

Zoom no longer had some recorded files when the mixer fetched them (404, or not in its listing): the meeting is mixed
without them, and a participant's words are not in the report (only some of them when the participant rejoined and
another of their files was mixed: ``partial``). The mixer records who (:func:`missing_audio`, from the
recording event's file entries); the notifier and the web read it with the meeting (:meth:`Meeting.missing
<zoomsymbl_common.records.meetings.Meeting.missing>`) and say it in one line (:func:`missing_phrase`). Bounded: a forged
event may list a thousand files; at most :data:`MISSING_NAMES_MAX` names are kept, the rest counted.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Annotated

from pydantic import BeforeValidator, Field

from zoomsymbl_common.records.base import Name, Record
from zoomsymbl_common.stages import one_line

MISSING_NAMES_MAX = 10
"""Most names of participants whose audio was missing kept on the meeting (and shown); the rest are counted."""
MISSING_FILES_MAX = 1_000_000
"""Most missing files a stored count may say (an event lists at most a thousand participant files)."""
NAME_SHOWN_MAX = 120
"""Most characters of one name in the line (the e-mail's bound for a name from outside)."""


def _bounded_names(value: object) -> object:
    # A document written by hand or by a forged event's mix may hold thousands: the first ones are read, not the
    # meeting refused (the others are counted by the mixer when it writes; a hand-made list just loses them).
    if isinstance(value, list | tuple):
        named = (item for item in value if isinstance(item, str) and item.strip())
        return list(dict.fromkeys(named))[:MISSING_NAMES_MAX]
    return value


class MissingAudio(Record):
    """Participant audio files Zoom no longer had when the meeting was mixed: the mix, the transcript and the
    report are without them."""

    names: Annotated[list[Name], BeforeValidator(_bounded_names)] = Field(
        default_factory=list, description="Distinct names of the missing files' participants, as Zoom gave them."
    )
    others: int = Field(
        0, ge=0, le=MISSING_FILES_MAX, description="Missing files not under one of ``names`` (unnamed, past the bound)."
    )
    partial: Annotated[list[Name], BeforeValidator(_bounded_names)] = Field(
        default_factory=list,
        description="Those of ``names`` whose audio is in the mix in part (a rejoiner with one file of several "
        "missing): the line says part of their audio is missing. An older release reads them as wholly missing.",
    )

    @property
    def empty(self) -> bool:
        """Nothing is missing (an entry with neither names nor a count)."""
        return not self.names and self.others == 0


def missing_audio(files: Iterable[tuple[str, str | None]], partial: Collection[str] = ()) -> MissingAudio | None:
    """What the mix went without, from its missing files' ``(file_id, participant_name)``; None when none is missing.

    A participant with two missing files (a rejoin) is one name; a file without a name, or whose name is past the
    first :data:`MISSING_NAMES_MAX`, is counted in ``others``. ``partial``: the ids of missing files whose participant
    the mix has another file of (a rejoiner); a name all of whose missing files are such lost part of its audio only.
    """
    names: list[str] = []
    whole: set[str] = set()
    others = 0
    for file_id, name in files:
        shown = (name or "").strip()
        if shown and file_id not in partial:
            whole.add(shown[:1000])
        if shown and shown in names:
            continue
        if shown and len(names) < MISSING_NAMES_MAX:
            names.append(shown[:1000])
        else:
            others += 1
    found = MissingAudio(
        names=names, others=min(others, MISSING_FILES_MAX), partial=[n for n in names if n not in whole]
    )
    return None if found.empty else found


def from_mix(mix: object) -> MissingAudio | None:
    """What a mix recorded before ``missing_audio`` was written (its ``missing_files``, file ids only) says: a count;
    None when it names none."""
    files = mix.get("missing_files") if isinstance(mix, dict) else None
    count = sum(1 for f in files if isinstance(f, str)) if isinstance(files, list) else 0
    return MissingAudio(others=min(count, MISSING_FILES_MAX)) if count else None


def missing_phrase(missing: MissingAudio, name: Callable[[str], str], text: Callable[[str], str] = str) -> str:
    """``the audio of Ana Lee and 1 other recording file``, ``part of the audio of Bo Chen`` for a participant the mix
    has in part (``partial``), or both joined by ``, and``: ``name`` writes each name (defanged, escaped, isolated: the
    caller's rule for outside text), ``text`` our own words (escaped for HTML); each name one line of at most
    :data:`NAME_SHOWN_MAX` characters."""
    partial = set(missing.partial)
    whole = [name(shown) for n in missing.names if n not in partial and (shown := one_line(n, NAME_SHOWN_MAX))]
    part = [name(shown) for n in missing.names if n in partial and (shown := one_line(n, NAME_SHOWN_MAX))]
    if missing.others:
        other = "other " if whole or part else ""
        files = "file" if missing.others == 1 else "files"
        whole.append(text(f"{missing.others:,} {other}recording {files}"))
    if not whole and not part:
        whole.append(text("a recording file"))
    phrases = [text("the audio of ") + _listed(whole, text)] if whole else []
    if part:
        phrases.append(text("part of the audio of ") + _listed(part, text))
    return text(", and ").join(phrases)


def _listed(who: list[str], text: Callable[[str], str]) -> str:
    return who[0] if len(who) == 1 else text(", ").join(who[:-1]) + text(" and ") + who[-1]


def missing_line(missing: MissingAudio, name: Callable[[str], str], text: Callable[[str], str], where: str) -> str:
    """The report's and the page's line: ``Incomplete: Zoom no longer had the audio of Ana Lee and 1 other recording
    file; their words are not in this report.`` (``where``: "in this report", "on this page"). With a participant the
    mix has in part: ``Incomplete: Zoom no longer had part of the audio of Bo Chen; those words are not in this
    report.`` (never "their words": the rest of Bo Chen's are in it)."""
    phrase = missing_phrase(missing, name, text)
    whose = "those" if set(missing.partial) & set(missing.names) else "their"
    return text("Incomplete: Zoom no longer had ") + phrase + text(f"; {whose} words are not {where}.")
