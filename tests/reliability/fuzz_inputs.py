"""Hypothesis strategies for hostile webhook requests: random bytes, random JSON, Zoom-shaped and callback-shaped
bodies with hostile values, deep nesting, oversized bodies, bad and good signatures and tokens.

Hostile values are the ones attackers try first: path traversal, CR/LF header injection, NUL and
terminal escapes, SSRF URLs and schemes, lone surrogates, very long strings, numbers of every shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from hypothesis import strategies as st

HOSTILE_STRINGS = (
    "../../../../etc/passwd",
    "..\\..\\..\\windows\\win.ini",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "Topic\r\nBcc: attacker@evil.test\r\nX-Injected: 1",
    "host@example.test\r\nBcc: attacker@evil.test",
    "\x00\x01\x02\x1b[31m\x7f",
    "\u202egnp.exe",
    "\ud800",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "https://127.0.0.1:1/rec/download/x",
    "https://10.0.0.1/x",
    "https://evil.example/rec/download/x",
    "//double//slash==",
    "/leading-slash==",
    "A" * 4096,
    "Zoë 🎧 Ng",
    "",
    " ",
    "$where",
    '{"$gt": ""}',
)

hostile_text = st.one_of(st.sampled_from(HOSTILE_STRINGS), st.text(max_size=64))
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(hostile_text, inner, max_size=4)),
    max_leaves=20,
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field's value: usually of the documented kind, sometimes any JSON value."""
    return st.one_of(strategy, strategy, json_values)


recording_file = st.fixed_dictionaries(
    {},
    optional={
        "id": maybe(hostile_text),
        "file_name": maybe(st.builds(lambda n: f"Audio only - {n}", hostile_text)),
        "file_type": maybe(st.sampled_from(["M4A", "MP4", "../x", ""])),
        "file_extension": maybe(st.sampled_from(["M4A", "mp4", "../../sh", "a" * 40])),
        "file_size": maybe(st.integers(min_value=-5, max_value=2**63)),
        "download_url": maybe(hostile_text),
        "recording_start": maybe(st.sampled_from(["2024-05-02T10:00:00Z", "not a date", "9999-99-99"])),
        "recording_type": maybe(st.sampled_from(["audio_only", "shared_screen", ""])),
        "status": maybe(st.sampled_from(["completed", "processing"])),
    },
)
meeting_object = st.fixed_dictionaries(
    {},
    optional={
        "uuid": maybe(hostile_text),
        "id": maybe(st.integers()),
        "host_id": maybe(hostile_text),
        "host_email": maybe(hostile_text),
        "topic": maybe(hostile_text),
        "start_time": maybe(hostile_text),
        "duration": maybe(st.integers()),
        "participant_audio_files": maybe(st.lists(recording_file, max_size=4)),
        "recording_files": maybe(st.lists(recording_file, max_size=3)),
    },
)
any_envelope = st.fixed_dictionaries(
    {"event": maybe(st.sampled_from(["recording.completed", "endpoint.url_validation", "meeting.started", ""]))},
    optional={
        "event_ts": maybe(st.integers(min_value=-(2**64), max_value=2**64)),
        "download_token": maybe(hostile_text),
        "payload": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "account_id": maybe(hostile_text),
                    "object": maybe(meeting_object),
                    "plainToken": maybe(hostile_text),
                },
            )
        ),
    },
)
# Well-formed enough to be published, with hostile values where Zoom puts free text and URLs.
usable_file = st.fixed_dictionaries(
    {"id": hostile_text.filter(lambda t: 0 < len(t) <= 256), "download_url": hostile_text.filter(bool)},
    optional={"file_name": st.builds(lambda n: f"Audio only - {n}", hostile_text), "file_extension": hostile_text},
)
publishable = st.fixed_dictionaries(
    {
        "event": st.just("recording.completed"),
        "event_ts": st.integers(min_value=1, max_value=2**45),
        "download_token": st.just("DLTOKEN-fuzz-0a1b2c3d4e5f"),
        "payload": st.fixed_dictionaries(
            {
                "account_id": hostile_text,
                "object": st.fixed_dictionaries(
                    {
                        "uuid": hostile_text.filter(lambda t: 0 < len(t) <= 256),
                        "topic": hostile_text,
                        "host_email": hostile_text,
                        "participant_audio_files": st.lists(usable_file, min_size=1, max_size=3),
                    }
                ),
            }
        ),
    }
)
zoom_envelope = st.one_of(any_envelope, publishable)
DOWNLOAD_TOKEN = "DLTOKEN-fuzz-0a1b2c3d4e5f"


