"""A submission whose claim lapsed while the provider call ran (MongoDB out of the owner's reach for longer
than a lease), and another replica took it over: real MongoDB and S3, the Symbl sandbox.

The lapse is made by moving the claim's ``claimed_until`` into the past during the provider call; the other
replica is a second :class:`JobStore` and :class:`Limiter`, acting as a submitter does (slot first, then claim).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.errors import RateLimitedError
from zoomsymbl_common.events import JobSubmitted, utcnow
from zoomsymbl_common.limiter import Limiter
from zoomsymbl_common.mongo import Document, Mongo
from zoomsymbl_common.providers.base import SubmitRequest, SubmittedJob
from zoomsymbl_common.providers.symbl import SymblProvider
from zoomsymbl_common.records import JOBS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_sandbox.symbl import SYMBL_STATE
from zoomsymbl_submitter.jobs import JobStore
from zoomsymbl_submitter.submission import Submitter

from tests.submitter.support import (
    SYMBL_ACCOUNT,
    Completer,
    audio_mixed,
    build_submitter,
    tenants_for,
    upload_for,
)

pytestmark = pytest.mark.integration
FIELDS = {"tenant": "acme", "meeting_uuid": "m-1", "provider": "symbl", "generation": 0}
During = Callable[[str], Awaitable[None]]


@pytest.fixture
async def submitter(
    infra: InfraSettings, mongo: Mongo, session: aiohttp.ClientSession, symbl: TestServer
) -> AsyncIterator[tuple[Submitter, list[JobSubmitted]]]:
    completer = Completer(mongo, SYMBL_ACCOUNT)
    await completer.start()
    published: list[JobSubmitted] = []
    tenants = tenants_for("symbl", str(symbl.make_url("")))
    yield build_submitter(infra, mongo, tenants, session, completer.base_url, published), published
    await completer.close()


class OtherReplica:
    """A second submitter replica on the same submission: its own claim owner, the same account's limiter."""

    def __init__(self, mongo: Mongo) -> None:
        self.jobs = JobStore(mongo, "other-replica", 60)
        self.limiter = Limiter(mongo, SYMBL_ACCOUNT, 50, 50, 5, 60)
        self.mongo = mongo

    async def take_over(self, key: str) -> None:
        """Our claim lapses, and this replica takes the submission over: slot first, then claim, as the
        submitter does (it finds the reference's slot held and counts on that one)."""
        await lapse(self.mongo, key)
        await self.limiter.acquire(key, timeout=5)
        assert (await self.jobs.claim(key, FIELDS)).outcome == "claimed"


async def lapse(mongo: Mongo, key: str) -> None:
    """Our claim runs out, as it does when MongoDB is out of our reach for longer than a lease."""
    await mongo.db[JOBS].update_one({"_id": key}, {"$set": {"claimed_until": utcnow() - timedelta(seconds=1)}})


async def the_submission(mongo: Mongo) -> Document:
    doc = await mongo.db[JOBS].find_one({})
    assert doc is not None
    return doc


def first_call_does(monkeypatch: pytest.MonkeyPatch, mongo: Mongo, during: During, *, fail: bool) -> None:
    """Symbl's client, whose first submit runs ``during(key)`` and then fails (429) or goes on to Symbl."""
    real = SymblProvider.submit
    calls: list[str] = []

    async def submit(self: SymblProvider, request: SubmitRequest) -> SubmittedJob:
        calls.append(request.name)
        if len(calls) == 1:
            await during(str((await the_submission(mongo))["_id"]))
            if fail:
                raise RateLimitedError("symbl answered HTTP 429")
        return await real(self, request)

    monkeypatch.setattr(SymblProvider, "submit", submit)


async def slot_refs(mongo: Mongo) -> list[str]:
    return [slot.ref for slot in await Limiter(mongo, SYMBL_ACCOUNT).slots()]


