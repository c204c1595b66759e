"""From a provider's callback to exactly one e-mail: real MongoDB, Symbl sandbox and SMTP server.

Kafka is FastStream's in-memory test broker here; the callback routes are the real ones, so the
Symbl sandbox calls them as Symbl would.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import time
from urllib.parse import unquote

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from zoomsymbl_common.events import MeetingFailed, RecordingCompleted
from zoomsymbl_common.limiter import Limiter
from zoomsymbl_common.logs import JsonFormatter
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.page_tokens import PAGE_PATH, verify_page_token
from zoomsymbl_common.providers.base import Insights, TranscriptMessage
from zoomsymbl_common.providers.pool import ProviderPool
from zoomsymbl_common.records import EMAILS
from zoomsymbl_common.tenants import TenantConfig, ran_as
from zoomsymbl_notifier.metrics import FailureMetrics
from zoomsymbl_sandbox.provider_testkit import CallbackReceiver

from tests.notifier.conftest import Notifier
from tests.notifier.harness import ACCOUNT, ARCHIVE, HOST, PAGE_BASE_URL, PAGE_KEY, TENANT, make_tenant
from tests.support.eventually import eventually

pytestmark = pytest.mark.integration


def _text(message: object) -> str:
    body = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    assert body is not None
    return str(body.get_content())


async def test_completed_meeting_is_emailed_to_host_and_extra_recipients(notifier: Notifier) -> None:
    await notifier.submitter.meeting("m-1", topic="Weekly sync")
    job = await notifier.submitter.submit("m-1")

    doc = await notifier.processed(job)

    assert doc["status"] == "completed"
    [message] = notifier.smtp.messages
    assert message["Subject"] == "Meeting summary: Weekly sync"
    assert (message["To"], message["Cc"]) == (HOST, ARCHIVE)
    assert sorted(notifier.smtp.recipients[0]) == sorted([HOST, ARCHIVE])
    body = _text(message)
    for expected in ("Elisa L spoke for 1.0 s in 1 segments.", "Bob K to send a recap", "Did Elisa L finish segment 1?",
                     "Elisa L talk", "Elisa L: 0:01:00 (25%)", "Summary page: http://127.0.0.1"):  # fmt: skip
        assert expected in body
    [transcript] = list(message.iter_attachments())
    assert transcript.get_content().splitlines() == [
        "[0:00:00] Elisa L: Segment 1 on channel 1 (1.0 s)",
        "[0:00:02] Bob K: Segment 1 on channel 2 (1.0 s)",
    ]
    assert (await notifier.meeting("m-1"))["stage"] == "notified"
    [ready] = notifier.ready
    assert ready.conversation_ids == (job.conversation_id,) and ready.counts["messages"] == 2
    assert (await Limiter(notifier.mongo, ACCOUNT).snapshot())["in_flight"] == 0


async def test_the_email_links_the_meeting_page_and_the_token_stays_out_of_logs_and_events(
    notifier: Notifier, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await notifier.submitter.meeting("m-link", topic="Weekly sync")
    job = await notifier.submitter.submit("m-link")
    await notifier.processed(job)

    [message] = notifier.smtp.messages
    [line] = [x for x in _text(message).splitlines() if x.startswith("See and hear the meeting: ")]
    link = line.removeprefix("See and hear the meeting: ")
    assert link.startswith(f"{PAGE_BASE_URL}{PAGE_PATH}")
    token = unquote(link.removeprefix(f"{PAGE_BASE_URL}{PAGE_PATH}"))
    claim = verify_page_token(PAGE_KEY, token)
    assert claim is not None and (claim.tenant, claim.meeting_uuid) == (TENANT, "m-link")
    assert abs(claim.expires - (time.time() + 30 * 86_400)) < 600, "the tenant's default page_link_days"
    html = message.get_body(preferencelist=("html",))
    assert html is not None and f'href="{link}"' in html.get_content()
    [image] = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert f'src="cid:{image["Content-ID"].strip("<>")}"' in html.get_content()

    recorded = await notifier.mongo.db[EMAILS].find_one({"meeting_uuid": "m-link", "kind": "report"})
    assert recorded is not None, "the outbox holds the message as sent"
    assert line in _text(email.message_from_bytes(recorded["raw"], policy=email.policy.default))
    [ready] = notifier.ready
    assert token not in ready.model_dump_json() and link not in ready.model_dump_json()
    assert caplog.records, "the flow logged"
    for record in caplog.records:
        assert token not in record.getMessage() and token not in str(record.__dict__), record.getMessage()
    leak = logging.LogRecord("zoomsymbl.test", logging.INFO, __file__, 1, "oops %s", (link,), None)
    assert token not in JsonFormatter().format(leak), "the token is registered with the redactor"


async def test_ten_duplicate_completed_callbacks_send_one_email_and_free_one_slot(
    notifier: Notifier, receiver: CallbackReceiver
) -> None:
    await notifier.submitter.meeting("m-dup")
    job = await notifier.submitter.submit("m-dup", webhook_url=f"{receiver.base_url}/cb")
    other = await notifier.submitter.submit("m-other", webhook_url=f"{receiver.base_url}/cb")
    await notifier.sandbox_done(job)

    statuses = await asyncio.gather(*(notifier.callback(job, "completed") for _ in range(10)))
    await notifier.processed(job)

    assert statuses == [200] * 10
    assert len(notifier.smtp.messages) == 1
    assert await notifier.mongo.db[EMAILS].count_documents({"meeting_uuid": "m-dup"}) == 1
    assert len(notifier.ready) == 1
    slots = (await Limiter(notifier.mongo, ACCOUNT).snapshot())["slots"]
    assert [s["ref"] for s in slots] == [other.job_ref], "the other job keeps its slot"


async def test_late_and_replayed_callbacks_change_nothing(notifier: Notifier, receiver: CallbackReceiver) -> None:
    await notifier.submitter.meeting("m-late")
    job = await notifier.submitter.submit("m-late", webhook_url=f"{receiver.base_url}/cb")
    await notifier.sandbox_done(job)
    assert await notifier.callback(job, "completed") == 200
    await notifier.processed(job)
    before = await notifier.job(job)

    for status in ("in_progress", "scheduled", "completed", "failed"):
        assert await notifier.callback(job, status) == 200
    await notifier.queue.join()

    after = await notifier.job(job)
    assert after["status"] == "completed" and after["history"] == before["history"]
    assert (await notifier.meeting("m-late"))["stage"] == "notified"
    assert len(notifier.smtp.messages) == 1


async def test_a_final_status_stored_by_another_handler_after_the_read_is_acted_on(
    notifier: Notifier, receiver: CallbackReceiver
) -> None:
    """The handler acts on the job as it read it, without reading it again, unless the provider's final
    status is news to that read: another handler stored it in between, and may not get as far."""
    await notifier.submitter.meeting("m-meanwhile")
    job = await notifier.submitter.submit("m-meanwhile", webhook_url=f"{receiver.base_url}/cb")
    await notifier.sandbox_done(job)
    assert job.status == "scheduled"
    assert await notifier.jobs.apply_status(job, "completed", None, "callback")  # the other handler

    await notifier.pipeline.confirm_and_apply(job, "sweeper")

    assert len(notifier.smtp.messages) == 1
    assert (await notifier.meeting("m-meanwhile"))["stage"] == "notified"
    assert (await notifier.job(job)).get("processed_at") is not None


async def test_insights_a_dead_run_stored_without_marking_them_are_kept_not_fetched_again(
    notifier: Notifier, receiver: CallbackReceiver
) -> None:
    """A one-part meeting's run marks its insights stored only at its end, with ``processed_at``: a run
    that died in between left them unmarked, and the redelivery finds them instead of asking the
    provider (and the insights engine) again, so the page and the e-mail show the same insights."""
    await notifier.submitter.meeting("m-died")
    job = await notifier.submitter.submit("m-died", webhook_url=f"{receiver.base_url}/cb")
    await notifier.sandbox_done(job)
    assert await notifier.jobs.apply_status(job, "completed", None, "callback")  # the run that died
    said = TranscriptMessage(speaker="Elisa L", text="kept from the run that died", start_seconds=0, end_seconds=1)
    await notifier.pipeline.insights.put(job, Insights(messages=(said,)))

    assert await notifier.callback(job, "completed") == 200
    doc = await notifier.processed(job)

    assert doc["insights_stored_at"] is not None
    [message] = notifier.smtp.messages
    [transcript] = list(message.iter_attachments())
    assert transcript.get_content().splitlines() == ["[0:00:00] Elisa L: kept from the run that died"]
    assert (await notifier.meeting("m-died"))["stage"] == "notified"


async def test_forged_callback_is_refused_and_the_meeting_is_untouched(notifier: Notifier) -> None:
    await notifier.submitter.meeting("m-forged")
    job = await notifier.submitter.submit("m-forged", webhook_url="http://127.0.0.1:9/unused")
    forged = notifier.submitter.callback_url("someone-elses-ref").rsplit("/", 1)[0] + "/not-a-token"
    async with notifier.submitter.session.post(forged, json={"jobId": job.job_id, "status": "completed"}) as resp:
        assert resp.status == 401
    await notifier.queue.join()
    assert (await notifier.job(job))["status"] == "scheduled"
    assert (await notifier.meeting("m-forged"))["stage"] == "submitted"
    assert notifier.smtp.messages == []


async def test_failed_job_fails_the_meeting_and_sends_a_short_notice(notifier: Notifier) -> None:
    await notifier.submitter.meeting("m-fail", topic="Budget review")
    job = await notifier.submitter.submit("m-fail", name="budget [fail]")

    await notifier.processed(job)

    meeting = await notifier.meeting("m-fail")
    assert meeting["stage"] == "failed" and meeting["failed_stage"] == "notifier:provider"
    assert "symbl job failed" in meeting["failure_reason"]
    [notice] = notifier.smtp.messages
    assert notice["Subject"] == "Processing failed: Budget review"
    assert "Stage: transcription at the provider (notifier: provider)" in _text(notice)
    assert "Reason: symbl job failed" in _text(notice)
    assert list(notice.iter_attachments()) == []
    assert notifier.ready == []
    assert (await Limiter(notifier.mongo, ACCOUNT).snapshot())["in_flight"] == 0


async def test_split_meeting_waits_for_every_part_and_merges_them_in_time_order(notifier: Notifier) -> None:
    await notifier.submitter.meeting("m-split", topic="Long meeting")
    late = await notifier.submitter.submit("m-split", part_index=1, part_count=2, offset=3600.0)
    await notifier.processed(late)
    assert notifier.smtp.messages == [], "no e-mail before every part is in"

    first = await notifier.submitter.submit("m-split", part_index=0, part_count=2, offset=0.0)
    await notifier.processed(first)

    [message] = notifier.smtp.messages
    [transcript] = list(message.iter_attachments())
    stamps = [line.split("]")[0] + "]" for line in transcript.get_content().splitlines()]
    assert stamps == ["[0:00:00]", "[0:00:02]", "[1:00:00]", "[1:00:02]"]
    assert _text(message).count("Elisa L talk") == 1, "topics of the parts are merged"
    [ready] = notifier.ready
    assert ready.conversation_ids == (first.conversation_id, late.conversation_id)


async def test_a_new_generation_is_emailed_again_marked_as_an_update(notifier: Notifier) -> None:
    await notifier.submitter.meeting("m-gen", topic="Retro")
    await notifier.processed(await notifier.submitter.submit("m-gen"))
    await notifier.submitter.meeting("m-gen", topic="Retro", generation=1, stage="submitted")
    await notifier.processed(await notifier.submitter.submit("m-gen", generation=1))

    assert [m["Subject"] for m in notifier.smtp.messages] == [
        "Meeting summary: Retro",
        "[Update 1] Meeting summary: Retro",
    ]
    assert notifier.smtp.messages[0]["Message-ID"] != notifier.smtp.messages[1]["Message-ID"]


async def test_smtp_down_for_a_while_then_the_mail_goes_out_once(notifier: Notifier) -> None:
    await notifier.submitter.meeting("m-smtp")
    await notifier.smtp.stop()
    job = await notifier.submitter.submit("m-smtp")
    await notifier.processed(job)
    assert (await notifier.meeting("m-smtp"))["stage"] == "completed"

    await notifier.sweep()  # still down: the sweeper's retry fails too
    await notifier.smtp.start()

    async def delivered() -> bool:
        await notifier.sweep()
        return len(notifier.smtp.messages) > 0

    await eventually(delivered, what="the e-mail once SMTP is back")
    await notifier.sweep()
    assert len(notifier.smtp.messages) == 1
    assert (await notifier.meeting("m-smtp"))["stage"] == "notified"


async def test_assemblyai_callback_with_its_header_token_ends_in_one_email(notifier: Notifier) -> None:
    await notifier.submitter.meeting("m-aai", topic="AAI sync", tenant="beta")
    job = await notifier.submitter.submit_assemblyai("m-aai")

    doc = await notifier.processed(job)

    assert doc["status"] == "completed"
    [message] = notifier.smtp.messages
    assert message["Subject"] == "Meeting summary: AAI sync"
    [transcript] = list(message.iter_attachments())
    assert len(transcript.get_content().splitlines()) == 2, "one line per utterance of the two channels"
    assert (await notifier.meeting("m-aai", tenant="beta"))["stage"] == "notified"


async def test_no_failure_notice_when_the_tenant_does_not_want_one(notifier: Notifier) -> None:
    await notifier.submitter.meeting("m-quiet")
    job = await notifier.submitter.submit("m-quiet", webhook_url="http://127.0.0.1:9/unused")
    quiet = make_tenant(notifier.symbl.url, failure_notice=False)

    await notifier.pipeline.fail_meeting(job, quiet, "provider", "symbl job failed: nope")

    assert (await notifier.meeting("m-quiet"))["failure_reason"] == "symbl job failed: nope"
    assert notifier.smtp.messages == []


async def test_no_failure_notice_for_a_given_up_meeting_when_the_tenant_does_not_want_one(notifier: Notifier) -> None:
    await notifier.submitter.meeting("m-quiet-mix", stage="failed")
    source = RecordingCompleted(event_id="rc", tenant="acme", meeting_uuid="m-quiet-mix")
    quiet = make_tenant(notifier.symbl.url, failure_notice=False)

    await notifier.pipeline.on_meeting_failed(MeetingFailed.of(source, "mixer", "verify", "track unusable"), quiet)

    assert notifier.smtp.messages == []
    assert await notifier.mongo.db[EMAILS].count_documents({"meeting_uuid": "m-quiet-mix"}) == 0


async def test_each_failed_meeting_is_counted_by_who_failed_it_and_where(
    notifier: Notifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted: list[tuple[str, str]] = []
    monkeypatch.setattr(notifier.pipeline, "count_failure", lambda service, stage: counted.append((service, stage)))
    await notifier.submitter.meeting("m-count-mix", stage="failed")
    await notifier.submitter.meeting("m-count-ok")
    job = await notifier.submitter.submit("m-count-prov", webhook_url="http://127.0.0.1:9/unused")
    tenant = make_tenant(notifier.symbl.url)

    await notifier.pipeline.fail_meeting(job, tenant, "provider", "symbl job failed: nope")
    mixed = RecordingCompleted(event_id="rc1", tenant="acme", meeting_uuid="m-count-mix")
    await notifier.pipeline.on_meeting_failed(MeetingFailed.of(mixed, "mixer", "verify", "track unusable"), tenant)
    # A late failure event about a meeting that is not failed (any more) is not a failed meeting.
    healthy = RecordingCompleted(event_id="rc2", tenant="acme", meeting_uuid="m-count-ok")
    await notifier.pipeline.on_meeting_failed(MeetingFailed.of(healthy, "mixer", "verify", "stale"), tenant)

    assert counted == [("notifier", "provider"), ("mixer", "verify")]


def test_the_failed_meetings_counter_is_exported_with_its_labels() -> None:
    registry = CollectorRegistry()
    FailureMetrics(registry).count("submitter", "submit")
    assert (
        registry.get_sample_value(
            "zoomsymbl_notifier_meetings_failed_total", {"failed_by": "submitter", "stage": "submit"}
        )
        == 1
    )


async def test_a_job_that_fell_back_to_zoom_transcript_is_asked_of_the_zoom_source(mongo: Mongo) -> None:
    tenant = TenantConfig.model_validate({"id": "acme", "zoom_webhook_secret": "s", "assemblyai_api_key": "k"})
    async with aiohttp.ClientSession() as session:
        pool = ProviderPool(session, mongo=mongo)
        own, fallback = pool.get(ran_as(tenant, "assemblyai")), pool.get(ran_as(tenant, "zoom"))

    assert (own.name, fallback.name) == ("assemblyai", "zoom")
    assert pool.get(tenant) is own
