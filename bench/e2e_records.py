"""What the services recorded in MongoDB about the end-to-end benchmark's meetings: where each one
is, and its timeline.

A meeting is *done* when its report e-mail was accepted by the SMTP server. Otherwise it is at the
furthest step the documents show, so a benchmark that gives up can say which meetings are missing
and where each one stopped (``failed by mixer at download: ...``, ``submitted, provider not done``,
``e-mail not sent yet``) instead of a bare count. A done meeting's timeline is read from the same
documents (the mixer's ``mixed_at``, the submitter's ``submitted_at``, the notifier's ``completed``
history entry, the e-mail's ``sent_at``) and from the notifier's log (when it accepted the provider's
``completed`` callback).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from common import log, percentile
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError
from zoomsymbl_common.mongo import Document as Doc
from zoomsymbl_common.mongo import make_mongo
from zoomsymbl_common.records import EMAILS, JOBS, MEETINGS, RECEIPTS
from zoomsymbl_common.settings import InfraSettings

DONE = "e-mailed"
PROGRESS_EVERY_S = 30.0
POLL_S = 1.0
LOCATE_EVERY_S = 15.0
# Columns of a timeline row that are not durations of a step.
NOT_STEPS = ("via_sweeper", "webhook_offset")


class E2eFailed(RuntimeError):
    """A run ended with meetings not e-mailed (failed, or stuck); the message says which and where."""


# The steps in pipeline order; a meeting's ``step`` is one of these or starts with "failed".
STEPS = (
    "webhook sent, not received",
    "received, not mixed",
    "mixed, not submitted",
    "submitting",
    "submitted, provider not done",
    "provider completed, no e-mail",
    "e-mail not sent yet",
    DONE,
)


@dataclass(frozen=True)
class Place:
    """How far one meeting got: a step of :data:`STEPS` (or ``failed ...``) and what the documents add."""

    step: str
    detail: str = ""

    @property
    def final(self) -> bool:
        """Nothing more will happen without a new webhook: e-mailed, or failed."""
        return self.step == DONE or self.step.startswith("failed")

    def __str__(self) -> str:
        return f"{self.step} ({self.detail})" if self.detail else self.step


async def locate(db: AsyncDatabase[Doc], uuids: list[str]) -> dict[str, Place]:
    """Where each of ``uuids`` is now (four queries, whatever the count)."""
    query = {"meeting_uuid": {"$in": uuids}}
    receipts = {d["meeting_uuid"] for d in await db[RECEIPTS].find(query, {"meeting_uuid": 1}).to_list(None)}
    meetings = {d["meeting_uuid"]: d for d in await db[MEETINGS].find(query, _MEETING_FIELDS).to_list(None)}
    jobs: dict[str, list[Doc]] = {}
    for job in await db[JOBS].find(query, _JOB_FIELDS).to_list(None):
        jobs.setdefault(job["meeting_uuid"], []).append(job)
    emails: dict[str, dict[str, Doc]] = {}
    for mail in await db[EMAILS].find(query, _EMAIL_FIELDS).to_list(None):
        emails.setdefault(mail["meeting_uuid"], {})[str(mail.get("kind"))] = mail
    return {u: place(u in receipts, meetings.get(u), jobs.get(u, []), emails.get(u, {})) for u in uuids}


_MEETING_FIELDS = {"meeting_uuid": 1, "stage": 1, "failure": 1, "mixed_at": 1}
_JOB_FIELDS = {"meeting_uuid": 1, "status": 1, "submitted_at": 1, "last_error": 1, "history.status": 1}
_EMAIL_FIELDS = {"meeting_uuid": 1, "kind": 1, "status": 1, "last_error": 1, "attempts": 1}


def place(received: bool, meeting: Doc | None, jobs: list[Doc], emails: dict[str, Doc]) -> Place:
    """The furthest step these documents of one meeting show."""
    report = emails.get("report")
    if report is not None and report.get("status") == "sent":
        return Place(DONE)
    if meeting is not None and meeting.get("stage") == "failed":
        return _failed(meeting.get("failure") or {}, emails.get("failure"))
    if report is not None:
        return Place("e-mail not sent yet", _email_detail(report))
    if jobs and all(_completed(j) for j in jobs):
        return Place("provider completed, no e-mail")
    if jobs and all(j.get("submitted_at") for j in jobs):
        return Place("submitted, provider not done", "jobs " + ", ".join(sorted(str(j.get("status")) for j in jobs)))
    if jobs:
        errors = sorted({str(j["last_error"])[:160] for j in jobs if j.get("last_error")})
        detail = ", ".join(sorted(str(j.get("status")) for j in jobs))
        return Place("submitting", "; ".join([detail, *errors]))
    if meeting is not None and meeting.get("mixed_at"):
        return Place("mixed, not submitted", f"meeting stage {meeting.get('stage')!r}")
    if meeting is not None or received:
        return Place("received, not mixed")
    return Place("webhook sent, not received")


def _completed(job: Doc) -> bool:
    return job.get("status") == "completed" or any(h.get("status") == "completed" for h in job.get("history", []))


def _failed(failure: Doc, notice: Doc | None) -> Place:
    step = f"failed by {failure.get('service', '?')} at {failure.get('stage', '?')}"
    reason = str(failure.get("reason", ""))[:200]
    told = f"failure notice {notice.get('status')}" if notice else "no failure notice"
    return Place(step, f"{reason!r}; {told}")


def _email_detail(mail: Doc) -> str:
    detail = f"status {mail.get('status')!r}, {mail.get('attempts', 0)} attempts"
    return f"{detail}, last error {str(mail['last_error'])[:160]!r}" if mail.get("last_error") else detail


def counts(places: dict[str, Place]) -> dict[str, int]:
    """Meetings per step, in pipeline order (failures last)."""
    found = Counter(p.step for p in places.values())
    ordered = {step: found[step] for step in STEPS if found[step]}
    return {**ordered, **{step: n for step, n in sorted(found.items()) if step not in ordered}}


def missing_report(places: dict[str, Place], shown: int = 5) -> str:
    """The meetings not e-mailed, grouped by where they stopped: a few uuids and details per group."""
    groups: dict[str, list[tuple[str, Place]]] = {}
    for uuid, p in places.items():
        if p.step != DONE:
            groups.setdefault(p.step, []).append((uuid, p))
    lines = []
    for step in counts({u: p for u, p in places.items() if p.step != DONE}):
        members = groups[step]
        lines.append(f"  {step}: {len(members)} meeting(s)")
        lines += [f"    {uuid}: {p}" for uuid, p in members[:shown]]
        if len(members) > shown:
            lines.append(f"    ... and {len(members) - shown} more")
    return "\n".join(lines)


async def wait_final(infra: InfraSettings, uuids: list[str], stall: float, what: str) -> dict[str, Place]:
    """Until every meeting is e-mailed or failed, or none moved on for ``stall`` seconds; where each is.

    Every ``POLL_S`` one count of the sent reports; every ``LOCATE_EVERY_S`` (and at the end) where
    each meeting is, which reads four collections. The local MongoDB-wire server scans a whole
    collection per query, so the observer keeps its share of that server small.
    """
    mongo = make_mongo(infra)
    began = last_move = last_locate = last_log = time.monotonic()
    seen: dict[str, int] = {}
    places = {u: Place("webhook sent, not received") for u in uuids}
    sent = {"meeting_uuid": {"$in": uuids}, "kind": "report", "status": "sent"}
    try:
        while True:
            await asyncio.sleep(POLL_S)
            now = time.monotonic()
            try:
                if now - last_locate < LOCATE_EVERY_S and await mongo.db[EMAILS].count_documents(sent) < len(uuids):
                    continue
                places = await locate(mongo.db, uuids)
            except PyMongoError as exc:  # a slow moment of the shared server: try again, the stall clock runs
                log(f"{what}: reading the meetings' documents failed, retrying: {exc!r}")
            last_locate = now
            steps = counts(places)
            if steps != seen:
                seen, last_move = steps, now
            if all(p.final for p in places.values()) or now - last_move > stall:
                return places
            if now - last_log >= PROGRESS_EVERY_S:
                log(f"{what}: {now - began:.0f}s, " + ", ".join(f"{n} {step}" for step, n in steps.items()))
                last_log = now
    finally:
        await mongo.close()


def check(places: dict[str, Place], what: str, seconds: float, stall: float) -> None:
    """Raise :class:`E2eFailed` naming every meeting not e-mailed and the step it stopped at."""
    missing = sum(p.step != DONE for p in places.values())
    if not missing:
        return
    stuck = all(p.final for p in places.values())
    why = "failed" if stuck else f"not e-mailed, nothing moved on for {stall:.0f}s"
    raise E2eFailed(
        f"{what}: {missing} of {len(places)} meetings {why} (after {seconds:.0f}s); where they stopped:\n"
        + missing_report(places)
    )


async def timeline(
    infra: InfraSettings, sent: dict[str, datetime], callbacks: dict[str, datetime]
) -> list[dict[str, float]]:
    """Per meeting, seconds from the webhook to each step, read from the services' documents.

    ``callbacks``: when the notifier accepted each meeting's ``completed`` callback (the provider
    finished). Without one (the callback was refused and the sweeper found the completion), the
    provider is taken to have finished when the sweeper's report was applied.
    """
    mongo = make_mongo(infra)
    query = {"meeting_uuid": {"$in": list(sent)}}
    try:
        jobs: dict[str, list[dict[str, Any]]] = {}
        for job in await mongo.db[JOBS].find(query).to_list(None):
            jobs.setdefault(job["meeting_uuid"], []).append(job)
        reports = {**query, "status": "sent", "kind": "report"}
        mails = {d["meeting_uuid"]: d for d in await mongo.db[EMAILS].find(reports, {"raw": 0}).to_list(None)}
        meetings = {d["meeting_uuid"]: d for d in await mongo.db[MEETINGS].find(query).to_list(None)}
    finally:
        await mongo.close()
    rows = []
    first = min(sent.values())
    for uuid_, t0 in sent.items():
        parts = jobs.get(uuid_, [])
        try:
            # A meeting split into parts is submitted when its last part is, completed when its last part is.
            applied, via = max(_completion(job) for job in parts)
            submitted = max(job["submitted_at"] for job in parts)
            finished = min(callbacks.get(uuid_, applied), applied)
            emailed = mails[uuid_]["sent_at"]
            row = {
                "to_mixed": (meetings[uuid_]["mixed_at"] - t0).total_seconds(),
                "to_submitted": (submitted - t0).total_seconds(),
                "provider": (finished - submitted).total_seconds(),
                "completion_queued": (applied - finished).total_seconds(),
                "completed_to_email": (emailed - finished).total_seconds(),
                "to_email": (emailed - t0).total_seconds(),
                "via_sweeper": 1.0 if via == "sweeper" else 0.0,
                "webhook_offset": (t0 - first).total_seconds(),
            }
        except (KeyError, ValueError, StopIteration) as exc:
            raise E2eFailed(f"{uuid_}: e-mailed, but its documents lack a timestamp ({exc!r})") from exc
        rows.append(row)
    return rows


def _completion(job: dict[str, Any]) -> tuple[datetime, str]:
    """When the notifier applied the provider's completion of ``job``, and how (callback or sweeper)."""
    return next((h["at"], str(h.get("via"))) for h in job["history"] if h.get("status") == "completed")


