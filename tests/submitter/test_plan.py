"""What is submitted for a part: its key, its webhook with the per-job token, its request and its event."""

from __future__ import annotations

from collections.abc import AsyncIterator

from pydantic import SecretStr
from zoomsymbl_common.callback_tokens import verify_callback_token
from zoomsymbl_common.events import ChannelAssignment
from zoomsymbl_common.providers.base import SubmittedJob
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_submitter import plan
from zoomsymbl_submitter.parts import Part

from tests.submitter.support import SECRET, audio_mixed

INFRA = InfraSettings()
EVENT = audio_mixed(1, INFRA, "mixed/acme/x.flac", 1000)
WHOLE = Part(0, 1, 0.0, 3.5, "b", "mixed/acme/x.flac", 1000)
CALLBACKS = plan.CallbackConfig("https://notifier.example.com", SecretStr(SECRET))


async def no_audio() -> AsyncIterator[bytes]:
    yield b""


def test_the_key_is_stable_and_changes_with_generation_provider_and_part() -> None:
    key = plan.idempotency_key(EVENT, "symbl", WHOLE)
    assert key == plan.idempotency_key(audio_mixed(1, INFRA, "elsewhere", 5, event_id="redelivered"), "symbl", WHOLE)
    others = {
        plan.idempotency_key(EVENT.model_copy(update={"generation": 1}), "symbl", WHOLE),
        plan.idempotency_key(EVENT, "assemblyai", WHOLE),
        plan.idempotency_key(EVENT, "symbl", Part(0, 2, 0.0, 1.0, "b", "k", 1)),
        plan.idempotency_key(EVENT, "symbl", Part(1, 2, 1.0, 1.0, "b", "k", 1)),
        plan.idempotency_key(EVENT.model_copy(update={"input_hash": "other"}), "symbl", WHOLE),
    }
    assert key not in others
    assert len(others) == 5


def test_symbl_gets_the_token_in_the_webhook_path() -> None:
    url, header = plan.webhook("symbl", CALLBACKS, "job-ref-1")
    prefix = "https://notifier.example.com/webhooks/symbl/"
    assert url.get_secret_value().startswith(prefix)
    assert verify_callback_token(SECRET, url.get_secret_value().removeprefix(prefix)) == "job-ref-1"
    assert header is None


def test_assemblyai_gets_the_token_in_its_auth_header() -> None:
    url, header = plan.webhook("assemblyai", CALLBACKS, "job-ref-1")
    assert url.get_secret_value() == "https://notifier.example.com/webhooks/assemblyai"
    assert header is not None
    assert header[0] == "x-zoomsymbl-callback"
    assert verify_callback_token(SECRET, header[1].get_secret_value()) == "job-ref-1"


def test_a_presigned_url_replaces_the_stream() -> None:
    hook = plan.webhook("symbl", CALLBACKS, "r")
    with_url = plan.submit_request(EVENT, WHOLE, "en-US", hook, no_audio, SecretStr("https://s3/x?sig"))
    assert with_url.audio is None and with_url.audio_url is not None
    streamed = plan.submit_request(EVENT, WHOLE, "en-US", hook, no_audio, None)
    assert streamed.audio is no_audio and streamed.audio_url is None
    assert streamed.name == "Meeting 1"
    assert streamed.channel_map == EVENT.channel_map


def test_a_part_is_named_after_the_meeting_and_its_position() -> None:
    part = Part(1, 3, 100.0, 50.0, "b", "k", 1)
    assert plan.job_name(EVENT, part) == "Meeting 1 (part 2 of 3)"
    assert plan.job_name(EVENT.model_copy(update={"topic_text": " "}), WHOLE) == "Zoom meeting uuid/1=="


def test_one_channel_heard_by_several_people_asks_for_diarization() -> None:
    shared = (ChannelAssignment(channel=1, participant_name="Others", file_ids=("a", "b"), offset_seconds=0.0),)
    event = EVENT.model_copy(update={"channels": 1, "channel_map": shared})
    request = plan.submit_request(event, WHOLE, "en-US", plan.webhook("symbl", CALLBACKS, "r"), no_audio, None)
    assert request.diarization is True


def test_the_event_names_the_part_and_has_a_stable_id() -> None:
    part = Part(1, 2, 9102.0, 8898.0, "b", "k", 1)
    first = plan.job_submitted(EVENT, "symbl", part, "key-1", SubmittedJob("j", "c"))
    again = plan.job_submitted(EVENT, "symbl", part, "key-1", SubmittedJob("j", "c"))
    assert first.event_id == again.event_id
    assert (first.part_index, first.part_count, first.part_offset_seconds) == (1, 2, 9102.0)
    assert (first.job_id, first.conversation_id, first.provider) == ("j", "c", "symbl")
