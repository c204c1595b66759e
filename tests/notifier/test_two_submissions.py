"""One generation submitted twice, under two plans: the report joins the parts of the submission its meeting records.

The tenant's provider was switched between two deliveries of the same ``AudioMixed``: the first (Symbl, the mono mix
cut in parts) died before its offset was committed, after some of its parts were claimed or accepted; the
redelivery (AssemblyAI, the multichannel file) submitted its own parts and marked the meeting
(``mark_submitted``: ``submitted_generation``, ``provider``, ``part_count``). The job documents are written by the
submitter's own code (``submit_part``, its claims, its meeting store) against the real MongoDB, S3 and sandboxes;
the notifier confirms each status with the provider.

Before, the notifier expected the largest ``part_count`` among all the generation's jobs and keyed the done parts
by ``part_index``: it waited for ever when the first plan had more parts (no report, no notice), and merged parts of
both plans when their indexes met (overlapping or missing minutes).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr
from zoomsymbl_common.events import AudioMixed, JobStatus, JobSubmitted, Provider
from zoomsymbl_common.limiter import Limiter
from zoomsymbl_common.records import JOBS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.tenants import TenantConfig, Tenants, ran_as
from zoomsymbl_notifier.jobs import JobRecord
from zoomsymbl_notifier.pipeline import Pipeline
from zoomsymbl_submitter import plan, splitting
from zoomsymbl_submitter.part_submission import Target
from zoomsymbl_submitter.parts import Part
from zoomsymbl_submitter.submission import Submitter

from tests.notifier.conftest import Notifier
from tests.notifier.harness import AAI_KEY, make_tenant
from tests.submitter.support import audio_mixed, build_submitter, mixed_key
from tests.support.eventually import eventually

pytestmark = pytest.mark.integration
UNUSED = "http://127.0.0.1:9/unused"  # the sandboxes' callbacks go nowhere: each test reports the statuses it needs
SYMBL_SPACING, AAI_SPACING = 2400.0, 3600.0  # where each plan's parts start: the report's time stamps tell them apart


@dataclass
class Delivery:
    """One delivery of the meeting's ``AudioMixed`` to a submitter whose tenant uses ``provider``."""

    submitter: Submitter
    target: Target
    event: AudioMixed  # as submitted: the mono mix for Symbl

    @property
    def provider(self) -> Provider:
        return self.target.provider.name

    def key(self, part: Part) -> str:
        return plan.idempotency_key(self.event, self.provider, part)


@dataclass
class Rig:
    """The meeting, the submitters of its deliveries, and the notifier that confirms its jobs."""

    notifier: Notifier
    pipeline: Pipeline  # the notifier's, with a tenant that has run on both providers
    store: ObjectStore
    infra: InfraSettings
    event: AudioMixed
    scratch: Path

    async def delivery(self, provider: Provider) -> Delivery:
        tenant, published = both_providers(self.notifier, provider), list[JobSubmitted]()
        session = self.notifier.submitter.session
        submitter = build_submitter(self.infra, self.notifier.mongo, Tenants([tenant]), session, UNUSED, published)
        account = submitter.providers.account_key(tenant)
        target = Target(tenant, submitter.providers.get(tenant), account, submitter.limiters.get(account))
        assert submitter.downmixer is not None
        return Delivery(submitter, target, await submitter.downmixer.prepare(self.event, provider))

    async def parts(self, delivery: Delivery, count: int, spacing: float) -> list[Part]:
        """``count`` parts of the delivery's file, each a copy of it (the sandboxes transcribe what they get)."""
        event = delivery.event
        whole = self.scratch / f"{delivery.provider}.flac"
        await self.store.get_file(event.object_key, str(whole))
        parts = []
        for index, key in enumerate(splitting.plan_object_keys(event.object_key, event.format, count)):
            size = await self.store.put_file(key, str(whole))
            parts.append(Part(index, count, index * spacing, self.event.duration_seconds, event.bucket, key, size))
        return parts

    async def job(self, key: str) -> JobRecord:
        doc = await self.notifier.mongo.db[JOBS].find_one({"_id": key})
        assert doc is not None
        return JobRecord.from_doc(doc)

    async def complete(self, key: str, status: JobStatus = "completed") -> JobRecord:
        """The provider finished job ``key`` (with ``status``), and the notifier confirmed it (a callback's report,
        handled)."""
        job = await self.job(key)
        provider = self.pipeline.provider_for(ran_as(self.pipeline.tenant_of(job), job.provider))

        async def finished() -> bool:
            return (await provider.job_status(job.job_id)).status == status

        await eventually(finished, what=f"{job.provider} job {job.part_index + 1}/{job.part_count} to be {status}")
        await self.pipeline.confirm_and_apply(job, "callback")
        return await self.job(key)

    def stamps(self) -> list[str]:
        """The time stamps of the one report's transcript."""
        [message] = self.notifier.smtp.messages
        [transcript] = list(message.iter_attachments())
        return [line.split("]")[0] + "]" for line in transcript.get_content().splitlines()]


