"""A split meeting whose speakers the provider told apart by voice (diarization): part by part.

Each part is a conversation of its own at the provider, so its speaker labels ("Speaker 1") are its own:
the first voice of part 2 need not be the first voice of part 1. The report must not present two
people as one; named channels stay named alike in every part.
"""

from __future__ import annotations

from typing import Any

import pytest
from zoomsymbl_common.events import ChannelAssignment

from tests.notifier.conftest import Notifier

pytestmark = pytest.mark.integration

SHARED = (ChannelAssignment(channel=1, participant_name="Room", file_ids=("f0", "f1"), offset_seconds=0, mixed=True),)


async def test_speaker_labels_of_a_diarized_split_meeting_are_told_apart_by_part(notifier: Notifier) -> None:
    await notifier.submitter.meeting("m-diarized", topic="Long meeting")
    mono: dict[str, Any] = {"channels": 1, "diarization": True, "channel_map": SHARED}
    for index, offset in ((0, 0.0), (1, 3600.0)):
        job = await notifier.submitter.submit("m-diarized", part_index=index, part_count=2, offset=offset, **mono)
        await notifier.processed(job)

    [message] = notifier.smtp.messages
    [transcript] = list(message.iter_attachments())
    speakers = [line.split("] ")[1].split(":")[0] for line in transcript.get_content().splitlines()]
    assert len(speakers) == 4
    first, second = speakers[:2], speakers[2:]
    assert len(set(first)) == 2 and len(set(second)) == 2
    assert not set(first) & set(second), f"part 2's voices are not part 1's: {speakers}"
