"""How far a meeting's transcription is, as ``zoomsymbl status --meeting`` prints it: a line per part's job, and for a
meeting split in parts one figure for the whole (:func:`combined_progress`)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from zoomsymbl_common.ops.output import moment_text
from zoomsymbl_common.records import Meeting, PartProgress, Progress


def progress_text(progress: Progress) -> str:
    return (
        f"{progress.percent:g}% ({progress.channels_done}/{progress.channels} channels, job {progress.job_id or '?'})"
    )


def combined_progress(meeting: Meeting, parts: list[PartProgress]) -> str | None:
    """The newest generation's progress over all its parts, when it has more than one: each part weighted by its
    length in the split plan of that generation (equal weights without one), a part with no entry yet at 0 %, and of
    a part's several entries (a job submitted again) the latest."""
    generation = parts[0].generation
    count = max((p.part_count for p in parts if p.generation == generation), default=1)
    if count < 2:
        return None
    latest: dict[int, PartProgress] = {}
    for part in parts:
        if part.generation != generation or part.part_index >= count:
            continue
        held = latest.get(part.part_index)
        if held is None or _written(part) > _written(held):
            latest[part.part_index] = part
    plan = meeting.split
    lengths = (
        {p.index: p.duration_seconds for p in plan.parts}
        if plan is not None and plan.generation == generation and plan.count == count
        else {}
    )
    weights = [lengths.get(index, 0.0) for index in range(count)]
    if not all(w > 0 for w in weights) or not math.isfinite(sum(weights)):
        weights = [1.0] * count  # no plan of this generation (or a part it lacks): parts count alike
    done = sum(w * (latest[i].percent if i in latest else 0.0) for i, w in enumerate(weights)) / sum(weights)
    started = f"{len(latest)}/{count} parts started"
    return f"{round(done, 1):g}% of generation {generation} ({started})"


def _written(part: PartProgress) -> datetime:
    return part.at or datetime.min.replace(tzinfo=UTC)


def progress_line(part: PartProgress) -> str:
    where = f"part {part.part_index + 1}/{part.part_count} generation {part.generation}"
    return f"{where}: {progress_text(part)}, at {moment_text(part.at)}"
