from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from datetime import timedelta

import pytest
from opentelemetry.sdk.trace import TracerProvider
from pydantic import ValidationError
from zoomsymbl_common import logs
from zoomsymbl_common.logs import JsonFormatter, LogSampler, redact, register_secret, register_uri_password, scrub
from zoomsymbl_common.records import MalformedRecord, MeetingSecret


def _format(record_msg: str, **extra: object) -> dict[str, object]:
    record = logging.LogRecord("zoomsymbl.test", logging.INFO, __file__, 1, record_msg, None, None)
    for key, value in extra.items():
        setattr(record, key, value)
    line: dict[str, object] = json.loads(JsonFormatter().format(record))
    return line


def test_log_line_is_json_with_extra_fields() -> None:
    line = _format("webhook accepted", tenant="acme", meeting_uuid="abc//def==")
    assert line["msg"] == "webhook accepted"
    assert line["level"] == "info"
    assert line["tenant"] == "acme" and line["meeting_uuid"] == "abc//def=="
    assert "trace_id" not in line


def test_log_line_carries_the_active_trace_id() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("span") as span:
        line = _format("inside")
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")


@pytest.mark.parametrize("where", ["msg", "extra"])
def test_registered_secrets_never_reach_a_log_line(where: str) -> None:
    secret = "dl-token-SECRET-0042"
    register_secret(secret)
    line = _format(f"token {secret}") if where == "msg" else _format("x", url=f"https://h/?t={secret}")
    assert secret not in json.dumps(line)
    assert "[redacted]" in json.dumps(line)


def test_many_registered_secrets_are_each_redacted_longest_first() -> None:
    tokens = [f"many-secrets-token-{i:05d}" for i in range(2000)]
    for token in tokens:
        register_secret(token)
    register_secret("many-secrets-token-00007-and-more")
    text = redact(f"a={tokens[7]}-and-more b={tokens[1999]} c={tokens[0]}x d=many-secrets-token-")
    assert text == "a=[redacted] b=[redacted] c=[redacted]x d=many-secrets-token-"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("zoom refused file 'f1': status 200, code 124", "zoom refused file 'f1': status 200, code 124"),
        ("GET https://zoom.us/rec/download/x?access_token=a failed", "GET https://zoom.us/… failed"),
        ("redirect to https://u:p@cdn.example.com:8443 refused", "redirect to https://cdn.example.com:8443 refused"),
        ("header Authorization: Bearer abc.def-ghi", "header Authorization: [redacted] [redacted]"),
        ("callback_token=abc&x=1, password: 'hunter2'", "callback_token=[redacted]&x=1, password: '[redacted]'"),
    ],
)
def test_scrub_keeps_hosts_and_plain_words_and_masks_everything_else(text: str, expected: str) -> None:
    assert scrub(text) == expected
    assert scrub(scrub(text)) == expected, "idempotent"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('provider said {"access_token": "tok-0201"}', 'provider said {"access_token": "[redacted]"}'),
        ('{"download_token":"tok-0202","id":7}', '{"download_token":"[redacted]","id":7}'),
        ('{"appSecret": "tok-0203"}', '{"appSecret": "[redacted]"}'),
        ("{'password': 'tok-0204', 'user': 'bob'}", "{'password': '[redacted]', 'user': 'bob'}"),
        ('body "{\\"client_secret\\": \\"tok-0205\\"}"', 'body "{\\"client_secret\\": \\"[redacted]\\"}"'),
        ("state=x%26access_token%3Dtok-0206", "state=x%26access_token%3D[redacted]"),
        ("fetch https%3A%2F%2Fb.example%2Fk%3FX-Amz-Signature%3Dtok-0207 failed", "fetch https://b.example/… failed"),
        ("see https%3a%2f%2fuser%3Atok-0208%40b.example%3A8443%2Fk", "see https://b.example%3A8443/…"),
        ('{"url":"https:\\/\\/b.example\\/k?X-Amz-Signature=tok-0209"}', '{"url":"https://b.example/…"}'),
        ("next%3Dhttps://b.example/k?sig=tok-0210", "next%3Dhttps://b.example/…"),
        ("u=https%253A%252F%252Fb.example%252Fk%253FX-Amz-Signature%253Dtok-0211", "u=https://b.example/…"),
        ("https%253A%252F%252Fuser%253Atok-0212%2540b.example%252Fk", "https://b.example/…"),
        ("state=x%2526access_token%253Dtok-0213", "state=x%2526access_token%253D[redacted]"),
    ],
)
def test_scrub_masks_secrets_in_json_pairs_and_encoded_or_escaped_urls(text: str, expected: str) -> None:
    assert scrub(text) == expected
    assert "tok-02" not in scrub(text)
    assert scrub(scrub(text)) == expected, "idempotent"


