"""Every environment variable the docs name is read by a settings model, and every setting is documented.

The variables come from the models themselves (each service's ``Settings``, ``InfraSettings``, the
single-tenant ``ZOOMSYMBL_TENANT_*`` model) and from the few names the code reads straight from the
environment. docs/services.md ends with one table per model; they must list exactly its variables, with
its defaults, so a new, renamed or re-defaulted setting fails here until the docs say so.
"""

from __future__ import annotations

import importlib
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings
from zoomsymbl_common.service import ServiceSettings
from zoomsymbl_common.settings import InfraSettings, env_name
from zoomsymbl_common.tenants import _SingleTenantEnv

from tests.common.docs_text import ROOT, Doc, code_spans, documents, planted, sections, table_rows, units, unquote

SERVICES = sorted(
    path.name
    for path in (ROOT / "services").iterdir()
    if (path / "src" / f"zoomsymbl_{path.name}/settings.py").exists()
)
REFERENCE_DOC = "docs/services.md"
REFERENCE_SECTION = "Settings reference"
SHARED = "shared"
# Env prefixes of other programs: a `_SUFFIX` after one of them is not ours.
OTHER_PREFIXES = ("ZS_", "OTEL_", "HELM_", "UV_", "KUBE")
_DIRECT_READ = re.compile(r"""(?:\.get|getenv)\(\s*["'](ZOOMSYMBL_[A-Z0-9_]+)["']""")
_NAME = re.compile(
    r"`(?P<abbr>_[A-Z][A-Z0-9_]*\*?)`|(?P<name>\b[A-Z][A-Z0-9]*_[A-Z0-9_]*\*?)(?P<alts>(?:/[A-Z][A-Z0-9]*)*)(?P<template><)?"
)
_BARE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
_NUMBER = r"-?(?:\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)"


def service_settings() -> dict[str, type[BaseSettings]]:
    """Each service's ``Settings`` class."""
    found: dict[str, type[BaseSettings]] = {}
    for service in SERVICES:
        cls = importlib.import_module(f"zoomsymbl_{service}.settings").Settings
        assert isinstance(cls, type) and issubclass(cls, BaseSettings), service
        found[service] = cls
    return found


def model_vars(cls: type[BaseSettings]) -> dict[str, FieldInfo]:
    """Env var → field of ``cls`` (the embedded ``InfraSettings`` left out: it is its own table)."""
    return {
        env_name(cls, name): info
        for name, info in cls.model_fields.items()
        if not (isinstance(info.annotation, type) and issubclass(info.annotation, BaseSettings))
    }


def models() -> dict[str, type[BaseSettings]]:
    """Reference table title → model: the shared settings and each service's."""
    return {SHARED: InfraSettings, **service_settings()}