def completed_callbacks(notifier_log: Path) -> dict[str, datetime]:
    """When the notifier accepted each meeting's ``completed`` callback, from its JSON log lines.

    The job's history only says when the notifier's consumer *applied* the completion, which under
    load is long after the provider finished: the callback waits in Kafka behind the others. The
    first delivery per job counts; a meeting of several parts finished with its last part.
    """
    first: dict[tuple[str, str], datetime] = {}
    with notifier_log.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if '"callback accepted"' not in line:
                continue
            try:
                entry = json.loads(line)
                if entry.get("status") == "completed" and entry.get("meeting_uuid"):
                    key = (str(entry["meeting_uuid"]), str(entry.get("job_id")))
                    first.setdefault(key, datetime.fromisoformat(entry["ts"]))
            except (ValueError, KeyError, TypeError):
                continue  # not one of the notifier's JSON lines
    found: dict[str, datetime] = {}
    for (meeting_uuid, _), at in first.items():
        found[meeting_uuid] = max(at, found.get(meeting_uuid, at))
    return found


def describe(rows: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Median, p95 and max of each step over the meetings of one run (none when none finished)."""
    if not rows:
        return {}
    return {
        step: {
            "median": round(percentile([r[step] for r in rows], 0.5), 3),
            "p95": round(percentile([r[step] for r in rows], 0.95), 3),
            "max": round(max(r[step] for r in rows), 3),
        }
        for step in rows[0]
        if step not in NOT_STEPS
    }