def test_scrub_redacts_registered_secrets_and_bounds_length() -> None:
    register_secret("scrub-SECRET-0099")
    assert scrub("got scrub-SECRET-0099 back") == "got [redacted] back"
    assert len(scrub("x" * 5000, 100)) == 100


ESCAPED_SECRETS = {
    "double quote": 'pw"quote-0101',
    "backslash": "pw\\slash-0102",
    "tab": "pw\ttab-0103",
    "all three and a newline": 'a"b\\c\td\ne-0104',
}


@pytest.mark.parametrize("name", sorted(ESCAPED_SECRETS))
@pytest.mark.parametrize("where", ["msg", "msg !r", "extra", "nested extra", "exception"])
def test_a_secret_that_json_or_repr_escapes_is_redacted_too(name: str, where: str) -> None:
    secret = ESCAPED_SECRETS[name]
    register_secret(secret)
    record = logging.LogRecord("zoomsymbl.test", logging.ERROR, __file__, 1, "x", None, None)
    if where == "msg":
        record.msg = f"login with {secret} failed"
    elif where == "msg !r":
        record.msg = f"login with {secret!r} failed"
    elif where == "extra":
        record.password = secret
    elif where == "nested extra":
        record.request = {"headers": [secret]}
    else:
        try:
            raise ValueError(f"bad password {secret!r}")
        except ValueError:
            record.exc_info = sys.exc_info()
    raw = JsonFormatter().format(record)
    parsed = json.dumps(json.loads(raw), ensure_ascii=False)
    for form in (secret, repr(secret)[1:-1]):
        assert form not in raw and form not in parsed
        assert json.dumps(form, ensure_ascii=False)[1:-1] not in raw
    assert "[redacted]" in raw


def test_a_uri_password_is_registered_raw_and_percent_decoded() -> None:
    register_uri_password("mongodb://svc:p%40ss-w0rd-77@db1:27017,db2:27017/zoomsymbl?authSource=admin")
    assert redact("mongodb://svc:p%40ss-w0rd-77@db1 and p@ss-w0rd-77") == "mongodb://svc:[redacted]@db1 and [redacted]"
    register_uri_password("mongodb://db1:27017/")  # no password: nothing to register, nothing breaks
    assert redact("mongodb://db1:27017/") == "mongodb://db1:27017/"


def test_per_request_secrets_do_not_grow_the_redactor_without_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ingest registers one download token per webhook: before, every one stayed for the life of the process.
    monkeypatch.setattr(logs, "MAX_EPHEMERAL", 400)
    before = logs.registered_count()
    for n in range(2000):
        logs.register_secret(f"per-webhook-token-{n:06d}-{uuid.uuid4().hex}", ttl=timedelta(hours=24))
    assert logs.registered_count() - before <= 400
    newest = f"per-webhook-token-newest-{uuid.uuid4().hex}"
    logs.register_secret(newest, ttl=timedelta(hours=24))
    assert newest not in logs.redact(f"x {newest} y")


