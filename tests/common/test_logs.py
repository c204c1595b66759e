from __future__ import annotations

import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider
from zoomsymbl_common.logs import JsonFormatter, redact, register_secret


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
