"""A mix is its own file: a meeting mixed again (``zoomsymbl replay --force`` under other settings, new tracks: a new
input hash) writes to a key of its own, so the earlier generation's jobs (the transcriber reads S3 when its job starts,
a provider fetches a presigned URL when it gets to the job) still read the audio they were submitted for. Real Zoom
sandbox, MongoDB, S3 and ffmpeg; the key names themselves without I/O.

Before, every mix of a meeting went to ``mixed/{tenant}/{meeting_key}.{ext}``: the re-mix overwrote the file an
earlier generation's single-part job still read, whose transcript stands in should the re-run fail.
"""

from __future__ import annotations

import hashlib
import re

import pytest
from zoomsymbl_common.events import RecordingCompleted
from zoomsymbl_common.ops.forget_objects import meeting_prefixes
from zoomsymbl_common.records import MEETINGS, Transcription
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage_keys import MAX_SEGMENT, meeting_key
from zoomsymbl_submitter import splitting
from zoomsymbl_submitter.downmix import mono_object_key
from zoomsymbl_submitter.jobs import MAX_PARTS
from zoomsymbl_submitter.part_plan import first_part_pattern, leftovers, meeting_prefix
from zoomsymbl_submitter.submission import check_location
from zoomsymbl_transcriber.worker import of_meeting

from tests.mixer.conftest import TYPICAL, Rig
from tests.submitter.support import audio_mixed

pytestmark = pytest.mark.integration


async def digest(rig: Rig, key: str) -> str:
    """A digest of the object's bytes as S3 holds them now."""
    body = b"".join([chunk async for chunk in rig.store.get_stream(key)])
    return hashlib.sha256(body).hexdigest()


def forced(event: RecordingCompleted, generation: int) -> RecordingCompleted:
    """``event`` as ``zoomsymbl replay --force`` re-publishes it under ``generation``."""
    return event.model_copy(update={"generation": generation, "event_id": f"{event.event_id}-g{generation}"})


async def test_a_meeting_mixed_again_leaves_the_earlier_generations_file_as_it_was(rig: Rig) -> None:
    event = await rig.event(TYPICAL)
    first = await rig.mixer().on_recording_completed(event)
    earlier = await digest(rig, first.object_key)

    # Run again under another channel limit: another input hash, another mix (two channels, not three).
    rig.tenant = rig.tenant.model_copy(update={"max_channels": 2})
    second = await rig.mixer().on_recording_completed(forced(event, 1))

    assert (first.channels, second.channels) == (3, 2) and second.input_hash != first.input_hash
    assert await digest(rig, first.object_key) == earlier, "the earlier generation's jobs read what they were sent"
    assert second.object_key != first.object_key
    doc = await rig.mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": TYPICAL})
    assert doc is not None and doc["objects"]["mixed"]["key"] == second.object_key  # the page plays the newest


async def test_the_same_inputs_reuse_their_mix_and_a_generation_mixing_them_again_writes_its_own_file(
    rig: Rig,
) -> None:
    """A redelivery, and a forced replay of the same inputs, find the mix and announce it (no download, same file);
    inputs mixed again after another mix replaced theirs on the meeting go to a key of their own generation."""
    event = await rig.event(TYPICAL)
    first = await rig.mixer().on_recording_completed(event)
    earlier = await digest(rig, first.object_key)
    downloads = rig.downloads()

    again = await rig.mixer().on_recording_completed(event)
    replayed = await rig.mixer().on_recording_completed(forced(event, 1))
    assert again == first and replayed.object_key == first.object_key and rig.downloads() == downloads
    assert replayed.event_id != first.event_id  # announced for its own generation

    narrow = rig.tenant
    rig.tenant = narrow.model_copy(update={"max_channels": 2})
    other = await rig.mixer().on_recording_completed(forced(event, 2))
    rig.tenant = narrow
    back = await rig.mixer().on_recording_completed(forced(event, 3))
    assert back.input_hash == first.input_hash and back.channels == 3
    assert len({first.object_key, other.object_key, back.object_key}) == 3
    assert await digest(rig, first.object_key) == earlier


def test_a_mixed_key_is_under_its_meetings_prefix_and_no_submitter_object() -> None:
    """Every reader of the meeting's objects finds the tagged file where it looks: the submitter's location check,
    its meeting prefix, its part and mono keys next to it, the transcriber's check of a work order's audio,
    ``zoomsymbl forget``'s prefix; the submitter's leftover cleanup never takes it for one of its own."""
    from zoomsymbl_mixer.mixing import mixed_object_key

    uuid = "Mix/er+Keys//uuid=="
    key = mixed_object_key("acme", uuid, "hash-1", 4, "opus")
    assert re.fullmatch(rf"mixed/acme/{re.escape(meeting_key(uuid))}\.mix-[0-9a-f]{{12}}\.opus", key)
    assert key == mixed_object_key("acme", uuid, "hash-1", 4, "opus")
    others = {mixed_object_key("acme", uuid, "hash-2", 4, "opus"), mixed_object_key("acme", uuid, "hash-1", 5, "opus")}
    assert key not in others and len(others) == 2

    event = audio_mixed(40, InfraSettings(), key, 1000, meeting_uuid=uuid, format="opus")
    check_location(event, event.bucket)
    prefix = meeting_prefix(event)
    assert key.startswith(prefix) and key.startswith(f"mixed/acme/{meeting_key(uuid)}.")
    part = splitting.part_object_key(key, 0, "opus", splitting.cut_tag("hash-1", 0, [0.0, 9.0]))
    assert part.startswith(key.removesuffix(".opus")) and re.match(first_part_pattern(event), part)
    assert mono_object_key(event).startswith(prefix)
    assert leftovers(prefix, [key, *others, part], set()) == [part]
    work_order = Transcription.model_validate({"_id": "j", "status": "scheduled", "bucket": "b", "object_key": part})
    assert of_meeting(work_order, "acme", uuid) and not of_meeting(work_order, "acme", "other")
    assert meeting_prefixes("acme", uuid)[1] == prefix  # zoomsymbl forget's


def test_the_longest_key_segment_of_a_tagged_mix_fits_a_file_system_s3_server() -> None:
    """A meeting key in its digest form: the mixed file's last part, and its mono mix's."""
    from zoomsymbl_mixer.mixing import mixed_object_key

    uuid = "u" * 256
    assert len(meeting_key(uuid)) == MAX_SEGMENT + 1
    key = mixed_object_key("acme", uuid, "hash", 2**63 - 1, "opus")
    event = audio_mixed(41, InfraSettings(), key, 1000, meeting_uuid=uuid, generation=2**63 - 1, format="opus")
    tag = splitting.cut_tag(event.input_hash, event.generation, [float(i) for i in range(MAX_PARTS)])
    longest = [
        splitting.part_object_key(key, MAX_PARTS - 1, "opus", tag),
        splitting.part_object_key(mono_object_key(event), MAX_PARTS - 1, "flac", tag),
    ]
    assert [len(name.rsplit("/", 1)[1].encode()) <= 255 for name in longest] == [True, True]
