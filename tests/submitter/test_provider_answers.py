"""What a provider answers to a submission is outside input: ids that no event can carry are refused."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.event_fields import JOB_ID_MAX
from zoomsymbl_common.events import JobSubmitted
from zoomsymbl_common.limiter import Limiter
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.base import SubmitRequest, SubmittedJob
from zoomsymbl_common.providers.symbl import SymblProvider
from zoomsymbl_common.records import JOBS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_sandbox.symbl import SYMBL_STATE

from tests.submitter.support import (
    SYMBL_ACCOUNT,
    Completer,
    add_meetings,
    audio_mixed,
    build_submitter,
    tenants_for,
    upload_for,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("field", ["job_id", "conversation_id"])
async def test_an_accepted_job_whose_id_no_event_can_carry_fails_at_once_and_is_never_announced(
    infra: InfraSettings,
    mongo: Mongo,
    session: aiohttp.ClientSession,
    symbl: TestServer,
    completer: Completer,
    store: ObjectStore,
    tone_audio: Path,
    monkeypatch: pytest.MonkeyPatch,
    field: str,
) -> None:
    real = SymblProvider.submit
    huge = "j" * (JOB_ID_MAX + 1)

    async def answers_a_huge_id(self: SymblProvider, request: SubmitRequest) -> SubmittedJob:
        job = await real(self, request)  # Symbl accepts the job, then answers an id of 257 characters
        ids = {"job_id": job.job_id, "conversation_id": job.conversation_id} | {field: huge}
        return SubmittedJob(**ids)

    monkeypatch.setattr(SymblProvider, "submit", answers_a_huge_id)
    published: list[JobSubmitted] = []
    tenants = tenants_for("symbl", str(symbl.make_url("")))
    # A short claim: a claim left behind would be taken over (and the meeting submitted again) within the test.
    submitter = build_submitter(infra, mongo, tenants, session, completer.base_url, published, claim_seconds=1.0)
    event = audio_mixed(41, infra, *await upload_for(store, tone_audio, 41))
    await add_meetings(mongo, [event])

    for _ in range(2):  # the redelivery fails the same way, without a second job
        with pytest.raises(PoisonInputError) as caught:
            await submitter.on_audio_mixed(event)
        assert caught.value.stage == "submit"
        assert f"of {JOB_ID_MAX + 1} characters" in caught.value.reason and huge not in caught.value.reason
    assert symbl.app[SYMBL_STATE].stats()["submit_attempts"] == 1
    job = await mongo.db[JOBS].find_one({})
    assert job is not None and job["status"] == "rejected" and job["job_id"] is None
    assert published == []
    assert await Limiter(mongo, SYMBL_ACCOUNT).slots() == [], "no job of ours can free it: the slot is given back"