def encoded(values: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """JSON text of ``values``, ASCII-escaped or raw UTF-8 (lone surrogates escaped either way)."""
    return st.builds(
        lambda value, ascii_only: json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"),
        values,
        st.booleans(),
    )


def nested(depth: int, kind: str) -> bytes:
    """``depth`` levels of arrays or objects."""
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


def bodies(max_bytes: int, shaped: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Any body: shaped ones most often, then random JSON and bytes, deep nesting, one byte too many."""
    deep = st.builds(nested, st.integers(min_value=500, max_value=max_bytes // 6), st.sampled_from(["array", "object"]))
    oversized = st.builds(lambda extra: b" " * (max_bytes + extra), st.integers(min_value=1, max_value=2048))
    return st.one_of(shaped, shaped, shaped, encoded(json_values), st.binary(max_size=512), deep, oversized)


Signing = Literal["valid", "valid_ms", "none", "garbage", "stale", "other_secret", "no_timestamp"]


@dataclass(frozen=True)
class ZoomRequest:
    """One generated POST to ingest."""

    tenant: str | None  # None = /webhooks/zoom (the default tenant)
    body: bytes
    signing: Signing
    content_type: str

    @property
    def path(self) -> str:
        return (
            "/webhooks/zoom"
            if self.tenant is None
            else "/webhooks/zoom/" + quote(self.tenant, safe="", errors="surrogatepass")
        )


def zoom_requests(max_bytes: int, tenants: tuple[str, ...]) -> st.SearchStrategy[ZoomRequest]:
    tenant = st.one_of(st.none(), st.sampled_from(tenants), hostile_text.filter(bool))
    signing = st.sampled_from(
        ["valid", "valid", "valid", "valid_ms", "none", "garbage", "stale", "other_secret", "no_timestamp"]
    )
    content_type = st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""])
    return st.builds(ZoomRequest, tenant, bodies(max_bytes, encoded(zoom_envelope)), signing, content_type)


TokenKind = Literal["valid", "unknown_job", "other_provider", "tampered", "random", "empty"]
TOKEN_KINDS: tuple[TokenKind, ...] = (
    "valid",
    "valid",
    "valid",
    "unknown_job",
    "other_provider",
    "tampered",
    "random",
    "empty",
)


@dataclass(frozen=True)
class CallbackRequest:
    """One generated POST to the notifier."""

    provider: Literal["symbl", "assemblyai"]
    token_kind: TokenKind
    random_token: str
    body: bytes
    chunked: bool


def callback_body(job_ids: tuple[str, ...]) -> st.SearchStrategy[bytes]:
    status = maybe(st.sampled_from(["completed", "failed", "in_progress", "scheduled", "x" * 65, ""]))
    job = maybe(st.one_of(st.sampled_from(job_ids), hostile_text))
    shape = st.fixed_dictionaries({}, optional={"jobId": job, "id": job, "transcript_id": job, "status": status})
    return encoded(shape)


@st.composite
def callback_requests(draw: st.DrawFn, max_bytes: int, jobs: dict[str, str]) -> CallbackRequest:
    """A callback; about one in four carries the documented body naming the provider's own job."""
    provider: Literal["symbl", "assemblyai"] = draw(st.sampled_from(["symbl", "assemblyai"]))
    kind: TokenKind = draw(st.sampled_from(TOKEN_KINDS))
    if draw(st.integers(min_value=0, max_value=3)) == 0:
        status = draw(st.sampled_from(["completed", "failed", "in_progress", "processing", "error"]))
        field = "jobId" if provider == "symbl" else "transcript_id"
        body = json.dumps({field: jobs[provider], "status": status}).encode()
    else:
        body = draw(bodies(max_bytes, callback_body(tuple(jobs.values()))))
    return CallbackRequest(provider, kind, draw(hostile_text), body, draw(st.booleans()))
