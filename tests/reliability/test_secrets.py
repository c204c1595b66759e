"""Secrets: after the whole suite ran with recognisable secret values, none of them is found anywhere.

Scanned: every line the four services logged, every message (key, value, headers) on every topic of
the stack, every document of every collection in its database, every e-mail the SMTP server got.
Looked for: the webhook, OAuth, provider, callback and S3 secrets and the SMTP password, every Zoom
download/OAuth token (they share a recognisable prefix), every per-job callback token the provider
was given, and the query parameters of presigned S3 URLs. The one place a secret belongs is the
``meeting_secrets`` collection, which holds download tokens by design (TTL-expired); it is reported.
This module runs last, so it also scans what the crash, upstream and load rounds left behind.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import quote

import bson
import pytest
from zoomsymbl_common.records import SECRETS
from zoomsymbl_sandbox.stack import SERVICES, Stack

from tests.reliability.meetings import tiny_meeting
from tests.reliability.observe import State, read_topics
from tests.reliability.private_infra import PrivateInfra
from tests.reliability.results import record
from tests.reliability.rounds import run_meetings, sandbox_stats
from tests.reliability.sizes import SIZES
from tests.reliability.stack_config import NAMED_SECRETS, RUN_ID

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def callback_tokens(symbl: dict[str, Any]) -> set[str]:
    """The per-job tokens the submitter put into the Symbl webhook URLs (last path segment)."""
    return {str(c["url"]).rsplit("/", 1)[1] for c in symbl["callback_log"] if "/webhooks/symbl/" in str(c["url"])}


def patterns(secrets: dict[str, str]) -> dict[str, list[bytes]]:
    """Each secret as it would appear raw, URL-encoded or JSON-escaped."""
    return {
        name: sorted({value.encode(), quote(value, safe="").encode(), value.replace("/", "\\/").encode()})
        for name, value in secrets.items()
    }


def hits(blob: bytes, wanted: dict[str, list[bytes]]) -> Counter[str]:
    return Counter(
        {name: sum(blob.count(p) for p in forms) for name, forms in wanted.items() if any(p in blob for p in forms)}
    )


async def mongo_blobs(state: State) -> dict[str, list[bytes]]:
    """Every document of every collection, BSON-encoded (strings and binaries appear verbatim)."""
    found: dict[str, list[bytes]] = {}
    for name in await state.mongo.db.list_collection_names():
        docs = await state.mongo.db[name].find({}).to_list(None)
        found[name] = [bson.encode(doc) for doc in docs]
    return found


async def secrets_in_play(stack: Stack) -> dict[str, Any]:
    """Evidence that every kind of secret was really used (else finding none of them would prove nothing)."""
    symbl, zoom = await sandbox_stats(stack, "symbl"), await sandbox_stats(stack, "zoom")
    log = stack.log("symbl").read_text(errors="replace").splitlines()
    return {
        "callback tokens": callback_tokens(symbl),
        "submissions by presigned URL": sum(1 for line in log if "/v1/process/audio/url" in line),
        "downloads with a download token": sum(
            1 for records in zoom["downloads"].values() for r in records if r["auth"] == "download_token"
        ),
        "zoom oauth tokens issued": zoom["token_issues"],
    }


async def places_to_scan(stack: Stack, infra: PrivateInfra, state: State) -> dict[str, list[bytes]]:
    """Every log line, Kafka message (key, value, headers), MongoDB document and e-mail, by place."""
    places: dict[str, list[bytes]] = {f"log {svc}": stack.log(svc).read_bytes().splitlines() for svc in SERVICES}
    topics = await read_topics(infra.kafka_bootstrap, stack.config.topic_prefix)
    places["kafka"] = [
        (r.key or b"") + (r.value or b"") + b"".join(k.encode() + v for k, v in r.headers)
        for records in topics.values()
        for r in records
    ]
    places.update({f"mongo {name}": docs for name, docs in (await mongo_blobs(state)).items()})
    places["e-mails"] = infra.raw_mails()
    return places


def sizes_of(places: dict[str, list[bytes]]) -> str:
    def count(kind: str) -> int:
        return sum(len(blobs) for place, blobs in places.items() if place.startswith(kind))

    return (
        f"{count('log')} log lines, {count('kafka')} Kafka messages, {count('mongo')} MongoDB documents, "
        f"{count('e-mails')} e-mails"
    )


async def test_no_secret_in_any_log_message_document_or_email(
    stack: Stack, private_infra: PrivateInfra, state: State
) -> None:
    specs = [tiny_meeting(f"s{RUN_ID}", i, participants=2) for i in range(SIZES.secret_meetings)]
    result = await run_meetings(stack, private_infra, state, specs)
    assert result.stages == {"notified": len(specs)}, result.outcomes
    used = await secrets_in_play(stack)
    assert all(used.values()), used
    tokens = sorted(used.pop("callback tokens"))
    wanted = patterns({**NAMED_SECRETS, **{f"callback token {i}": t for i, t in enumerate(tokens)}})
    places = await places_to_scan(stack, private_infra, state)
    found = {place: sum((hits(blob, wanted) for blob in blobs), Counter()) for place, blobs in places.items()}
    vault = found.pop(f"mongo {SECRETS}", Counter())
    leaks = {place: dict(counts) for place, counts in found.items() if counts}
    record(
        "secrets scan",
        injected="recognisable webhook/OAuth/provider/callback/S3 secrets and SMTP password; Zoom download and "
        "OAuth tokens; per-job callback tokens; presigned S3 URLs (submission by URL)",
        how_often=f"{len(wanted)} secret values over {sizes_of(places)}",
        expected="0 hits outside the meeting_secrets vault",
        measured={
            "hits": sum(sum(c.values()) for c in found.values()),
            "leaks": leaks or "none",
            "download tokens held in the meeting_secrets vault (by design)": vault.get("zoom download/access token", 0),
            "callback tokens issued": len(tokens),
            **used,
        },
    )
    assert leaks == {}
    assert set(vault) <= {"zoom download/access token"}, vault