@pytest.fixture
async def rig(notifier: Notifier, store: ObjectStore, infra: InfraSettings, tone_audio: Path, tmp_path: Path) -> Rig:
    """A two-channel meeting stored as the mixer leaves it; the notifier knows its tenant on both providers."""
    key = mixed_key("uuid/31==")
    event = audio_mixed(31, infra, key, await store.put_file(key, str(tone_audio)))
    await notifier.submitter.meeting(event.meeting_uuid, topic="Long meeting", stage="mixed")
    pipeline = dataclasses.replace(notifier.pipeline, tenants=Tenants([both_providers(notifier, "symbl")]))
    return Rig(notifier, pipeline, store, infra, event, tmp_path)


def both_providers(notifier: Notifier, provider: Provider) -> TenantConfig:
    """Tenant ``acme`` on ``provider``, with its accounts at both sandboxes (it switched between the deliveries)."""
    sandboxes, key = notifier.submitter, SecretStr(AAI_KEY)
    return make_tenant(
        sandboxes.symbl_url, provider=provider, assemblyai_api_key=key, assemblyai_api_base=sandboxes.assemblyai_url
    )


async def first_delivery(rig: Rig, count: int, accepted: int) -> tuple[Delivery, list[Part]]:
    """Symbl's plan of the mono mix in ``count`` parts: the first ``accepted`` submitted, the others claimed (slot
    taken, claim inserted) when the process died, before the provider had them; the meeting is not marked."""
    symbl = await rig.delivery("symbl")
    parts = await rig.parts(symbl, count, SYMBL_SPACING)
    for part in parts[:accepted]:
        await symbl.submitter.submit_part(symbl.event, symbl.target, part)
    for part in parts[accepted:]:
        await symbl.target.limiter.acquire(symbl.key(part), timeout=5)
        fields = plan.job_fields(symbl.event, "symbl", symbl.target.account_key, part)
        assert (await symbl.submitter.jobs.claim(symbl.key(part), fields)).outcome == "claimed"
    return symbl, parts


async def redelivery(rig: Rig, count: int, *, mark: bool = True) -> tuple[Delivery, list[Part]]:
    """AssemblyAI's plan of the multichannel file in ``count`` parts, every one submitted, the meeting marked as the
    submitter marks it once the last part went in (unless ``mark`` is False: not yet)."""
    aai = await rig.delivery("assemblyai")
    parts = await rig.parts(aai, count, AAI_SPACING)
    for part in parts:
        await aai.submitter.submit_part(aai.event, aai.target, part)
    if mark:
        await aai.submitter.meetings.mark_submitted(aai.event, "assemblyai", count)
    return aai, parts


