"""A Zoom Phone call through the whole stack (issue 16): signed webhook → ingest → mixer → provider → e-mail.

The Zoom sandbox records the call (espeak, 48 kHz MP3 mono) and signs ``phone.recording_completed``; ingest
publishes it, the mixer downloads the MP3 with the account's OAuth token, asks Zoom for the phone user's
e-mail and keeps the call's metadata, the default provider transcribes it with diarization, and the phone
user gets a report that names the call. The conversation's metadata record is in MongoDB and S3.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from zoomsymbl_common.mongo import make_mongo
from zoomsymbl_common.records import CONVERSATIONS, MEETINGS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_sandbox.stack import Stack, running_stack
from zoomsymbl_sandbox.stack_config import StackConfig
from zoomsymbl_sandbox.zoom import demo_call_spec

from tests.conftest import mails_to
from tests.e2e.conftest import settled
from tests.support.eventually import eventually
from tests.support.names import token

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[2]
RUN = token()
OWNER = f"jill-{RUN}@example.test"
CALL = demo_call_spec(f"phone{RUN}", owner_email=OWNER)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        run_dir=tmp_path_factory.mktemp("phone-stack"),
        topic_prefix=f"phone-{RUN}-",
        database=f"phone_{RUN}",
        bucket=f"phone-{RUN}",
        tenant="phone",
        zoom={"cache_dir": str(ROOT / ".cache" / "zoom-sandbox")},
    )
    with running_stack(config) as running:
        yield running


async def test_a_phone_call_is_reported_to_the_phone_user(stack: Stack) -> None:
    await stack.add_phone_call(CALL.model_dump(mode="json"))
    assert await stack.trigger_phone_recording_completed(CALL.recording_id) == 200
    assert await stack.trigger_phone_recording_completed(CALL.recording_id) == 200  # Zoom's retry: a duplicate

    async def mails() -> int:
        return len(mails_to(OWNER))

    await eventually(mails, lambda n: n > 0, timeout=240, what="the call's e-mail")
    await settled(stack)
    [message] = mails_to(OWNER)
    assert message["To"] == OWNER, "the phone user's Zoom e-mail, from GET /users/{id}"
    # Collapsed whitespace: the encoded-word header may be folded at the non-ASCII arrow.
    assert (
        " ".join(str(message["Subject"]).split())
        == "Call summary: Zoom Phone call: Jack Chill (+12092592844) → Jill Chill (1026)"
    )
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = str(body.get_content())
    assert "Source: Zoom Phone call, Jack Chill (+12092592844) → Jill Chill (1026), inbound, 0:00:" in text

    mongo = make_mongo(InfraSettings().model_copy(update={"mongo_database": stack.config.database}))
    try:
        meeting = await mongo.db[MEETINGS].find_one({"tenant": "phone", "meeting_uuid": f"phone:{CALL.recording_id}"})
        record = await mongo.db[CONVERSATIONS].find_one(
            {"tenant": "phone", "meeting_uuid": f"phone:{CALL.recording_id}"}
        )
    finally:
        await mongo.close()
    assert meeting is not None and meeting["stage"] == "notified" and meeting["platform"] == "zoom_phone"
    assert meeting["call"]["caller"]["name"] == "Jack Chill" and meeting["mix"]["diarization"] is True
    assert record is not None and record["source_platform"] == "Zoom Phone" and record["direction"] == "inbound"
    assert record["recorded_user"]["user"] == OWNER