async def test_a_failed_attempt_whose_claim_was_taken_over_leaves_the_slot_to_the_new_owner(
    submitter: tuple[Submitter, list[JobSubmitted]],
    infra: InfraSettings,
    mongo: Mongo,
    store: ObjectStore,
    tone_audio: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flow, published = submitter
    other = OtherReplica(mongo)

    async def taken_over(key: str) -> None:
        await other.take_over(key)

    first_call_does(monkeypatch, mongo, taken_over, fail=True)
    event = audio_mixed(1, infra, *await upload_for(store, tone_audio, 1))
    with pytest.raises(RateLimitedError):
        await flow.on_audio_mixed(event)

    doc = await the_submission(mongo)
    assert (doc["status"], doc["claim_owner"]) == ("submitting", "other-replica"), "the new owner's claim stands"
    assert await slot_refs(mongo) == [doc["_id"]], "the new owner's job still holds its slot"
    assert published == []


async def test_a_lapsed_claim_given_back_keeps_its_slot_for_the_replica_that_takes_it_over_next(
    submitter: tuple[Submitter, list[JobSubmitted]],
    infra: InfraSettings,
    mongo: Mongo,
    store: ObjectStore,
    tone_audio: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The other replica found the slot held before our claim was given back, and claims right after:
    giving the claim back first and then freeing the slot would leave its job without one."""
    flow, _ = submitter
    other = OtherReplica(mongo)
    refs: list[str] = []

    async def slot_counted_on(key: str) -> None:
        refs.append(key)
        await lapse(mongo, key)
        await other.limiter.acquire(key, timeout=5)

    first_call_does(monkeypatch, mongo, slot_counted_on, fail=True)
    event = audio_mixed(2, infra, *await upload_for(store, tone_audio, 2))
    with pytest.raises(RateLimitedError):
        await flow.on_audio_mixed(event)
    given_back = await the_submission(mongo)
    assert given_back["status"] == "retrying", "still ours, so given back with its reason"

    claim = await other.jobs.claim(refs[0], FIELDS)

    assert claim.outcome == "claimed"
    assert await slot_refs(mongo) == refs, "the slot the other replica counts on is still held"


async def test_a_job_another_owner_stored_first_is_the_one_announced(
    submitter: tuple[Submitter, list[JobSubmitted]],
    infra: InfraSettings,
    mongo: Mongo,
    store: ObjectStore,
    tone_audio: Path,
    symbl: TestServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flow, published = submitter
    other = OtherReplica(mongo)

    async def submitted_elsewhere(key: str) -> None:
        await other.take_over(key)
        assert await other.jobs.record_submitted(key, SubmittedJob("job-of-other", "conversation-of-other"))

    first_call_does(monkeypatch, mongo, submitted_elsewhere, fail=False)
    event = audio_mixed(3, infra, *await upload_for(store, tone_audio, 3))
    await flow.on_audio_mixed(event)

    doc = await the_submission(mongo)
    assert (doc["job_id"], doc["conversation_id"]) == ("job-of-other", "conversation-of-other")
    assert [(e.job_id, e.conversation_id) for e in published] == [("job-of-other", "conversation-of-other")]
    assert symbl.app[SYMBL_STATE].stats()["submissions_by_name"] == {"Meeting 3": 1}, "not submitted again"


async def test_a_submission_erased_during_the_provider_call_is_not_announced_nor_submitted_again(
    submitter: tuple[Submitter, list[JobSubmitted]],
    infra: InfraSettings,
    mongo: Mongo,
    store: ObjectStore,
    tone_audio: Path,
    symbl: TestServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flow, published = submitter

    async def erased(key: str) -> None:
        await mongo.db[JOBS].delete_one({"_id": key})

    first_call_does(monkeypatch, mongo, erased, fail=False)
    event = audio_mixed(4, infra, *await upload_for(store, tone_audio, 4))
    await flow.on_audio_mixed(event)

    assert published == []
    assert await mongo.db[JOBS].find_one({}) is None
    assert symbl.app[SYMBL_STATE].stats()["submissions_by_name"] == {"Meeting 4": 1}


async def test_only_a_live_claim_of_ours_is_still_ours(mongo: Mongo) -> None:
    clock = FakeClock()
    ours = JobStore(mongo, "ours", 60, clock=clock)
    other = JobStore(mongo, "other", 60, clock=clock)
    assert (await ours.claim("key-live", FIELDS)).outcome == "claimed"
    assert await ours.still_ours("key-live")
    clock.advance(59)
    assert await ours.still_ours("key-live"), "and extended by a lease"
    assert (await other.claim("key-live", FIELDS)).outcome == "busy"

    clock.advance(61)
    assert not await ours.still_ours("key-live"), "lapsed: maybe being taken over"
    assert (await other.claim("key-live", FIELDS)).outcome == "claimed"
    assert not await ours.still_ours("key-live")
    assert not await ours.release_claim("key-live", "retrying", "symbl answered HTTP 429")
    assert await other.release_claim("key-live", "retrying", "symbl answered HTTP 429")
