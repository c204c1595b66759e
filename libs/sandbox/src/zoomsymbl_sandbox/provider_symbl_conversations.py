"""SANDBOX Symbl conversation endpoints: metadata, messages, insights, summary and experiences.

Each imitates a page of Symbl's Conversation API documentation (named in the route's docstring); every
answer is derived from the submitted audio. A conversation whose job has not completed answers 400; a deleted
one is gone (404) for every route.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiohttp import web

from zoomsymbl_sandbox import provider_insights as insights
from zoomsymbl_sandbox.provider_http import discard, json_error
from zoomsymbl_sandbox.provider_insights import Message
from zoomsymbl_sandbox.provider_jobs import Job
from zoomsymbl_sandbox.provider_symbl_state import STATUS, SYMBL_STATE, Submission, messages_of

Json = dict[str, object]
Build = Callable[[Job[Submission], list[Message]], Json]
Handler = Callable[[web.Request], Awaitable[web.Response]]
EXPERIENCES = ("verbose-text-summary", "video-summary")


def _find(request: web.Request) -> Job[Submission] | web.Response:
    conversation_id = request.match_info["conversation_id"]
    job = request.app[SYMBL_STATE].conversations.get(conversation_id)
    if job is None:
        return json_error(404, f"Conversation {conversation_id!r} not found")
    return job


def _completed(request: web.Request) -> Job[Submission] | web.Response:
    """Insights exist only once the job completed; earlier (or after failure) the caller is wrong."""
    found = _find(request)
    if isinstance(found, Job) and found.phase != "done":
        status = STATUS[found.phase]
        return json_error(400, f"Conversation {found.request.conversation_id!r} is not processed: {status!r}")
    return found


def _route(build: Build) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        found = _completed(request)
        if isinstance(found, web.Response):
            return found
        return web.json_response(build(found, messages_of(found)))

    return handler


def _messages(job: Job[Submission], messages: list[Message]) -> Json:
    """``GET .../messages``: GET Speech to Text, https://docs.symbl.ai/docs/conversation-api/messages"""
    sub = job.request
    return {"messages": [insights.message_json(m, sub.conversation_id, sub.started_at) for m in messages]}


def _topics(job: Job[Submission], messages: list[Message]) -> Json:
    """``GET .../topics``: GET Topics, https://docs.symbl.ai/docs/conversation-api/get-topics"""
    return {"topics": insights.topics(job.request.conversation_id, messages)}


def _questions(job: Job[Submission], messages: list[Message]) -> Json:
    """``GET .../questions``: GET Questions, https://docs.symbl.ai/docs/conversation-api/questions/"""
    return {"questions": insights.questions(job.request.conversation_id, messages)}


def _action_items(job: Job[Submission], messages: list[Message]) -> Json:
    """``GET .../action-items``: GET Action Items, https://docs.symbl.ai/docs/conversation-api/action-items/"""
    sub = job.request
    return {"actionItems": insights.action_items(sub.conversation_id, messages, sub.started_at)}


def _follow_ups(job: Job[Submission], messages: list[Message]) -> Json:
    """``GET .../follow-ups``: GET Follow-Ups, https://docs.symbl.ai/docs/conversation-api/follow-ups/"""
    sub = job.request
    return {"followUps": insights.follow_ups(sub.conversation_id, messages, sub.started_at)}


async def summary(request: web.Request) -> web.Response:
    """``GET .../summary``: GET Summary, https://docs.symbl.ai/docs/conversation-api/summary/

    Only a job submitted with ``enableSummary=true`` has a summary (Get summary using Async API,
    https://docs.symbl.ai/docs/get-summary-using-async-api). The docs show no answer for the other
    case; this sandbox reads "no summary" as ``200 {"summary": []}`` (404 is documented only for
    "in progress"). An enabled summary is generated lazily: the first calls after completion answer 404.
    """
    found = _completed(request)
    if isinstance(found, web.Response):
        return found
    if not found.request.options.enable_summary:
        return web.json_response({"summary": []})
    state = request.app[SYMBL_STATE]
    conversation_id = found.request.conversation_id
    state.summary_calls[conversation_id] += 1
    if state.summary_calls[conversation_id] <= state.faults.summary_not_ready_calls:
        return json_error(404, "Summary is being generated")
    return web.json_response({"summary": insights.summary(conversation_id, messages_of(found))})


