"""What ``zoomsymbl forget`` prints: counts per collection and per S3 prefix, provider copies by id, never contents.

A meeting UUID and a provider's reason come from outside: the human text shows them through
:func:`~zoomsymbl_common.ops.output.printable`; ``--json`` keeps them exact, JSON-escaped.
"""

from __future__ import annotations

from typing import Any

from zoomsymbl_common.ops.forget import Holdings
from zoomsymbl_common.ops.forget_providers import CopyOutcome
from zoomsymbl_common.ops.output import printable

HEADINGS = {
    "dry run": "dry run, nothing deleted",
    "refused": "in flight, nothing deleted",
    "left": "still stored after the erase",
    "failed": "not erased, nothing deleted",
}


def holdings_data(holdings: Holdings, mode: str) -> dict[str, Any]:
    """The ``--json`` document of ``holdings``."""
    tombstone = holdings.tombstone
    return {
        "tenant": holdings.tenant,
        "meeting_uuid": holdings.meeting_uuid,
        "mode": mode,
        "documents": dict(holdings.documents),
        "objects": [
            {"bucket": p.bucket, "prefix": p.prefix, "objects": p.objects, "bytes": p.bytes} for p in holdings.objects
        ],
        "provider_copies": [copy.model_dump(mode="json") for copy in holdings.copies],
        "in_flight": list(holdings.in_flight),
        "forgotten_at": tombstone.forgotten_at if tombstone else None,
        "unusable_buckets": [{"bucket": b, "reason": why} for b, why in holdings.unusable_buckets.items()],
    }


def holdings_text(holdings: Holdings, mode: str) -> str:
    """One block a person reads: what is stored where, and what to run next."""
    name = f"meeting {printable(holdings.meeting_uuid)!r} of tenant {holdings.tenant!r}"
    lines = [f"{name}: {HEADINGS.get(mode, mode)}"]
    if holdings.tombstone is not None:
        lines.append(f"  forgotten on {holdings.tombstone.forgotten_at.isoformat(timespec='seconds')} (tombstone kept)")
    found = {collection: n for collection, n in holdings.documents.items() if n}
    lines.append(f"  documents: {sum(found.values())}")
    lines += [f"    {collection:<18} {n:>6}" for collection, n in found.items()]
    lines.append(f"  objects: {sum(p.objects for p in holdings.objects)}")
    lines += [
        f"    {printable(p.bucket)}: {printable(p.prefix)}  {p.objects} object(s), {p.bytes} bytes"
        for p in holdings.objects
        if p.objects
    ]
    lines.append(f"  provider copies: {len(holdings.copies)}")
    lines += [f"    {copy.provider} {printable(copy.copy_id)}" for copy in holdings.copies]
    if holdings.in_flight:
        lines.append(f"  in flight: {'; '.join(holdings.in_flight)} (--yes needs --force)")
    if holdings.unusable_buckets:
        lines.append(f"  buckets that cannot be read: {len(holdings.unusable_buckets)} (--yes deletes nothing)")
        lines += [f"    {line}" for line in unusable_lines(holdings)]
    elif mode == "dry run":
        lines.append("  run it again with --yes to delete")
    return "\n".join(lines)


def unusable_lines(holdings: Holdings) -> list[str]:
    """One printable line per bucket the meeting's documents name that cannot be read, with why."""
    return [f"bucket '{printable(bucket)}': {printable(why)}" for bucket, why in holdings.unusable_buckets.items()]


def outcome_line(outcome: CopyOutcome) -> str:
    """One provider copy's outcome (its reason is the provider's text, scrubbed)."""
    line = f"{outcome.copy.provider} {printable(outcome.copy.copy_id)}: {outcome.status}"
    return line + (f" ({printable(outcome.reason)})" if outcome.reason else "")
