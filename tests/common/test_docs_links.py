"""Links between the docs resolve: relative links and their #anchors, named sections, repository paths, tests.

Anchors are GitHub's (the heading's text, lower-cased, punctuation dropped, spaces to hyphens, ``-1`` for
a repeat) or an explicit ``<a id="…">``; a ``{#id}`` after a heading is not an anchor there, it is shown
as text. A section named in prose (``docs/operations.md, "Traces in Jaeger and Grafana"``) must be a
heading of that document; a test named as ``tests/x.py::test_y`` must exist.
"""

from __future__ import annotations

import re
from collections import Counter

from tests.common.docs_text import ROOT, Doc, documents, headings, planted, split_fences

_LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\]]*\])*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")
_SECTION_REF = re.compile(
    r"`?(?P<doc>README(?:\.md)?|(?:docs/)?[a-z0-9-]+\.md)`?,?\s+\(?(?:section\s+)?\"(?P<title>[^\"]{2,80})\""
)
_REPO_PATH = re.compile(r"(?<![\w/.-])((?:docs|tests|libs|services|deploy|scripts|bench|infra)/[A-Za-z0-9_./-]+)")
_TEST_REF = re.compile(r"(?P<path>tests/[A-Za-z0-9_/]+\.py)?(?P<elided>…)?::(?P<name>[A-Za-z_][A-Za-z0-9_]*)")
# `kubectl … deploy/<name>` is a Deployment, not a path (tests/deploy/test_values_docs.py checks those names).
_KUBECTL_OBJECT = re.compile(r"deploy/zoomsymbl-[a-z0-9-]+")


def slug(title: str) -> str:
    """GitHub's anchor of a heading: markup and punctuation dropped, lower case, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return text.replace(" ", "-")


def anchors(doc: Doc) -> set[str]:
    """Every anchor ``doc`` has: its headings' (repeats numbered) and its ``<a id>`` ones."""
    seen: Counter[str] = Counter()
    found = set()
    for _, title in headings(doc.text):
        base = slug(title)
        found.add(base if not seen[base] else f"{base}-{seen[base]}")
        seen[base] += 1
    return found | set(_HTML_ANCHOR.findall(doc.text))


def _resolve(doc: Doc, target: str) -> str:
    """The repository path a link of ``doc`` points to."""
    return str((ROOT / doc.name).parent.joinpath(target).resolve().relative_to(ROOT))


def link_problems(docs: list[Doc]) -> list[str]:
    """Relative links whose file or anchor does not exist."""
    by_name = {doc.name: doc for doc in docs}
    problems = []
    for doc in docs:
        prose, _ = split_fences(doc.text)
        prose = re.sub(r"`[^`\n]*`", "", prose)
        for match in _LINK.finditer(prose):
            target = match["target"]
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # https:, mailto:
            path, _, anchor = target.partition("#")
            name = _resolve(doc, path) if path else doc.name
            if path and not (ROOT / name).exists():
                problems.append(f"{doc.name}: ({target}): no file {name}")
            elif anchor and name in by_name and anchor not in anchors(by_name[name]):
                problems.append(f"{doc.name}: ({target}): {name} has no heading with anchor #{anchor}")
    return problems


def section_problems(docs: list[Doc]) -> list[str]:
    """Sections named in prose (``docs/x.md``, "Title") that are no heading of that document."""
    by_name = {doc.name: doc for doc in docs}
    problems = []
    for doc in docs:
        text = re.sub(r"\s+", " ", doc.text)
        for match in _SECTION_REF.finditer(text):
            name = match["doc"] if match["doc"].endswith(".md") else "README.md"
            name = name if name == "README.md" or name.startswith("docs/") else f"docs/{name}"
            target = by_name.get(name)
            if target is None:
                problems.append(f"{doc.name}: {name} does not exist")
                continue
            titles = [title.replace("`", "").lower() for _, title in headings(target.text)]
            wanted = match["title"].replace("`", "").lower()
            if not any(title.startswith(wanted) for title in titles):
                problems.append(f'{doc.name}: {name} has no section "{match["title"]}"')
    return problems