async def conversation(request: web.Request) -> web.Response:
    """``GET /v1/conversations/{id}``: GET Conversation, https://docs.symbl.ai/docs/conversation-api/conversation-data/"""
    found = _find(request)
    if isinstance(found, web.Response):
        return found
    sub = found.request
    speakers = list(sub.options.speakers.values())
    members = [{"id": s.id, "name": s.name, "email": s.email} for s in speakers]
    return web.json_response(
        {
            "id": sub.conversation_id,
            "type": "meeting",
            "name": sub.options.name or sub.conversation_id,
            "startTime": insights.iso(sub.started_at),
            "endTime": insights.iso(sub.started_at + timedelta(seconds=sub.info.duration_s)),
            "members": members or insights.members(messages_of(found)),
            "metadata": {},
        }
    )


async def delete_conversation(request: web.Request) -> web.Response:
    """``DELETE /v1/conversations/{id}``: Delete a conversation, https://docs.symbl.ai/docs/delete-a-conversation
    (and DELETE Conversation, https://docs.symbl.ai/docs/conversation-api/delete-conversation/).

    The conversation and everything derived from it are purged at once, whatever its job's status (the pages
    name no exception); answers ``{"message": "successfully deleted the conversation"}``, and from then on the
    conversation id works for no request (404). An unknown id answers ``{"message": "The conversationId is
    either invalid or does not exist."}``: the pages give the message, not the status, which is 404 here as
    for every other conversation route.
    """
    state = request.app[SYMBL_STATE]
    conversation_id = request.match_info["conversation_id"]
    job = state.conversations.pop(conversation_id, None)
    if job is None:
        return json_error(404, "The conversationId is either invalid or does not exist.")
    state.deleted.add(conversation_id)
    state.summary_calls.pop(conversation_id, None)
    job.result = None
    if job.audio_path is not None:
        discard(job.audio_path)
    return web.json_response({"message": "successfully deleted the conversation"})


async def experiences(request: web.Request) -> web.Response:
    """``POST .../experiences``: POST Text Summary UI, https://docs.symbl.ai/docs/api-reference/experience-api/post-text-summary-ui/"""
    found = _completed(request)
    if isinstance(found, web.Response):
        return found
    try:
        body = await request.json()
    except ValueError:
        body = None
    name = body.get("name") if isinstance(body, dict) else None
    if name not in EXPERIENCES:
        return json_error(400, f"name must be one of {list(EXPERIENCES)!r}, got {name!r}")
    base = request.app[SYMBL_STATE].config.public_base_url or str(request.url.origin())
    url = f"{base.rstrip('/')}/summary/{found.request.conversation_id}"
    return web.json_response({"name": name, "url": url})


async def summary_page(request: web.Request) -> web.Response:
    """The page an experience URL points at; public, like Symbl's shareable summary pages (Text Summary UI)."""
    found = _completed(request)
    if isinstance(found, web.Response):
        return found
    sub = found.request
    messages = messages_of(found)
    lines = [item["text"] for item in insights.summary(sub.conversation_id, messages)]
    lines += [f"{m.speaker.name}: {m.text}" for m in messages]
    items = "".join(f"<li>{html.escape(str(line))}</li>" for line in lines)
    title = html.escape(sub.options.name or sub.conversation_id)
    page = f"<!doctype html><title>{title}</title><h1>{title} (sandbox)</h1><ul>{items}</ul>"
    return web.Response(text=page, content_type="text/html")


def add_conversation_routes(app: web.Application) -> None:
    prefix = "/v1/conversations/{conversation_id}"
    app.router.add_get(prefix, conversation)
    app.router.add_delete(prefix, delete_conversation)
    app.router.add_get(f"{prefix}/messages", _route(_messages))
    app.router.add_get(f"{prefix}/topics", _route(_topics))
    app.router.add_get(f"{prefix}/questions", _route(_questions))
    app.router.add_get(f"{prefix}/action-items", _route(_action_items))
    app.router.add_get(f"{prefix}/follow-ups", _route(_follow_ups))
    app.router.add_get(f"{prefix}/summary", summary)
    app.router.add_post(f"{prefix}/experiences", experiences)
    app.router.add_get("/summary/{conversation_id}", summary_page)
