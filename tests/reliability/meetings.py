"""Meetings for the reliability rounds, and "Zoom" delivering their webhooks the way Zoom does: until 200.

Zoom retries a webhook that was not answered 200 within 3 s (after 5, 20 and 60 minutes); here the
retries come every few seconds, so a round does not last hours. Media is tiny (two-second tracks of
synthetic speech) and cached by the sandbox, so a round's time goes to the pipeline, not to ffmpeg.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from zoomsymbl_sandbox.stack import Stack
from zoomsymbl_sandbox.zoom import MeetingSpec, ParticipantSpec, sign_zoom_webhook

NAMES = ("Elisa L", "Jean-Luc Pérez", "Zoë 🎧 Ng", "Dara O'Neil", "Chen Wei", "Émile")


def tiny_meeting(
    tag: str, index: int, *, participants: int = 2, topic: str | None = None, names: tuple[str, ...] = NAMES
) -> MeetingSpec:
    """A short meeting with ``participants`` two-second tracks; uuid, topic and host are unique to ``tag``/``index``."""
    people = tuple(
        ParticipantSpec(name=names[i % len(names)], start_offset_s=i, duration_s=2) for i in range(participants)
    )
    return MeetingSpec(
        uuid=f"{tag}-{index:04d}+Q/x==",  # "+" and "/" as in real Zoom UUIDs
        topic=topic if topic is not None else f"REL {tag} {index}",
        host_email=f"host-{tag}-{index:04d}@example.test".lower(),
        participants=people,
        include_video=False,
        synthetic_speech=True,
    )


async def add_meetings(stack: Stack, specs: list[MeetingSpec], *, concurrency: int = 8) -> None:
    """Record ``specs`` in the running Zoom sandbox (media generated or taken from its cache)."""
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession() as session:

        async def add(spec: MeetingSpec) -> None:
            async with gate:
                url = stack.config.url("zoom") + "/_sandbox/meetings"
                async with session.post(url, json=spec.model_dump(mode="json")) as response:
                    if response.status != 201:
                        raise RuntimeError(f"zoom sandbox refused meeting {spec.uuid!r}: {await response.text()}")

        await asyncio.gather(*(add(spec) for spec in specs))


@dataclass
class Delivery:
    """What it took to get one webhook accepted."""

    meeting_uuid: str
    attempts: int = 0
    accepted: bool = False


async def deliver(stack: Stack, meeting_uuid: str, *, deadline_s: float = 600.0) -> Delivery:
    """Make the Zoom sandbox send ``recording.completed`` until ingest answers 200 (as Zoom retries)."""
    result = Delivery(meeting_uuid)
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop:
        result.attempts += 1
        try:
            if await stack.trigger_recording_completed(meeting_uuid) == 200:
                result.accepted = True
                return result
        except (aiohttp.ClientError, RuntimeError, TimeoutError, ValueError):
            pass  # ingest down or slow: the sandbox could not deliver; Zoom would retry later
        await asyncio.sleep(random.uniform(1.0, 3.0))
    return result


Deliver = Callable[[Stack, MeetingSpec], Awaitable[Delivery]]


async def by_sandbox(stack: Stack, spec: MeetingSpec) -> Delivery:
    """The Zoom sandbox sends the webhook (with a fresh download token) until ingest answers 200."""
    return await deliver(stack, spec.uuid)


async def deliver_all(
    stack: Stack, specs: list[MeetingSpec], *, spread_s: float = 0.0, how: Deliver = by_sandbox
) -> list[Delivery]:
    """Deliver every meeting's webhook, starting them at random moments within ``spread_s`` seconds."""

    async def one(spec: MeetingSpec) -> Delivery:
        await asyncio.sleep(random.uniform(0, spread_s))
        return await how(stack, spec)

    return list(await asyncio.gather(*(one(spec) for spec in specs)))


async def meeting_objects(stack: Stack) -> dict[str, dict[str, object]]:
    """Every meeting object the Zoom sandbox would put in a webhook, by uuid."""
    async with aiohttp.ClientSession() as session:
        async with session.get(stack.config.url("zoom") + "/_sandbox/meetings") as response:
            data = await response.json()
    return {m["uuid"]: m for m in data["meetings"]}


def signed_webhook(obj: dict[str, object], secret: str, *, token: str | None = None) -> tuple[bytes, dict[str, str]]:
    """A ``recording.completed`` body for ``obj`` and Zoom's headers signing it with ``secret``."""
    event: dict[str, object] = {
        "event": "recording.completed",
        "event_ts": int(time.time() * 1000),
        "payload": {"account_id": obj.get("account_id", ""), "object": obj},
    }
    if token is not None:
        event["download_token"] = token
    body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    stamp = str(int(time.time()))
    headers = {
        "content-type": "application/json",
        "x-zm-request-timestamp": stamp,
        "x-zm-signature": sign_zoom_webhook(secret, stamp, body),
    }
    return body, headers
