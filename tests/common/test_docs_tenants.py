"""The tenants file the docs show is one ``TenantConfig`` accepts, and the defaults they state are its defaults.

Read from the docs: every JSON example of a tenants file (or of one tenant), every quoted key with its
value in a passage about tenants (`` `"provider": "symbl"` ``), every key named as the tenant's
(``the tenant's `admin_emails```, ```reconcile_expect` in the tenants file``), and a default stated next
to a key (``"page_link_days"` (1–365, default 30)``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import SecretStr, ValidationError
from zoomsymbl_common.tenants import TenantConfig

from tests.common.docs_text import Doc, code_spans, documents, planted, split_fences, units

FILE_KEYS = {"default_tenant", "tenants"}
# Quoted keys in passages that mention tenants but are not tenant keys, with what they are.
NOT_TENANT_KEYS = {
    "status": "/readyz's answer",
    "s3": "/readyz's answer",
    "trace_id": "a log line's field",
    "zoom_client_secrett": "docs/reliability.md's deliberately misspelled key",
}
_QUOTED = re.compile(r'^"(?P<key>[a-z_][a-z0-9_]*)"(?:\s*:\s*(?P<value>.+))?$')
_SPAN_LIST = r"`[a-z_][a-z0-9_]*`(?:(?:,\s*|,?\s+and\s+|\s+or\s+)`[a-z_][a-z0-9_]*`)*"
_NAMED = (
    re.compile(rf"tenant's ({_SPAN_LIST})"),
    re.compile(rf"({_SPAN_LIST}) in the tenants file"),
    re.compile(rf"\(({_SPAN_LIST}) per tenant\)"),
    re.compile(rf"per tenant,? \(({_SPAN_LIST})"),
)
_DEFAULT = re.compile(
    r'`"?(?P<key>[a-z_][a-z0-9_]*)"?`[^.;`]{0,40}?\bdefault\s+(?P<value>`[^`]+`|[0-9][0-9,]*)'
    r'|`"?(?P<key2>[a-z_][a-z0-9_]*)"?`[^.;`]{0,60}?`(?P<value2>[^`]+)`\s+\(the default\)'
)
_MINIMAL = {"id": "acme", "zoom_webhook_secret": "docs-check"}


def tenant_examples(doc: Doc) -> list[tuple[str, Any]]:
    """(where, tenant object) of each JSON block that is a tenants file or one tenant."""
    _, fences = split_fences(doc.text)
    found: list[tuple[str, Any]] = []
    for number, fence in enumerate(f for f in fences if f.lang == "json"):
        try:
            data = json.loads(fence.body)
        except json.JSONDecodeError:
            continue
        where = f"{doc.name}, JSON block {number + 1}"
        if isinstance(data, dict) and "tenants" in data:
            found.append((where, {key: None for key in data if key not in FILE_KEYS}))
            found += [(f"{where}, tenants[{n}]", tenant) for n, tenant in enumerate(data["tenants"])]
        elif isinstance(data, dict) and "zoom_webhook_secret" in data:
            found.append((where, data))
    return found


def example_problems(docs: list[Doc]) -> list[str]:
    """What ``TenantConfig`` refuses in the docs' tenants files (the location and error type, never a value)."""
    problems = []
    for where, tenant in (example for doc in docs for example in tenant_examples(doc)):
        if all(value is None for value in tenant.values()):
            problems += [f"{where}: {key!r} is no key of a tenants file" for key in tenant]
            continue
        try:
            TenantConfig.model_validate(tenant)
        except ValidationError as exc:
            problems += [f"{where}: {'.'.join(map(str, e['loc']))}: {e['type']}" for e in exc.errors()]
    return problems


def quoted_keys(doc: Doc) -> list[tuple[str, str | None]]:
    """(key, JSON value or None) of each `` `"key": value` `` or `` `"key"` `` in a unit mentioning tenants."""
    found = []
    for unit in units(doc.text):
        if "tenant" not in unit.lower():
            continue
        for span in code_spans(unit):
            match = _QUOTED.match(span)
            if match and match["key"] not in NOT_TENANT_KEYS:
                found.append((match["key"], match["value"]))
    return found


def named_keys(doc: Doc) -> list[str]:
    """Keys a sentence names as the tenant's."""
    prose, _ = split_fences(doc.text)
    text = re.sub(r"\s+", " ", prose)
    return [key for pattern in _NAMED for match in pattern.finditer(text) for key in re.findall(r"`(\w+)`", match[1])]


