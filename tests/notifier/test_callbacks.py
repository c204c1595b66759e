"""Callback bodies: every shape the providers send is understood, anything else is refused clearly."""

from __future__ import annotations

import json

import pytest
from zoomsymbl_notifier.callbacks import CallbackBody, InvalidCallback, parse_callback


@pytest.mark.parametrize(
    "raw",
    [b'{"jobId": "j-1", "status": "completed"}', b'{"id": "j-1", "status": "completed"}'],
    ids=["documented", "sample"],
)
def test_symbl_bodies_in_both_documented_shapes_name_the_job(raw: bytes) -> None:
    assert parse_callback("symbl", raw) == CallbackBody(job_id="j-1", status="completed")


def test_assemblyai_body_names_the_transcript() -> None:
    raw = b'{"transcript_id": "t-9", "status": "error"}'
    assert parse_callback("assemblyai", raw) == CallbackBody(job_id="t-9", status="error")


@pytest.mark.parametrize(
    ("provider", "raw", "why"),
    [
        ("symbl", b"not json", "not JSON"),
        ("symbl", b"[1, 2]", "not a JSON object"),
        ("symbl", b'{"status": "completed"}', "job id"),
        ("symbl", b'{"jobId": 5, "status": "completed"}', "job id"),
        ("symbl", b'{"jobId": "j", "status": ""}', "status"),
        ("symbl", b'{"jobId": "j"}', "status"),
        ("assemblyai", b'{"jobId": "j", "status": "completed"}', "transcript_id"),
        ("symbl", b"\xff\xfe", "not JSON"),
    ],
)
def test_malformed_bodies_are_refused_with_the_reason(provider: str, raw: bytes, why: str) -> None:
    with pytest.raises(InvalidCallback, match=why):
        parse_callback(provider, raw)  # type: ignore[arg-type]


def test_an_absurdly_long_job_id_is_refused() -> None:
    with pytest.raises(InvalidCallback):
        parse_callback("symbl", b'{"jobId": "' + b"x" * 1000 + b'", "status": "completed"}')


@pytest.mark.parametrize(
    ("provider", "status"),
    [
        ("symbl", "done"),
        ("symbl", "completed2"),
        ("assemblyai", "failed"),
        ("assemblyai", "in_progress"),
        ("symbl", "x" * 60),
    ],
)
def test_a_status_outside_the_providers_vocabulary_is_refused(provider: str, status: str) -> None:
    # Each invented string used to become its own event (event ids include the status) and a provider call.
    raw = json.dumps({"jobId" if provider == "symbl" else "transcript_id": "j-1", "status": status}).encode()
    with pytest.raises(InvalidCallback, match="unknown status"):
        parse_callback(provider, raw)  # type: ignore[arg-type]


def test_status_case_does_not_make_a_second_event() -> None:
    assert parse_callback("symbl", b'{"jobId": "j-1", "status": "COMPLETED"}').status == "completed"
    assert parse_callback("assemblyai", b'{"transcript_id": "t", "status": "Error"}').status == "error"
