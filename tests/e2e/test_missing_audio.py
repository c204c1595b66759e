"""End to end: Zoom answers 404 for one participant's file; the meeting is mixed without it, and the host's report
e-mail (both parts) and the meeting page it links say whose audio was missing, near the top.

Sandboxes and the six services as processes against the real local servers; the Zoom sandbox's fault answers every
download of that one file with Zoom's 404.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from zoomsymbl_sandbox.stack import Stack, running_stack
from zoomsymbl_sandbox.stack_config import StackConfig
from zoomsymbl_sandbox.zoom import MeetingSpec, ParticipantSpec

from tests.e2e.conftest import mails_for, settled, wait_for_mails
from tests.support.names import token

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[2]
RUN = token()
NAMES = ("Ana Lee", "Bo Chen", "Cy Díaz")
SPEC = MeetingSpec(
    uuid=f"missing{RUN}==",
    topic=f"E2E missing {RUN}",
    host_email=f"host-missing-{RUN}@example.test",
    participants=tuple(
        ParticipantSpec(name=name, start_offset_s=2 * i, duration_s=6, speech="") for i, name in enumerate(NAMES)
    ),
    include_video=False,
    synthetic_speech=True,
)
LINE = "Incomplete: Zoom no longer had the audio of Bo Chen; their words are not in this report."


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        run_dir=tmp_path_factory.mktemp("missing-stack"),
        topic_prefix=f"missing-{RUN}-",
        database=f"missing_{RUN}",
        bucket=f"missing-{RUN}",
        tenant="acme",
        zoom={"meetings": [SPEC.model_dump(mode="json")], "cache_dir": str(ROOT / ".cache" / "zoom-sandbox")},
    )
    with running_stack(config) as running:
        yield running


async def test_a_participant_file_zoom_answers_404_for_is_named_in_the_report_and_on_the_page(stack: Stack) -> None:
    zoom = stack.config.url("zoom")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{zoom}/_sandbox/meetings") as response:
            meetings = (await response.json())["meetings"]
        [meeting] = [m for m in meetings if m["uuid"] == SPEC.uuid]
        [gone] = [f["id"] for f in meeting["participant_audio_files"] if "Bo Chen" in f["file_name"]]
        fault = {"route": "download", "kind": "status", "status": 404, "file_id": gone, "count": 1000}
        async with session.post(f"{zoom}/_sandbox/faults", json=fault) as response:
            assert response.status == 200

        assert await stack.trigger_recording_completed(SPEC.uuid) == 200
        await wait_for_mails([SPEC], timeout=240)
        await settled(stack)

        [message] = mails_for(SPEC)
        text_part = message.get_body(preferencelist=("plain",))
        html_part = message.get_body(preferencelist=("html",))
        assert text_part is not None and html_part is not None
        lines = str(text_part.get_content()).splitlines()
        assert LINE in lines and lines.index(LINE) < lines.index("Summary")
        assert f"<p>{LINE}</p>" in str(html_part.get_content())
        talk = lines[lines.index("Talk time") + 1 :]
        assert any("Ana Lee" in line for line in talk) and not any("Bo Chen" in line for line in talk)

        [link] = [x.removeprefix("See and hear the meeting: ") for x in lines if x.startswith("See and hear")]
        async with session.get(link) as response:
            page = await response.text()
            assert response.status == 200, page
        assert (
            '<p class="notice" id="missing-audio">Incomplete: Zoom no longer had the audio of <bdi>Bo Chen</bdi>;'
            " their words are not on this page.</p>"
        ) in page
