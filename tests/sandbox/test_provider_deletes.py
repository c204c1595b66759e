"""The sandboxes delete as the providers document it, and the clients read their answers (``zoomsymbl forget``).

AssemblyAI (Delete transcript): the transcript stays, marked deleted, its text and audio URL replaced and its
data gone, its upload removed at once; unknown ids 400 "Transcript lookup error, transcript id not found" (Troubleshoot
Common Errors); a transcript still processing refused (400); no key 401.
Symbl (Delete a conversation): the conversation is purged, every later request for it 404; no token 401.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.providers.assemblyai import AssemblyAIProvider
from zoomsymbl_common.providers.symbl import SymblProvider
from zoomsymbl_sandbox.assemblyai import TRANSCRIPT_NOT_FOUND
from zoomsymbl_sandbox.provider_jobs import JobTimings
from zoomsymbl_sandbox.provider_testkit import CallbackReceiver

from tests.support.providers import ProviderSandboxes, submit_request, url, wait_completed

AAI_KEY = {"authorization": "sandbox-assemblyai-key"}


async def test_assemblyai_deletes_a_finished_transcript_and_refuses_one_still_processing(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession, receiver: CallbackReceiver, tone_audio: Path
) -> None:
    server = await sandboxes.assemblyai()
    provider = AssemblyAIProvider(session, api_key="sandbox-assemblyai-key", api_base=url(server))
    done = await provider.submit(submit_request(tone_audio, f"{receiver.base_url}/hook"))  # streamed: an upload
    await wait_completed(provider, done.job_id)
    transcript = f"/v2/transcript/{done.job_id}"
    async with session.delete(server.make_url(transcript)) as refused:
        assert refused.status == 401, "the API key is needed"
    async with session.delete(server.make_url("/v2/transcript/unknown-id"), headers=AAI_KEY) as unknown:
        assert (unknown.status, (await unknown.json())["error"]) == (400, TRANSCRIPT_NOT_FOUND)

    async with session.delete(server.make_url(transcript), headers=AAI_KEY) as answer:
        assert answer.status == 200
        deleted: dict[str, Any] = await answer.json()
    assert (deleted["id"], deleted["status"]) == (done.job_id, "completed")
    assert (deleted["text"], deleted["audio_url"]) == ("Deleted by user.", "http://deleted_by_user")
    assert deleted["words"] is deleted["utterances"] is deleted["speech_understanding"] is None
    async with session.get(server.make_url(transcript), headers=AAI_KEY) as later:
        assert (await later.json())["text"] == "Deleted by user.", "it stays deleted"
    async with session.get(server.make_url("/_sandbox/stats")) as stats:
        assert ((await stats.json())["uploads"], (await stats.json())["deleted"]) == (0, 1), "the upload went with it"

    assert await provider.delete_transcript(done.job_id), "deleting it again is no error"
    assert not await provider.delete_transcript("unknown-id"), "unknown: already gone"


async def test_assemblyai_refuses_to_delete_a_transcript_still_processing(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession, receiver: CallbackReceiver, tone_audio: Path
) -> None:
    server = await sandboxes.assemblyai(timings=JobTimings(30.0, 30.0))
    provider = AssemblyAIProvider(session, api_key="sandbox-assemblyai-key", api_base=url(server))
    queued = await provider.submit(submit_request(tone_audio, f"{receiver.base_url}/hook"))
    with pytest.raises(PoisonInputError, match=r"HTTP 400.*still queued"):
        await provider.delete_transcript(queued.job_id)
    assert (await provider.job_status(queued.job_id)).status == "scheduled", "untouched"


async def test_symbl_purges_a_conversation_and_forgets_its_id(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession, receiver: CallbackReceiver, tone_audio: Path
) -> None:
    server = await sandboxes.symbl()
    provider = SymblProvider(
        session, app_id="sandbox-app-id", app_secret=SecretStr("sandbox-app-secret"), api_base=url(server)
    )
    job = await provider.submit(submit_request(tone_audio, f"{receiver.base_url}/hook"))
    await wait_completed(provider, job.job_id)
    conversation = f"/v1/conversations/{job.conversation_id}"
    async with session.delete(server.make_url(conversation)) as refused:
        assert refused.status == 401, "a token is needed"
    bearer = {"Authorization": f"Bearer {await provider.token.get()}"}
    async with session.delete(server.make_url(conversation), headers=bearer) as answer:
        assert (answer.status, await answer.json()) == (200, {"message": "successfully deleted the conversation"})
    for path in (conversation, f"{conversation}/messages", f"{conversation}/summary"):
        async with session.get(server.make_url(path), headers=bearer) as gone:
            assert gone.status == 404, path
    async with session.delete(server.make_url(conversation), headers=bearer) as again:
        body = await again.json()
        assert (again.status, body) == (404, {"message": "The conversationId is either invalid or does not exist."})

    assert not await provider.delete_conversation(job.conversation_id), "deleted already: no error, already gone"
    other = await provider.submit(submit_request(tone_audio, f"{receiver.base_url}/hook"))
    await wait_completed(provider, other.job_id)
    assert await provider.delete_conversation(other.conversation_id)
