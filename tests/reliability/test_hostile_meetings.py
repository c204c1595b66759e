"""Hostile meetings through the whole pipeline: what Zoom lets a host or participant type ends up harmless.

* A topic carrying CR/LF and header lines, participant names with path traversal, markup and control
  characters: one e-mail to the host, no injected header, no other recipient, markup escaped.
* File ids and extensions with path traversal, NUL and overlong values (a forged, validly signed
  webhook): storage keys stay under ``raw/<tenant>/<meeting key>/``, nothing is written outside the
  mixer's scratch folder.
* A host e-mail carrying a Bcc line: nobody is mailed rather than the attacker.
* The running ingest and notifier processes answer oversized and deeply nested bodies with 413/400.
"""

from __future__ import annotations

import asyncio
import base64
import io
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from minio import Minio
from zoomsymbl_common.callback_tokens import make_callback_token
from zoomsymbl_common.records import EMAILS, JOBS
from zoomsymbl_common.storage_keys import meeting_key
from zoomsymbl_sandbox.stack import Stack
from zoomsymbl_sandbox.zoom import MeetingSpec, sign_zoom_webhook

from tests.reliability.fuzz_inputs import nested
from tests.reliability.meetings import (
    Delivery,
    add_meetings,
    by_sandbox,
    meeting_objects,
    signed_webhook,
    tiny_meeting,
)
from tests.reliability.observe import Mailbox, State
from tests.reliability.private_infra import S3_ACCESS_KEY, S3_SECRET_KEY, PrivateInfra
from tests.reliability.results import record
from tests.reliability.rounds import run_meetings
from tests.reliability.stack_config import CALLBACK_SECRET, RUN_ID, TENANT, WEBHOOK_SECRET, ZOOM_CLIENT_SECRET
from tests.support.eventually import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
ATTACKER = "attacker@evil.test"
PWNED = f"/tmp/pwned-{RUN_ID}"
TOPIC = f"Weekly sync {RUN_ID}\r\nBcc: {ATTACKER}\r\nX-Injected: yes"
NAMES = (f"../../../../../..{PWNED}-name", "<script>alert(1)</script>", "Robert\x1b[31m\x00\x07 Tables")
# Overlong ids are test_long_ids.py's subject; these are about traversal and control characters.
HOSTILE_IDS = (f"../../../../../..{PWNED}-a", "a/../../b\x00c", "%2e%2e%2f%2e%2e%2fx", "\u202egnp.exe")


