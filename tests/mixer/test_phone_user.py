"""Who a Zoom Phone call's report goes to, when Zoom's Users API does not answer (sandbox, real MongoDB, S3, ffmpeg).

A call's recipient is the phone user's Zoom e-mail, asked of ``GET /users/{userId}``. Zoom's answer that there is
none (no such user, the scope missing) leaves the call without a recipient, as documented; Zoom not answering is no
such answer: the call is tried again by the consumer policy, never mixed and announced to nobody for good.
"""

from __future__ import annotations

from functools import partial

import pytest
from zoomsymbl_common.errors import RateLimitedError, RetryableError
from zoomsymbl_common.records import MEETINGS
from zoomsymbl_common.zoom_retries import call_with_retries
from zoomsymbl_mixer import phone
from zoomsymbl_sandbox.zoom import Fault, demo_call_spec

from tests.mixer.conftest import Rig
from tests.mixer.test_phone import phone_event

pytestmark = pytest.mark.integration


async def no_wait(_: float) -> None:
    return None


@pytest.mark.parametrize(
    ("fault", "raised"),
    [
        # More 429s than call_with_retries waits out (20): a RateLimitedError, which the consumer waits out unspent.
        (Fault(route="users", kind="status", status=429, retry_after=0, count=21), RateLimitedError),
        # Zoom's 503 on every one of call_with_retries' 6 tries: retryable, within the message's attempts.
        (Fault(route="users", kind="status", status=503, count=6), RetryableError),
    ],
    ids=["429-storm", "503-storm"],
)
async def test_a_phone_user_lookup_zoom_does_not_answer_is_retried_not_taken_for_no_recipient(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, fault: Fault, raised: type[RetryableError]
) -> None:
    monkeypatch.setattr(phone, "call_with_retries", partial(call_with_retries, sleep=no_wait))
    event = await phone_event(rig, demo_call_spec("lookupcall1"))
    assert event.host_email == "", "Zoom's phone payload names the user by id only"
    rig.sandbox.faults.add(fault)
    mixer = rig.mixer()

    with pytest.raises(raised):
        await mixer.on_recording_completed(event)
    assert rig.sandbox.faults.to_json() == [], "every injected answer was served"
    assert rig.published == [], "nothing announced without its recipient"
    assert rig.downloads() == 0, "the lookup comes before any download"
    doc = await rig.mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": event.meeting_uuid})
    assert doc is None or doc.get("stage") != "mixed"

    # The consumer's next attempt, Zoom answering again: the report has its recipient.
    mixed = await mixer.on_recording_completed(event)
    assert mixed.host_email == "host@example.com"
    assert rig.published == [mixed]


async def test_zooms_answer_that_the_user_has_no_e_mail_still_archives_the_call_without_a_recipient(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 404 (a user deleted since the call; the scope missing answers 4xx too) is Zoom's answer: documented outcome.
    monkeypatch.setattr(phone, "call_with_retries", partial(call_with_retries, sleep=no_wait))
    event = await phone_event(rig, demo_call_spec("lookupcall2"))
    rig.sandbox.faults.add(Fault(route="users", kind="status", status=404))
    mixed = await rig.mixer().on_recording_completed(event)
    assert mixed.host_email == ""
    assert rig.published == [mixed]
