"""What an operator asks first: where is each meeting, and what happened to this one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import EMAILS, INSIGHTS, JOBS, LIMITER, MEETINGS, Document, Mongo, guarded

HIDDEN_FIELDS = frozenset({"_id", "download_token", "token", "raw", "body", "callback_token"})


def age(moment: Any, now: datetime | None = None) -> str:
    """A short human age ("3m", "2h", "5d") of ``moment``, or "?"."""
    if not isinstance(moment, datetime):
        return "?"
    seconds = max(0, int(((now or utcnow()) - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def meeting_filter(tenant: str | None, stage: str | None, failed: bool) -> Document:
    """The MongoDB filter for the listing."""
    query: Document = {}
    if tenant:
        query["tenant"] = tenant
    if failed:
        query["stage"] = "failed"
    elif stage:
        query["stage"] = stage
    return query


async def list_meetings(
    mongo: Mongo, *, tenant: str | None = None, stage: str | None = None, failed: bool = False, limit: int = 50
) -> list[Document]:
    """Most recently updated meetings first."""
    cursor = mongo.db[MEETINGS].find(meeting_filter(tenant, stage, failed)).sort("updated_at", -1).limit(limit)
    return [doc async for doc in cursor]


def format_listing(docs: list[Document], now: datetime | None = None) -> str:
    """One line per meeting: tenant, stage, age, topic, UUID, failure reason."""
    lines = [f"{'TENANT':<12} {'STAGE':<11} {'AGE':>5}  {'TOPIC':<30} MEETING"]
    for doc in docs:
        when = doc.get("updated_at") or doc.get("created_at")
        topic = str(doc.get("topic_text") or doc.get("topic") or "")[:30]
        reason = _failure_reason(doc)
        line = f"{doc.get('tenant', '?'):<12} {doc.get('stage', '?'):<11} {age(when, now):>5}  {topic:<30} "
        lines.append(line + str(doc.get("meeting_uuid")) + (f"  ({reason})" if reason else ""))
    return "\n".join(lines)


def _failure_reason(doc: Document) -> str:
    failure = doc.get("failure") or doc.get("error")
    if isinstance(failure, dict):
        return f"{failure.get('stage', '?')}: {failure.get('reason', '?')}"
    return str(failure) if failure else ""


async def meeting_history(mongo: Mongo, meeting_uuid: str, tenant: str | None = None) -> Document | None:
    """The meeting and everything linked to it: jobs, insights, e-mails, limiter slots."""
    query: Document = {"meeting_uuid": meeting_uuid, **({"tenant": tenant} if tenant else {})}
    meeting = await guarded(mongo.db[MEETINGS].find_one(query))
    if meeting is None:
        return None
    linked = {"tenant": meeting.get("tenant"), "meeting_uuid": meeting_uuid}
    jobs = [doc async for doc in mongo.db[JOBS].find(linked)]
    refs = {str(j.get("job_ref") or j.get("idempotency_key")) for j in jobs}
    return {
        "meeting": meeting,
        "jobs": jobs,
        "emails": [doc async for doc in mongo.db[EMAILS].find(linked)],
        "insights": [doc async for doc in mongo.db[INSIGHTS].find(linked, {"conversation_id": 1, "provider": 1})],
        "limiter_slots": [
            {"account": doc.get("_id"), "holds": sorted(refs & _holders(doc))}
            async for doc in mongo.db[LIMITER].find({})
            if refs & _holders(doc)
        ],
    }


def _holders(doc: Document) -> set[str]:
    holders = doc.get("holders") or doc.get("slots") or {}
    if isinstance(holders, dict):
        return {str(k) for k in holders}
    return {str(h.get("ref") if isinstance(h, dict) else h) for h in holders}


def format_history(history: Document) -> str:
    """A readable, secret-free rendering of :func:`meeting_history`."""
    meeting = history["meeting"]
    out = [f"meeting {meeting.get('meeting_uuid')!r} of tenant {meeting.get('tenant')!r}"]
    out.append(f"  stage: {meeting.get('stage')}  generation: {meeting.get('generation', 0)}")
    for key in ("trace_id", "topic_text", "host_email", "failure", "stages", "transcription_progress"):
        if meeting.get(key):
            out.append(f"  {key}: {_plain(meeting[key])}")
    out += _section("files", meeting.get("files") or meeting.get("participant_tracks") or [])
    out += _section("channel map", meeting.get("channel_map") or [])
    out += _section("provider jobs", history["jobs"])
    out += _section("e-mails", history["emails"])
    out += _section("limiter slots", history["limiter_slots"])
    return "\n".join(out)


def _section(title: str, items: list[Any]) -> list[str]:
    lines = [f"  {title}: {len(items)}"]
    for item in items:
        shown = {k: v for k, v in item.items() if k not in HIDDEN_FIELDS} if isinstance(item, dict) else item
        lines.append(f"    - {_plain(shown)}")
    return lines


def _plain(value: Any) -> Any:
    """``value`` with datetimes as ISO strings and bytes elided, for printing."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