def forged_files(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with every participant file renamed to a hostile id and given a hostile extension."""
    files = [dict(f) for f in obj["participant_audio_files"]]
    for entry, hostile in zip(files, HOSTILE_IDS, strict=False):
        entry["id"], entry["file_extension"] = hostile, "../../sh"
    return {**obj, "participant_audio_files": files, "recording_files": []}


async def webhook_download_token(stack: Stack, meeting_uuid: str) -> str:
    """The download token Zoom would put in the meeting's webhook (its API hands one out on request)."""
    zoom = stack.config.url("zoom")
    async with aiohttp.ClientSession() as session:
        basic = base64.b64encode(f"sandbox-client-id:{ZOOM_CLIENT_SECRET}".encode()).decode()
        query = {"grant_type": "account_credentials", "account_id": "sandbox-account-id"}
        headers = {"Authorization": f"Basic {basic}"}
        async with session.post(f"{zoom}/oauth/token", params=query, headers=headers) as response:
            access = (await response.json())["access_token"]
        path = quote(quote(meeting_uuid, safe=""), safe="")
        url = f"{zoom}/v2/meetings/{path}/recordings?include_fields=download_access_token"
        async with session.get(url, headers={"Authorization": f"Bearer {access}"}) as response:
            return str((await response.json())["download_access_token"])


async def forged(stack: Stack, spec: MeetingSpec) -> Delivery:
    """A validly signed webhook whose file ids are hostile (the URLs still point at the real files).

    It carries the webhook's download token, as Zoom's does: the mixer fetches a webhook's own URLs only
    with that token, never with the account's OAuth token (a file the API does not list is missing).
    """
    if not spec.uuid.startswith(f"hf{RUN_ID}"):
        return await by_sandbox(stack, spec)
    token = await webhook_download_token(stack, spec.uuid)
    obj = forged_files((await meeting_objects(stack))[spec.uuid])
    body, headers = signed_webhook(obj, WEBHOOK_SECRET, token=token)
    async with aiohttp.ClientSession() as session:
        url = stack.config.url("ingest") + f"/webhooks/zoom/{TENANT}"
        async with session.post(url, data=body, headers=headers) as response:
            return Delivery(spec.uuid, 1, response.status == 200)


def zoom_signature(body: bytes) -> dict[str, str]:
    """Zoom's headers signing ``body`` with the stack's webhook secret."""
    stamp = str(int(time.time()))
    return {"x-zm-request-timestamp": stamp, "x-zm-signature": sign_zoom_webhook(WEBHOOK_SECRET, stamp, body)}


def stored_keys(infra: PrivateInfra, bucket: str) -> list[str]:
    client = Minio(infra.s3_endpoint, S3_ACCESS_KEY, S3_SECRET_KEY, secure=False)
    return [str(o.object_name) for o in client.list_objects(bucket, prefix="raw/", recursive=True)]


async def test_hostile_topics_names_and_file_ids_are_harmless(
    stack: Stack, private_infra: PrivateInfra, state: State
) -> None:
    named = tiny_meeting(f"hn{RUN_ID}", 0, participants=3, topic=TOPIC, names=NAMES)
    ids = tiny_meeting(f"hf{RUN_ID}", 0, participants=4)
    result = await run_meetings(stack, private_infra, state, [named, ids], how=forged, timeout=300)
    box = Mailbox.read(private_infra)
    [mail] = box.by_recipient[named.host_email]
    keys = await asyncio.to_thread(stored_keys, private_infra, stack.config.bucket)
    forged_keys = [k for k in keys if k.startswith(f"raw/{TENANT}/{meeting_key(ids.uuid)}/")]
    html = mail.get_body(preferencelist=("html",))
    strays = sorted(str(p) for p in Path("/tmp").glob(f"pwned-{RUN_ID}*"))
    record(
        "hostile names",
        injected="topic with CR/LF + Bcc/X-Injected lines; names with ../ traversal, <script>, ESC/NUL/BEL; "
        "file ids with ../, NUL, %2e%2e, RTL override; extension ../../sh",
        how_often="2 meetings (3 hostile names, 4 hostile file ids)",
        expected="both notified; 1 e-mail to the host only, no injected header, markup escaped; "
        "storage keys under raw/<tenant>/<meeting key>/; no file outside scratch",
        measured={
            **result.figures(),
            "recipients of the e-mail": mail["X-Envelope-To"],
            "injected headers present": sum(1 for h in ("Bcc", "X-Injected") if mail[h] is not None),
            "raw objects of the forged meeting": len(forged_keys),
            "keys with '..' segments or NUL": sum(1 for k in keys if "/../" in k or "\x00" in k),
            "files created outside scratch": len(strays),
        },
    )
    assert result.stages == {"notified": 2}, result.outcomes
    assert str(mail["X-Envelope-To"]).strip() == named.host_email
    assert mail["Bcc"] is None and mail["X-Injected"] is None
    assert "\r" not in str(mail["Subject"]) and "\n" not in str(mail["Subject"])
    assert box.copies(ATTACKER) == 0
    assert html is not None and "<script>alert(1)</script>" not in str(html.get_content())
    # Four hostile tracks, each under its own encoded name, and the conversation's metadata record beside them.
    assert len([k for k in forged_keys if not k.endswith("/metadata.json")]) == 4
    assert sum(k.endswith("/metadata.json") for k in forged_keys) == 1
    assert all("/../" not in k and "\x00" not in k for k in keys)
    assert strays == []


async def test_a_host_address_with_an_injected_bcc_mails_nobody(
    stack: Stack, private_infra: PrivateInfra, state: State
) -> None:
    spec = tiny_meeting(f"hb{RUN_ID}", 0).model_copy(update={"host_email": f"victim@example.test\r\nBcc: {ATTACKER}"})
    await add_meetings(stack, [spec])
    assert (await by_sandbox(stack, spec)).accepted

    async def outbox() -> dict[str, Any]:
        return await state.mongo.db[EMAILS].find_one({"tenant": TENANT, "meeting_uuid": spec.uuid}) or {}

    # The report is composed, then skipped for want of a valid recipient.
    mail = await eventually(
        outbox, lambda doc: doc.get("status") not in (None, "pending"), timeout=180, max_interval=1.0,
        what="the report to be composed and settled",
    )  # fmt: skip
    assert mail["status"] == "skipped"
    assert mail["recipients"] == []
    assert Mailbox.read(private_infra).copies(ATTACKER) == 0


async def test_running_services_refuse_oversized_and_nested_bodies(stack: Stack, state: State) -> None:
    job = await state.mongo.db[JOBS].find_one({"job_ref": {"$exists": True}, "provider": "symbl"})
    assert job is not None, "no job yet: run with the other reliability tests"
    token = make_callback_token(CALLBACK_SECRET, str(job["job_ref"]))
    ingest = stack.config.url("ingest") + f"/webhooks/zoom/{TENANT}"
    symbl = stack.config.url("notifier") + f"/webhooks/symbl/{token}"
    answers: dict[str, int] = {}
    async with aiohttp.ClientSession() as session:
        for name, body in {"2 MiB": b" " * (2 << 20), "nested": nested(100_000, "array")}.items():
            async with session.post(ingest, data=io.BytesIO(body), headers=zoom_signature(body)) as response:
                answers[f"ingest {name}"] = response.status
        for name, body in {"32 KiB": b" " * (32 << 10), "nested": nested(8_000, "array")}.items():
            headers = {"content-type": "application/json"}
            async with session.post(symbl, data=io.BytesIO(body), headers=headers) as response:
                answers[f"notifier {name}"] = response.status
        for service in ("ingest", "notifier"):
            async with session.get(stack.config.url(service) + "/healthz") as response:
                answers[f"{service} healthz"] = response.status
    assert answers == {
        "ingest 2 MiB": 413,
        "ingest nested": 400,
        "notifier 32 KiB": 413,
        "notifier nested": 400,
        "ingest healthz": 200,
        "notifier healthz": 200,
    }
