"""A meeting's leftover cleanup reads its meeting document once and its jobs once (it read each twice: the
generation, then the page's file; the objects still read, then the earlier mixes). Real MongoDB and S3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_submitter.audio import AudioSource
from zoomsymbl_submitter.generations import remove_leftovers
from zoomsymbl_submitter.jobs import JobStore
from zoomsymbl_submitter.meetings import MeetingStore
from zoomsymbl_submitter.parts import PartPlanner, SplitSettings

from tests.submitter.held_support import held_meeting, objects
from tests.submitter.support import audio_mixed

pytestmark = pytest.mark.integration


class Reads:
    """A collection whose ``find`` and ``find_one`` calls are counted; everything else passes through."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name in ("find", "find_one"):
            self.calls.append(name)
        return getattr(self.collection, name)


async def test_a_cleanup_reads_the_meeting_once_and_its_jobs_once(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, tmp_path: Path
) -> None:
    prefix, current = await held_meeting(infra, mongo, store, tmp_path, 70, noted=False)
    meetings, jobs = MeetingStore(mongo), JobStore(mongo, "test-owner", 60.0)
    planner = PartPlanner(AudioSource(infra), (meetings.split_plan, meetings.save_split_plan), SplitSettings())
    meeting_reads, job_reads = Reads(meetings._col), Reads(jobs._col)
    meetings._col, jobs._col = meeting_reads, job_reads  # type: ignore[assignment]
    event = audio_mixed(70, infra, current, 10, meeting_uuid="uuid/70==", generation=1, input_hash="hash-70b")

    removed = await remove_leftovers(event, {current}, meetings, jobs, planner)

    assert len(removed) == 2 and await objects(store, prefix) == {current}, "the finished jobs' parts"
    assert (meeting_reads.calls, job_reads.calls) == (["find_one"], ["find"])