def path_problems(docs: list[Doc]) -> list[str]:
    """Repository paths the docs name that do not exist, and named tests their file does not define."""
    problems = []
    for doc in docs:
        for found in _REPO_PATH.findall(doc.text):
            path = found.split("::")[0].rstrip(".,:;")
            if not _KUBECTL_OBJECT.fullmatch(path) and not (ROOT / path).exists():
                problems.append(f"{doc.name}: {path} does not exist")
        for line in doc.text.splitlines():
            last: str | None = None
            for match in _TEST_REF.finditer(line):
                last = match["path"] or (last if match["elided"] else None)
                source = ROOT / last if last else None
                if source is None or not source.exists():
                    continue
                if not re.search(rf"^\s*(?:async\s+)?(?:def|class)\s+{match['name']}\b", source.read_text(), re.M):
                    problems.append(f"{doc.name}: {last}::{match['name']} does not exist")
    return sorted(set(problems))


# ---------------------------------------------------------------- the docs as they are


def test_relative_links_and_anchors_resolve() -> None:
    links = sum(len(_LINK.findall(doc.text)) for doc in documents())
    assert links > 10, "the scan finds the docs' links"
    assert link_problems(documents()) == []


def test_sections_named_in_prose_exist() -> None:
    assert section_problems(documents()) == []


def test_paths_and_tests_the_docs_name_exist() -> None:
    assert path_problems(documents()) == []


# ---------------------------------------------------------------- the checks catch a planted drift


def test_the_slugs_are_githubs() -> None:
    assert slug("Zoom's own transcripts (the `zoom` source)") == "zooms-own-transcripts-the-zoom-source"
    assert slug("web — the meeting page behind the e-mail's link") == "web--the-meeting-page-behind-the-e-mails-link"
    assert slug("Findings {#findings}") == "findings-findings"
    doc = Doc("x.md", "# A\n## Notes\n## Notes\n")
    assert anchors(doc) == {"a", "notes", "notes-1"}


def test_a_broken_link_or_anchor_is_caught() -> None:
    docs = planted("docs/operations.md", "](#replaying)", "](#replay)")
    assert link_problems(docs) == [
        "docs/operations.md: (#replay): docs/operations.md has no heading with anchor #replay"
    ]
    docs = planted("README.md", "](docs/meeting-page.md)", "](docs/meeting-pages.md)")
    assert link_problems(docs) == ["README.md: (docs/meeting-pages.md): no file docs/meeting-pages.md"]
    docs = planted("docs/operations.md", "](transcriber.md)", "](transcriber.md#nowhere)")
    assert link_problems(docs) == [
        "docs/operations.md: (transcriber.md#nowhere): docs/transcriber.md has no heading with anchor #nowhere"
    ]


def test_a_renamed_section_or_moved_test_is_caught() -> None:
    docs = planted("README.md", '"Traces in Jaeger and Grafana"', '"Traces in Jaeger"')
    assert section_problems(docs) == []  # a title's beginning is enough
    docs = planted("README.md", '"Traces in Jaeger and Grafana"', '"Tracing with Jaeger"')
    assert section_problems(docs) == ['README.md: docs/operations.md has no section "Tracing with Jaeger"']
    docs = planted("docs/reliability.md", "tests/common/test_media_tools.py::", "tests/submitter/test_media_tools.py::")
    assert path_problems(docs) == ["docs/reliability.md: tests/submitter/test_media_tools.py does not exist"]
    docs = planted(
        "docs/reliability.md", "::test_the_tool_gets_a_minimal_environment", "::test_the_tool_gets_a_small_environment"
    )
    assert path_problems(docs) == [
        "docs/reliability.md: tests/common/test_media_tools.py::"
        "test_the_tool_gets_a_small_environment_without_the_services_secrets does not exist"
    ]
