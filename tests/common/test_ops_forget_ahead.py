"""``zoomsymbl forget --ahead --yes``: a deletion request that comes before the meeting is archived is recorded as its
tombstone, which the mixer and ``zoomsymbl replay`` read, so the meeting is never archived when it comes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops import forget_command
from zoomsymbl_common.ops.cli import build_parser
from zoomsymbl_common.ops.command import EXIT_FAILED, EXIT_USAGE
from zoomsymbl_common.ops.forget import Holdings, survey
from zoomsymbl_common.records import MEETINGS, TOMBSTONES, Meeting
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_mixer.state import MeetingState

from tests.common.test_ops_cli import assert_one_clear_line, zoomsymbl
from tests.common.test_ops_forget import env_for, report, tenants_file

UUID = "ahead/of+the==recording"
NOWHERE = "http://127.0.0.1:9"


@pytest.mark.integration
async def test_a_request_before_the_recording_keeps_the_meeting_from_being_archived(
    infra: InfraSettings, mongo: Mongo, tmp_path: Path
) -> None:
    env = env_for(infra, tenants_file(tmp_path / "tenants.json", NOWHERE, NOWHERE))
    unknown = await zoomsymbl("forget", "--tenant", "acme", "--meeting", UUID, "--yes", env=env)
    assert unknown.code == EXIT_FAILED
    assert_one_clear_line(unknown, "no meeting", "add --ahead --yes")
    assert await mongo.db[TOMBSTONES].count_documents({}) == 0

    ahead = await zoomsymbl("forget", "--tenant", "acme", "--meeting", UUID, "--yes", "--ahead", "--json", env=env)
    assert ahead.code == 0, ahead.err
    assert report(ahead)["mode"] == "forgotten ahead"
    state = MeetingState(mongo.db)
    assert await state.forgotten("acme", UUID), "the mixer skips the recording when it comes"
    assert not await state.forgotten("beta", UUID), "another tenant's meeting of the same UUID is not touched"

    again = await zoomsymbl("forget", "--tenant", "acme", "--meeting", UUID, "--yes", "--ahead", env=env)
    assert again.code == 0, again.err
    assert await mongo.db[TOMBSTONES].count_documents({}) == 1


@pytest.mark.integration
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--ahead"], "--ahead confirms a tombstone"),  # without --yes
        (["--ahead", "--yes", "--tenant", "gamma"], "'gamma' is not in this pod's tenants"),  # a misspelt tenant
    ],
)
async def test_ahead_needs_yes_and_a_configured_tenant(
    infra: InfraSettings, mongo: Mongo, tmp_path: Path, args: list[str], words: str
) -> None:
    env = env_for(infra, tenants_file(tmp_path / "tenants.json", NOWHERE, NOWHERE))
    tenant = [] if "--tenant" in args else ["--tenant", "acme"]
    ran = await zoomsymbl("forget", "--meeting", UUID, *tenant, *args, env=env)
    assert ran.code == EXIT_USAGE, ran.err
    assert_one_clear_line(ran, words)
    assert await mongo.db[TOMBSTONES].count_documents({}) == 0


@pytest.mark.integration
async def test_a_recording_that_arrives_between_the_look_and_the_tombstone_is_erased_too(
    infra: InfraSettings, mongo: Mongo, store: ObjectStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ZOOMSYMBL_TENANTS_FILE", str(tenants_file(tmp_path / "tenants.json", NOWHERE, NOWHERE)))
    looked = survey  # the real look, before the recording arrives

    async def look_then_arrive(*args: Any) -> Holdings:
        found = await looked(*args)
        meeting = Meeting(tenant="acme", meeting_uuid=UUID, stage="received", updated_at=utcnow())
        await mongo.db[MEETINGS].insert_one(meeting.to_document())  # the mixer began it meanwhile
        return found

    monkeypatch.setattr(forget_command, "survey", look_then_arrive)
    args = build_parser().parse_args(["forget", "--tenant", "acme", "--meeting", UUID, "--yes", "--ahead"])
    forget_command._check(args)
    result = await forget_command._run(infra, args)
    assert (result.code, result.data["mode"]) == (0, "forgotten ahead"), result.message
    assert await mongo.db[MEETINGS].count_documents({}) == 0
    assert await MeetingState(mongo.db).forgotten("acme", UUID)
