"""An AssemblyAI tenant's meeting whose provider job fails is reported from Zoom's transcript (issue 16).

Zoom's transcript is stored first (``recording.transcript_completed``), then the recording comes and is
submitted to AssemblyAI, whose sandbox is armed to fail the next job. The notifier confirms the failure,
completes the meeting from the stored transcript and e-mails one report naming the failure, no notice.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from zoomsymbl_common.mongo import make_mongo
from zoomsymbl_common.records import JOBS, MEETINGS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_sandbox.stack import Stack, running_stack
from zoomsymbl_sandbox.stack_config import StackConfig
from zoomsymbl_sandbox.zoom import demo_meeting_spec

from tests.e2e.conftest import mails_for, settled, wait_for_mails
from tests.support.eventually import eventually
from tests.support.names import token

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[2]
RUN = token()
SPEC = demo_meeting_spec(f"fallback{RUN}==", host_email=f"host-fallback-{RUN}@example.test").model_copy(
    update={"transcript": True}
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        run_dir=tmp_path_factory.mktemp("fallback-stack"),
        topic_prefix=f"fallback-{RUN}-",
        database=f"fallback_{RUN}",
        bucket=f"fallback-{RUN}",
        tenant="fallback",
        provider="assemblyai",
        zoom={"meetings": [SPEC.model_dump(mode="json")], "cache_dir": str(ROOT / ".cache" / "zoom-sandbox")},
    )
    with running_stack(config) as running:
        yield running


async def test_a_failed_provider_job_is_reported_from_zoom_transcript(stack: Stack) -> None:
    mongo = make_mongo(InfraSettings().model_copy(update={"mongo_database": stack.config.database}))
    try:
        assert await stack.trigger_transcript_completed(SPEC.uuid) == 200

        async def stored() -> list[object]:
            doc = await mongo.db[MEETINGS].find_one({"tenant": "fallback", "meeting_uuid": SPEC.uuid})
            return list(doc.get("transcripts") or []) if doc else []

        await eventually(stored, bool, timeout=120, what="Zoom's transcript stored")
        async with aiohttp.ClientSession() as session:
            url = stack.config.url("assemblyai") + "/_sandbox/faults"
            async with session.post(url, json={"fail_next_jobs": 1}) as response:
                assert response.status == 200

        assert await stack.trigger_recording_completed(SPEC.uuid) == 200
        await wait_for_mails([SPEC], timeout=240)
        await settled(stack)

        [message] = mails_for(SPEC)
        assert str(message["Subject"]).startswith("Meeting summary")
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        text = str(body.get_content())
        assert "Source: Zoom transcript, because the speech provider failed (assemblyai job failed" in text
        doc = await mongo.db[MEETINGS].find_one({"tenant": "fallback", "meeting_uuid": SPEC.uuid})
        assert doc is not None and doc["stage"] == "notified" and doc.get("failure") is None
        providers = {j["provider"]: j["status"] async for j in mongo.db[JOBS].find({"meeting_uuid": SPEC.uuid})}
        assert providers == {"assemblyai": "failed", "zoom": "completed"}
    finally:
        await mongo.close()
