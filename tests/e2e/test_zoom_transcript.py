"""A tenant on the ``zoom`` source (issue 16): no speech provider, Zoom's own transcript.

Zoom sends ``recording.completed`` first and ``recording.transcript_completed`` once its transcript is
ready. The recording is mixed and waits; the transcript is stored next to it, the mix is announced again
naming it, the submitter turns it into a completed job, and the notifier asks the insights engine for
the sections and e-mails the host a report that says it came from Zoom's transcript.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from zoomsymbl_common.mongo import make_mongo
from zoomsymbl_common.records import JOBS, MEETINGS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_sandbox.stack import Stack, running_stack
from zoomsymbl_sandbox.stack_config import StackConfig
from zoomsymbl_sandbox.zoom import demo_meeting_spec

from tests.e2e.conftest import mails_for, operator, settled, wait_for_mails
from tests.e2e.test_providers import sections, transcript_by_speaker, words
from tests.support.names import token

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[2]
RUN = token()
SPEC = demo_meeting_spec(f"zoomtx{RUN}==", host_email=f"host-zoomtx-{RUN}@example.test").model_copy(
    update={"transcript": True, "captions": True}
)
REPLAYED = demo_meeting_spec(f"zoomtxr{RUN}==", host_email=f"host-zoomtxr-{RUN}@example.test").model_copy(
    update={"transcript": True}
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        run_dir=tmp_path_factory.mktemp("zoomtx-stack"),
        topic_prefix=f"zoomtx-{RUN}-",
        database=f"zoomtx_{RUN}",
        bucket=f"zoomtx-{RUN}",
        tenant="zoomtx",
        # No provider credentials at all: the transcript is Zoom's, the insights the tenant's own engine.
        tenant_overrides={
            "provider": "zoom",
            "assemblyai_api_key": "",
            "symbl_app_id": "",
            "symbl_app_secret": "",
            "llm_api_key": "sandbox-assemblyai-key",
        },
        zoom={
            "meetings": [SPEC.model_dump(mode="json"), REPLAYED.model_dump(mode="json")],
            "cache_dir": str(ROOT / ".cache" / "zoom-sandbox"),
        },
    )
    with running_stack(config) as running:
        yield running


async def test_a_zoom_source_meeting_is_reported_from_zoom_transcript(stack: Stack) -> None:
    assert await stack.trigger_recording_completed(SPEC.uuid) == 200
    await settled(stack)
    assert mails_for(SPEC) == []  # mixed, waiting for Zoom's transcript: no job, no failure notice

    assert await stack.trigger_transcript_completed(SPEC.uuid) == 200
    await wait_for_mails([SPEC], timeout=240)

    [message] = mails_for(SPEC)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = str(body.get_content())
    assert "Source: Zoom transcript" in text
    report = sections(text)
    assert any("Elisa L: " in q and "Friday?" in q for q in report["Questions"]), report
    assert any("owner: Zoë 🎧 Ng" in a for a in report["Action items"]), report
    heard = transcript_by_speaker(message)
    for participant in SPEC.participants:
        assert heard[participant.name] == words(participant.speech)  # Zoom's words, under Zoom's names

    mongo = make_mongo(InfraSettings().model_copy(update={"mongo_database": stack.config.database}))
    try:
        doc = await mongo.db[MEETINGS].find_one({"tenant": "zoomtx", "meeting_uuid": SPEC.uuid})
    finally:
        await mongo.close()
    assert doc is not None and doc["stage"] == "notified"
    assert {t["kind"] for t in doc["transcripts"]} == {"transcript", "cc"}
    assert all(t["key"].endswith(".vtt") for t in doc["transcripts"])


async def test_zoom_transcript_after_a_forced_replay_reports_the_replayed_meeting(stack: Stack) -> None:
    """``zoomsymbl replay --force`` between the recording and Zoom's transcript: the transcript's webhook (no
    generation) still reaches the replayed run, which is reported once (it waited for ever before)."""
    assert await stack.trigger_recording_completed(REPLAYED.uuid) == 200
    await settled(stack)
    selection = ("--topic", "zoom.recording-completed.v1", "--tenant", "zoomtx", "--meeting", REPLAYED.uuid)
    out = await operator(stack, "replay", *selection, "--force")
    assert "published=1" in out, out
    await settled(stack)
    assert mails_for(REPLAYED) == []  # generation 1 mixed, waiting for Zoom's transcript as generation 0 did

    assert await stack.trigger_transcript_completed(REPLAYED.uuid) == 200
    await wait_for_mails([REPLAYED], timeout=240)
    await settled(stack)

    [message] = mails_for(REPLAYED)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and "Source: Zoom transcript" in str(body.get_content())
    mongo = make_mongo(InfraSettings().model_copy(update={"mongo_database": stack.config.database}))
    try:
        doc = await mongo.db[MEETINGS].find_one({"tenant": "zoomtx", "meeting_uuid": REPLAYED.uuid})
        jobs = await mongo.db[JOBS].find({"tenant": "zoomtx", "meeting_uuid": REPLAYED.uuid}).to_list(None)
    finally:
        await mongo.close()
    assert doc is not None and (doc["stage"], doc["generation"]) == ("notified", 1)
    assert [(job["provider"], job["generation"]) for job in jobs] == [("zoom", 1)]