def key_problems(docs: list[Doc]) -> list[str]:
    """Tenant keys the docs name that ``TenantConfig`` lacks, and quoted values it refuses."""
    fields = TenantConfig.model_fields
    problems = []
    for doc in docs:
        for key, value in quoted_keys(doc):
            if key not in fields:
                problems.append(f'{doc.name}: "{key}" is no tenant key')
                continue
            try:
                parsed = json.loads(value) if value is not None else None
            except json.JSONDecodeError:
                continue  # an elided value (`"llm_model": …`)
            if parsed is not None:
                try:
                    TenantConfig.model_validate({**_MINIMAL, key: parsed})
                except ValidationError as exc:
                    problems.append(f'{doc.name}: "{key}": {value} is refused ({exc.errors()[0]["type"]})')
        problems += [
            f"{doc.name}: the tenant's `{key}` is no tenant key" for key in named_keys(doc) if key not in fields
        ]
    return problems


def stated_defaults(doc: Doc) -> list[tuple[str, str]]:
    """(key, default as written) of each tenant key with a default stated right after it."""
    prose, _ = split_fences(doc.text)
    text = re.sub(r"\s+", " ", prose)
    found = []
    for match in _DEFAULT.finditer(text):
        key = match["key"] or match["key2"]
        if key in TenantConfig.model_fields:
            found.append((key, (match["value"] or match["value2"]).strip("`")))
    return found


def _model_default(key: str) -> Any:
    value = TenantConfig.model_fields[key].get_default(call_default_factory=True)
    value = value.get_secret_value() if isinstance(value, SecretStr) else value
    return list(value) if isinstance(value, tuple) else value


def default_problems(docs: list[Doc]) -> list[str]:
    """Defaults the docs state for a tenant key that are not ``TenantConfig``'s."""
    problems = []
    for doc in docs:
        for key, written in stated_defaults(doc):
            try:
                stated = json.loads(written.replace(",", "") if re.fullmatch(r"[0-9,]+", written) else written)
            except json.JSONDecodeError:
                stated = written
            if stated != _model_default(key):
                problems.append(
                    f"{doc.name}: {key} default documented as {written}, TenantConfig's is {_model_default(key)!r}"
                )
    return problems


# ---------------------------------------------------------------- the docs as they are


def test_the_tenants_files_the_docs_show_are_valid() -> None:
    examples = [example for doc in documents() for example in tenant_examples(doc)]
    assert len(examples) >= 4, "the scan finds the README's and the runbook's tenants files"
    assert example_problems(documents()) == []


def test_the_tenant_keys_the_docs_name_exist() -> None:
    docs = documents()
    assert sum(len(quoted_keys(doc)) + len(named_keys(doc)) for doc in docs) > 20, "the scan finds the tenant keys"
    assert key_problems(docs) == []


def test_the_tenant_defaults_the_docs_state_are_the_models() -> None:
    docs = documents()
    stated = {key for doc in docs for key, _ in stated_defaults(doc)}
    assert {"page_link_days", "max_channels", "reconcile_expect", "assemblyai_speech_models"} <= stated
    assert default_problems(docs) == []


# ---------------------------------------------------------------- the checks catch a planted drift


def test_a_made_up_key_in_a_tenants_file_is_caught() -> None:
    docs = planted("docs/operations.md", '"language": "en-US",', '"language": "en-US", "webhook_path": "/z",')
    assert example_problems(docs) == ["docs/operations.md, JSON block 1, tenants[0]: webhook_path: extra_forbidden"]
    docs = planted("README.md", '{"default_tenant": "acme",', '{"default_tenant": "acme", "fallback_tenant": "x",')
    assert example_problems(docs) == ["README.md, JSON block 1: 'fallback_tenant' is no key of a tenants file"]


def test_a_made_up_key_or_value_in_prose_is_caught() -> None:
    docs = planted("docs/operations.md", '`"failure_notice": false`', '`"failure_notices": false`')
    assert key_problems(docs) == ['docs/operations.md: "failure_notices" is no tenant key']
    docs = planted("docs/providers.md", '`"provider": "zoom"`', '`"provider": "zoom-transcript"`')
    assert key_problems(docs) == ['docs/providers.md: "provider": "zoom-transcript" is refused (literal_error)']
    docs = planted("README.md", "tenant's `admin_emails`", "tenant's `admin_addresses`")
    assert key_problems(docs) == ["README.md: the tenant's `admin_addresses` is no tenant key"]


def test_a_wrong_tenant_default_is_caught() -> None:
    docs = planted("docs/operations.md", "(1–365, default 30)", "(1–365, default 14)")
    assert default_problems(docs) == [
        "docs/operations.md: page_link_days default documented as 14, TenantConfig's is 30"
    ]
