"""What a provider answers to a submission is outside input: ids that no event can carry, or that would name another
path of the provider's API in every later call about the job (``GET /v1/job/{id}`` with our key), are refused."""

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


HUGE = "j" * (JOB_ID_MAX + 1)
TOO_LONG = f"of {JOB_ID_MAX + 1} characters"


@pytest.mark.parametrize(
    ("field", "answered", "says"),
    [
        ("job_id", HUGE, TOO_LONG),
        ("conversation_id", HUGE, TOO_LONG),
        ("job_id", "../../oauth2/token:generate", "not a plain name"),
        ("job_id", "j?x=1", "not a plain name"),
        ("conversation_id", "c#x", "not a plain name"),
        ("job_id", "..", "not a plain name"),
    ],
)
async def test_an_accepted_job_whose_id_cannot_be_followed_fails_at_once_and_is_never_announced(
    infra: InfraSettings,
    mongo: Mongo,
    session: aiohttp.ClientSession,
    symbl: TestServer,
    completer: Completer,
    store: ObjectStore,
    tone_audio: Path,
    monkeypatch: pytest.MonkeyPatch,
    field: str,
    answered: str,
    says: str,
) -> None:
    real = SymblProvider.submit

    async def answers_that_id(self: SymblProvider, request: SubmitRequest) -> SubmittedJob:
        job = await real(self, request)  # Symbl accepts the job, then answers an id no later call can use
        ids = {"job_id": job.job_id, "conversation_id": job.conversation_id} | {field: answered}
        return SubmittedJob(**ids)

    monkeypatch.setattr(SymblProvider, "submit", answers_that_id)
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
        assert says in caught.value.reason and answered not in caught.value.reason
    assert symbl.app[SYMBL_STATE].stats()["submit_attempts"] == 1
    job = await mongo.db[JOBS].find_one({})
    assert job is not None and job["status"] == "rejected" and job["job_id"] is None
    assert published == []
    assert await Limiter(mongo, SYMBL_ACCOUNT).slots() == [], "no job of ours can free it: the slot is given back"