def test_a_secret_registered_on_every_request_keeps_the_redactor_bounded() -> None:
    # The web registers the page token on every view, download and audio range: each call left a heap entry until
    # the link expired (up to 30 days), so anyone holding a link could grow a pod's memory without limit.
    token = f"page-token-{uuid.uuid4().hex}"
    logs.register_secret(token, ttl=timedelta(days=30))
    before = logs.registered_count()
    for _ in range(20_000):
        logs.register_secret(token, ttl=timedelta(days=30))
    assert logs.registered_count() == before
    assert len(logs._expiries) <= 2 * len(logs._ephemeral) + logs._HEAP_SLACK
    assert token not in logs.redact(f"GET /m/{token}/audio")


def test_a_per_request_secret_is_forgotten_after_its_validity(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    expired = f"presigned-{uuid.uuid4().hex}"
    logs.register_secret(expired, ttl=timedelta(seconds=60))
    assert expired not in logs.redact(expired)
    clock[0] += 61
    logs.register_secret(f"another-{uuid.uuid4().hex}", ttl=timedelta(seconds=60))  # registering sweeps
    assert logs.redact(expired) == expired


def test_a_configuration_secret_is_never_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "MAX_EPHEMERAL", 10)
    config = f"s3-secret-{uuid.uuid4().hex}"
    logs.register_secret(config)
    logs.register_secret(config, ttl=timedelta(seconds=1))  # a later per-request use does not demote it
    for n in range(100):
        logs.register_secret(f"churn-{n}-{uuid.uuid4().hex}", ttl=timedelta(hours=1))
    assert config not in logs.redact(config)


def test_the_sampler_writes_a_burst_then_its_rate_and_counts_what_it_left_out() -> None:
    now = [0.0]
    sampler = LogSampler(per_second=2.0, burst=3, clock=lambda: now[0])
    assert [sampler.take() for _ in range(5)] == [0, 0, 0, None, None]  # the burst, then nothing
    now[0] += 0.5  # one line's worth of time
    assert sampler.take() == 2  # written, saying two were left out
    assert sampler.take() is None
    now[0] += 10.0  # a quiet spell refills the burst, not more
    assert [sampler.take() for _ in range(4)] == [1, 0, 0, None]


def test_a_plain_token_is_redacted_like_any_other() -> None:
    register_secret("plainToken-0123456789abcdef", ttl=timedelta(minutes=1))
    assert redact('{"url": "https://x/?t=plainToken-0123456789abcdef"}') == '{"url": "https://x/?t=[redacted]"}'


def test_a_stored_download_token_is_shown_by_no_repr_and_no_validation_error() -> None:
    # Not registered with the redactor: a traceback or a debug line must not need redact() to hide it.
    # (Belongs with the record tests in test_records.py; kept here, with the other secret-hygiene tests.)
    token = f"dl-token-{uuid.uuid4().hex}"
    secret = MeetingSecret(tenant="acme", meeting_uuid="m", download_token=token)
    assert token not in repr(secret) and token not in str(secret)
    assert secret.to_document()["download_token"] == token, "stored and read as before"
    with pytest.raises(MalformedRecord) as caught:
        MeetingSecret.from_document({"tenant": "acme", "meeting_uuid": "m", "download_token": token + "x" * 8192})
    assert isinstance(caught.value.__cause__, ValidationError)
    # pydantic shows an input's first characters: of a token, that is a part of the secret.
    assert token[:20] not in str(caught.value) and token[:20] not in str(caught.value.__cause__)


def test_a_logged_traceback_loses_an_unregistered_token_its_chained_cause_quotes() -> None:
    """aiohttp names the URL it timed out on; a chained cause's text lands in the traceback of ``log.exception``."""
    token = "unregistered-" + uuid.uuid4().hex
    try:
        try:
            raise TimeoutError(f"Connection timeout to host https://zoom.us/rec/download/abc?access_token={token}")
        except TimeoutError as cause:
            raise RuntimeError("download failed") from cause
    except RuntimeError:
        record = logging.LogRecord("zoomsymbl.test", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    line = json.loads(JsonFormatter().format(record))
    assert "download failed" in line["exc"] and "Connection timeout to host https://zoom.us/" in line["exc"]
    assert token not in json.dumps(line)