async def test_the_report_joins_the_recorded_submission_and_waits_for_no_part_of_the_other(rig: Rig) -> None:
    symbl, symbl_parts = await first_delivery(rig, count=3, accepted=1)
    aai, aai_parts = await redelivery(rig, count=2)

    done = [await rig.complete(aai.key(part)) for part in reversed(aai_parts)]

    assert len(rig.notifier.smtp.messages) == 1, "the recorded submission's two parts make the report"
    assert rig.stamps() == ["[0:00:00]", "[0:00:02]", "[1:00:00]", "[1:00:02]"]
    [ready] = rig.notifier.ready
    assert ready.conversation_ids == tuple(job.conversation_id for job in reversed(done))
    assert ready.provider == "assemblyai"

    # The first delivery's accepted part finishes too: its slot is freed, its insights kept, nothing sent again.
    late = await rig.complete(symbl.key(symbl_parts[0]))

    assert late.processed and late.insights_stored
    held = {slot.ref for slot in await Limiter(rig.notifier.mongo, symbl.target.account_key).slots()}
    assert held == {symbl.key(part) for part in symbl_parts[1:]}, "only the claims that never went in hold theirs"
    assert len(rig.notifier.smtp.messages) == 1 and len(rig.notifier.ready) == 1
    meeting = await rig.notifier.meeting(rig.event.meeting_uuid)
    assert meeting["stage"] == "notified"


async def test_the_report_never_merges_parts_of_two_submissions(rig: Rig) -> None:
    symbl, symbl_parts = await first_delivery(rig, count=2, accepted=2)
    aai, aai_parts = await redelivery(rig, count=2)

    await rig.complete(symbl.key(symbl_parts[0]))
    await rig.complete(aai.key(aai_parts[1]))

    assert rig.notifier.smtp.messages == [], "part 1 of one plan and part 2 of the other are no meeting"

    first = await rig.complete(aai.key(aai_parts[0]))
    await rig.complete(symbl.key(symbl_parts[1]))

    assert rig.stamps() == ["[0:00:00]", "[0:00:02]", "[1:00:00]", "[1:00:02]"], "AssemblyAI's parts only"
    [ready] = rig.notifier.ready
    assert ready.conversation_ids[0] == first.conversation_id and ready.provider == "assemblyai"
    assert await Limiter(rig.notifier.mongo, symbl.target.account_key).slots() == [], "Symbl's slots freed"


async def test_a_submission_that_finishes_before_its_meeting_records_it_is_reported_once(rig: Rig) -> None:
    """The submitter marks the meeting after its last part went in; the provider can finish them before that."""
    symbl, symbl_parts = await first_delivery(rig, count=3, accepted=1)
    aai, aai_parts = await redelivery(rig, count=2, mark=False)

    for part in aai_parts:
        await rig.complete(aai.key(part))

    assert rig.stamps() == ["[0:00:00]", "[0:00:02]", "[1:00:00]", "[1:00:02]"]

    await aai.submitter.meetings.mark_submitted(aai.event, "assemblyai", 2)
    await rig.complete(symbl.key(symbl_parts[0]))
    for part in aai_parts:  # the recorded parts' reports again (a redelivery, the sweeper)
        await rig.pipeline.confirm_and_apply(await rig.job(aai.key(part)), "sweeper")

    assert len(rig.notifier.smtp.messages) == 1 and len(rig.notifier.ready) == 1


async def test_a_job_of_the_submission_recorded_before_triggers_the_report_of_the_one_recorded_since(rig: Rig) -> None:
    """The first delivery marked the meeting and died before its offset was committed; the redelivery's parts finish
    while the meeting still names the first submission, and it is marked only then: the first submission's last job
    to finish is the one that finds the report ready, the redelivery's."""
    symbl, symbl_parts = await first_delivery(rig, count=2, accepted=2)
    await symbl.submitter.meetings.mark_submitted(symbl.event, "symbl", 2)
    aai, aai_parts = await redelivery(rig, count=2, mark=False)

    done = [await rig.complete(aai.key(part)) for part in aai_parts]

    assert rig.notifier.smtp.messages == [], "the meeting names the first submission: not these parts yet"

    await aai.submitter.meetings.mark_submitted(aai.event, "assemblyai", 2)
    for part in symbl_parts:
        await rig.complete(symbl.key(part))

    assert rig.stamps() == ["[0:00:00]", "[0:00:02]", "[1:00:00]", "[1:00:02]"]
    [ready] = rig.notifier.ready
    assert ready.conversation_ids == tuple(job.conversation_id for job in done)
    assert ready.provider == "assemblyai", "the parts' provider, not the one of the job that found them ready"
