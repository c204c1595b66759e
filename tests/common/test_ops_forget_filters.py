"""The filters ``zoomsymbl forget`` deletes by find the meeting's documents and no other meeting's.

MongoDB evaluates ``$regex`` with PCRE, where ``$`` also matches before a final newline; the local FerretDB (Go
regexp) does not, so these run the patterns through Python's ``re``, which treats ``$`` as PCRE does. Python
spells PCRE's end of the string ``\\z`` as ``\\Z``.
"""

from __future__ import annotations

import re

import pytest
from zoomsymbl_common.ops.forget import _Linked, filters
from zoomsymbl_common.records import EMAIL_CLAIMS, JOB_CLAIMS


def _found(pattern: str, document_id: str) -> bool:
    """Whether MongoDB's ``$regex`` ``pattern`` finds ``document_id`` (PCRE semantics, through Python's ``re``)."""
    return re.search(pattern.replace("\\z", "\\Z"), document_id) is not None


def _pattern(collection: str, meeting_uuid: str, refs: list[str]) -> str:
    found = filters("acme", meeting_uuid, _Linked(refs=refs, job_ids=[], copies=[], buckets=set(), unfinished_jobs=0))
    document = found[collection]
    assert document is not None
    pattern: str = document["_id"]["$regex"]
    return pattern


@pytest.mark.parametrize("meeting_uuid", ["aBcD1234+xyz/==", "a|b"])
def test_the_email_claims_of_a_meeting_are_found_and_not_those_of_its_uuid_with_a_final_newline(
    meeting_uuid: str,
) -> None:
    claims = _pattern(EMAIL_CLAIMS, meeting_uuid, [])
    assert _found(claims, f"acme|summary|1|1|{meeting_uuid}")
    assert not _found(claims, f"acme|summary|1|1|{meeting_uuid}\n"), "the claim of another meeting would be erased"
    assert not _found(claims, f"beta|summary|1|1|{meeting_uuid}")


def test_a_meeting_whose_uuid_ends_in_a_newline_finds_its_own_claims_only() -> None:
    claims = _pattern(EMAIL_CLAIMS, "aBcD1234\n", [])
    assert _found(claims, "acme|summary|1|1|aBcD1234\n")
    assert not _found(claims, "acme|summary|1|1|aBcD1234")


def test_the_job_claims_of_a_meeting_end_at_the_attempt_number() -> None:
    claims = _pattern(JOB_CLAIMS, "aBcD1234", ["assemblyai:t-1"])
    assert _found(claims, "assemblyai:t-1#2")
    assert not _found(claims, "assemblyai:t-1#2\n")