def direct_reads() -> set[str]:
    """``ZOOMSYMBL_*`` names the code reads from the environment itself (the tenants file, the build commit)."""
    sources = [*ROOT.glob("libs/*/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]
    return {name for path in sources for name in _DIRECT_READ.findall(path.read_text(encoding="utf-8"))}


def known_variables() -> set[str]:
    """Every ``ZOOMSYMBL_*`` variable something in the code reads."""
    tenant = {f"ZOOMSYMBL_TENANT_{field.upper()}" for field in _SingleTenantEnv.model_fields}
    return set().union(*(model_vars(cls) for cls in models().values())) | tenant | direct_reads()


@dataclass(frozen=True)
class Named:
    """A variable (or a ``PREFIX_*`` / ``PREFIX_`` family) a document names."""

    doc: str
    name: str

    @property
    def is_family(self) -> bool:
        return self.name.endswith(("_", "*"))


def named_variables(doc: Doc) -> list[Named]:
    """The ``ZOOMSYMBL_*`` names of ``doc``, abbreviations expanded.

    ```ZOOMSYMBL_S3_ENDPOINT`, `_ACCESS_KEY``` names ``ZOOMSYMBL_S3_ACCESS_KEY``: a backticked ``_SUFFIX``
    belongs to the component (``ZOOMSYMBL_<first word>_``) of the last full name in the same unit; and
    ``ZOOMSYMBL_NOTIFIER_SMTP_HOST/PORT`` names ``ZOOMSYMBL_NOTIFIER_SMTP_PORT``.
    """
    found: list[Named] = []
    for unit in units(doc.text) + [line for line in doc.text.splitlines() if line.startswith(("export ", "  "))]:
        component: str | None = None
        for match in _NAME.finditer(unit):
            if match["abbr"]:
                if component:
                    found.append(Named(doc.name, component + match["abbr"][1:]))
                continue
            name = match["name"]
            if match["template"] or not name.startswith("ZOOMSYMBL_"):
                component = None if name.startswith(OTHER_PREFIXES) else component
                continue
            first = name.removeprefix("ZOOMSYMBL_").split("_")[0].rstrip("*")
            component = f"ZOOMSYMBL_{first}_" if first else None
            found.append(Named(doc.name, name))
            stem = name.rsplit("_", 1)[0]
            # `ZOOMSYMBL_NOTIFIER_SMTP_HOST/PORT` names ZOOMSYMBL_NOTIFIER_SMTP_PORT too.
            found += [Named(doc.name, f"{stem}_{alt}") for alt in match["alts"].split("/")[1:]]
    return found


def unknown_variables(docs: list[Doc], known: set[str]) -> list[str]:
    """``doc: name`` of each named variable (or family with no member) nothing reads."""
    wrong = set()
    for named in (named for doc in docs for named in named_variables(doc)):
        stem = named.name.rstrip("*")
        if named.is_family and named.name != "ZOOMSYMBL_":
            if not any(var.startswith(stem) for var in known):
                wrong.add(f"{named.doc}: {named.name}")
        elif not named.is_family and named.name not in known:
            wrong.add(f"{named.doc}: {named.name}")
    return sorted(wrong)


def render_default(info: FieldInfo) -> str:
    """A field's default as the reference tables write it."""
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None:
        return "unset"
    if value == "":
        return "empty"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Path):
        return str(value).replace(tempfile.gettempdir(), "<system temp>", 1)
    return str(value)


def reference_tables(doc: Doc) -> dict[str, dict[str, str]]:
    """Title (``shared`` or a service) → variable → default, from the reference section of ``doc``."""
    reference = sections(doc.text, 2).get(REFERENCE_SECTION, "")
    tables: dict[str, dict[str, str]] = {}
    for title, body in sections(reference, 3).items():
        key = title.split()[0]
        tables[key] = {unquote(row[0]): unquote(row[1]) for row in table_rows(body) if len(row) >= 2}
    return tables


def reference_problems(doc: Doc) -> list[str]:
    """What the reference tables of ``doc`` miss, have in excess or state wrongly, with the row to write."""
    tables = reference_tables(doc)
    problems: list[str] = []
    for title, cls in models().items():
        table = tables.get(title)
        if table is None:
            problems.append(f"no table '### {title} …' under '## {REFERENCE_SECTION}'")
            continue
        expected = {name: render_default(info) for name, info in model_vars(cls).items()}
        for name in sorted(expected.keys() - table.keys()):
            description = model_vars(cls)[name].description or ""
            problems.append(f"{title}: missing row | `{name}` | `{expected[name]}` | {description} |")
        problems += [f"{title}: {name} is not a setting" for name in sorted(table.keys() - expected.keys())]
        for name in sorted(expected.keys() & table.keys()):
            if table[name] != expected[name]:
                problems.append(f"{title}: {name} default {table[name]!r}, the model says {expected[name]!r}")
    problems += [f"table '{title}' is no settings model" for title in sorted(tables.keys() - models().keys())]
    return problems


def section_problems(doc: Doc) -> list[str]:
    """Short names (`HTTP_PORT`) in a service's section of docs/services.md that its settings lack, and
    defaults written after a name (`` `HTTP_PORT` (8080)``, ``(default 3, …)``) that differ from the model's."""
    problems: list[str] = []
    settings = service_settings()
    for title, body in sections(doc.text, 2).items():
        first = title.split()[0]
        if first in settings:
            cls: type[BaseSettings] = settings[first]
        elif title.startswith("What every service shares"):
            cls = ServiceSettings
        else:
            continue
        fields = {name.upper(): info for name, info in cls.model_fields.items()}
        full = {name: info for model in models().values() for name, info in model_vars(model).items()}
        for span in code_spans(body):
            if _BARE.fullmatch(span) and not span.startswith(("ZOOMSYMBL_", *OTHER_PREFIXES)) and span not in fields:
                problems.append(f"{doc.name}, section {first!r}: `{span}` is no setting of {cls.__name__}")
        for match in re.finditer(
            rf"`(?P<name>[A-Z][A-Z0-9_]+)`\s*\((?:[^()]*?\bdefault\s+(?P<d>{_NUMBER})(?=[,)\s;])|(?P<n>{_NUMBER})(?=[,)]))",
            body,
        ):
            info = fields.get(match["name"]) or full.get(match["name"])
            stated = (match["d"] or match["n"]).replace(",", "")
            default = info.get_default(call_default_factory=True) if info and not info.is_required() else None
            if info and (not isinstance(default, int | float) or float(stated) != float(default)):
                problems.append(f"{doc.name}: {match['name']} documented as {stated}, the model's default is {default}")
    return problems


def chart_setting_problems(docs: list[Doc]) -> list[str]:
    """``<service>.settings.<field>`` (or ``settings.<field>``) spans that name no field of a service."""
    settings = service_settings()
    problems = []
    for doc in docs:
        for span in code_spans(doc.text):
            match = re.match(r"^(?:([a-z]+)\.)?settings\.([a-z_0-9]+)", span)
            if not match:
                continue
            where = [settings[match[1]]] if match[1] in settings else list(settings.values())
            if match[1] and match[1] not in settings:
                continue  # another block's settings (e.g. a subchart's)
            if not any(match[2] in cls.model_fields for cls in where):
                problems.append(f"{doc.name}: `{span}` is no setting of {match[1] or 'any service'}")
    return problems


# ---------------------------------------------------------------- the docs as they are


def test_every_variable_the_docs_name_is_read_by_the_code() -> None:
    named = [named for doc in documents() for named in named_variables(doc)]
    assert len(named) > 50, "the scan finds the documented variables"
    assert unknown_variables(documents(), known_variables()) == []


def test_the_settings_reference_lists_every_setting_with_its_default() -> None:
    reference = next(doc for doc in documents() if doc.name == REFERENCE_DOC)
    assert reference_problems(reference) == []


def test_the_service_sections_name_only_their_own_settings_with_their_defaults() -> None:
    reference = next(doc for doc in documents() if doc.name == REFERENCE_DOC)
    assert section_problems(reference) == []


def test_chart_settings_the_docs_name_exist() -> None:
    assert chart_setting_problems(documents()) == []


# ---------------------------------------------------------------- the checks catch a planted drift


def test_a_made_up_variable_is_caught_full_or_abbreviated() -> None:
    docs = planted("README.md", "`_REGION`", "`_REGION`, `_PATH_STYLE`")
    assert unknown_variables(docs, known_variables()) == ["README.md: ZOOMSYMBL_S3_PATH_STYLE"]
    docs = planted("docs/services.md", "ZOOMSYMBL_MIXER_RAW_PART_BYTES", "ZOOMSYMBL_MIXER_RAW_PART_SIZE")
    assert unknown_variables(docs, known_variables()) == ["docs/services.md: ZOOMSYMBL_MIXER_RAW_PART_SIZE"]
    docs = planted("README.md", "`ZOOMSYMBL_TENANT_*` variables (`_ID`", "`ZOOMSYMBL_TENANT_*` variables (`_IDS`")
    assert unknown_variables(docs, known_variables()) == ["README.md: ZOOMSYMBL_TENANT_IDS"]
    docs = planted("docs/demo.md", "SMTP_HOST/PORT/SECURITY", "SMTP_HOST/PORT/TLS")
    assert unknown_variables(docs, known_variables()) == ["docs/demo.md: ZOOMSYMBL_NOTIFIER_SMTP_TLS"]


def test_a_setting_missing_from_the_reference_or_with_another_default_is_caught() -> None:
    reference = next(doc for doc in documents() if doc.name == REFERENCE_DOC)
    line = next(line for line in reference.text.splitlines() if line.startswith("| `ZOOMSYMBL_MIXER_MAX_REDIRECTS`"))
    dropped = Doc(reference.name, reference.text.replace(line + "\n", ""))
    problems = reference_problems(dropped)
    assert len(problems) == 1 and problems[0].startswith("mixer: missing row | `ZOOMSYMBL_MIXER_MAX_REDIRECTS` | `5` |")
    changed = Doc(reference.name, reference.text.replace(line, line.replace("| `5` |", "| `7` |")))
    assert reference_problems(changed) == ["mixer: ZOOMSYMBL_MIXER_MAX_REDIRECTS default '7', the model says '5'"]


def test_a_wrong_short_name_or_default_in_a_service_section_is_caught() -> None:
    reference = next(doc for doc in documents() if doc.name == REFERENCE_DOC)
    renamed = Doc(reference.name, reference.text.replace("`BURST`", "`BURST_SIZE`", 1))
    assert section_problems(renamed) == [
        f"{REFERENCE_DOC}, section 'submitter': `BURST_SIZE` is no setting of Settings"
    ]
    redefaulted = Doc(reference.name, reference.text.replace("`HTTP_PORT`\n(8080)", "`HTTP_PORT`\n(8090)", 1))
    assert redefaulted.text != reference.text
    assert section_problems(redefaulted) == [
        f"{REFERENCE_DOC}: HTTP_PORT documented as 8090, the model's default is 8080"
    ]


def test_a_chart_setting_that_does_not_exist_is_caught() -> None:
    docs = planted(
        "docs/operations.md", "`submitter.settings.public_s3_endpoint`", "`submitter.settings.s3_public_url`"
    )
    assert chart_setting_problems(docs) == [
        "docs/operations.md: `submitter.settings.s3_public_url` is no setting of submitter"
    ]
