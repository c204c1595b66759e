"""The meetings reconciliation found never archived, for ``zoomsymbl status --failed``.

Reconciliation (ingest's ``zoomsymbl reconcile``) leaves one ``conversations`` record per such meeting,
with ``recording_failed``, the reason and ``reconciled_at``; they have no ``meetings`` document, so the
stage listing cannot show them.
"""

from __future__ import annotations

from pydantic import ValidationError

from zoomsymbl_common.mongo import Mongo, guarded
from zoomsymbl_common.ops.output import printable, shortened
from zoomsymbl_common.ops.status import REASON_IN_LISTING
from zoomsymbl_common.records import CONVERSATIONS, ConversationMetadata


async def never_archived(mongo: Mongo, *, tenant: str | None, limit: int) -> list[ConversationMetadata]:
    """The most recent ``limit`` meetings reconciliation flagged (of ``tenant``, or every tenant), newest first."""
    query: dict[str, object] = {"reconciled_at": {"$ne": None}, "recording_failed": True}
    if tenant:
        query["tenant"] = tenant
    cursor = mongo.db[CONVERSATIONS].find(query, {"_id": 0}).sort("start_time", -1).limit(limit)
    records: list[ConversationMetadata] = []
    for doc in await guarded(cursor.to_list(None)):
        try:
            records.append(ConversationMetadata.model_validate(doc))
        except ValidationError:
            continue  # a record of another shape is not one of reconciliation's
    return records


def format_never_archived(records: list[ConversationMetadata]) -> str:
    """One line per meeting: tenant, UUID, host, start, reason (outside text made printable)."""
    if not records:
        return "never archived (reconciliation): none"
    lines = [f"never archived (reconciliation): {len(records)}"]
    for r in records:
        start = r.start_time.isoformat() if r.start_time else "?"
        lines.append(
            f"  {printable(r.tenant)} {printable(r.meeting_uuid)} host={printable(r.recorded_user.user)}"
            f" start={start}: {shortened(r.failure, REASON_IN_LISTING)}"
        )
    return "\n".join(lines)
