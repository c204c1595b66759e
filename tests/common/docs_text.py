"""The README and docs/*.md as the drift tests read them: prose units, code spans, command lines, headings.

Regexes only, no Markdown library: enough to find what a reader is told to run or set. A *unit* is one
paragraph, list item, table row or heading of the prose (fenced code blocks left out), so a name and
the words around it (an abbreviation, a default) are read together.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>```+|~~~+)(?P<lang>[^\n`]*)$")
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_UNIT_START = re.compile(r"^\s*(?:\||[-*+] |\d+\. |#{1,6} )")
_SHELL_LANGS = {"", "sh", "bash", "console", "shell", "text"}
ELISIONS = {"…", "...", "[…]"}
"""Words that stand for whatever was left out of a command line."""
PLACEHOLDER = re.compile(r"<[^<>\s]*>\S*")
"""A word such as ``<uuid>``: any value."""
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*")
"""A word such as ``JAEGER=1``."""
_SEPARATORS = re.compile(r"\s(?:&&|\|\|?|;)\s|;$")


@dataclass(frozen=True)
class Doc:
    """One Markdown file: its path relative to the repository and its text."""

    name: str
    text: str


@dataclass(frozen=True)
class Fence:
    """One fenced code block: its info string and body."""

    lang: str
    body: str


def documents(root: Path = ROOT) -> list[Doc]:
    """README.md and every docs/*.md."""
    paths = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    return [Doc(str(path.relative_to(root)), path.read_text(encoding="utf-8")) for path in paths]


def split_fences(text: str) -> tuple[str, list[Fence]]:
    """The prose (each fenced line blanked, so line numbers stay) and the fenced blocks."""
    prose: list[str] = []
    fences: list[Fence] = []
    open_fence: str | None = None
    lang = ""
    body: list[str] = []
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if open_fence is None and match:
            open_fence, lang, body = match["fence"], match["lang"].strip().lower(), []
            prose.append("")
        elif open_fence is not None and line.strip().startswith(open_fence) and not line.strip().strip(open_fence[0]):
            fences.append(Fence(lang, "\n".join(body)))
            open_fence = None
            prose.append("")
        elif open_fence is not None:
            body.append(line)
            prose.append("")
        else:
            prose.append(line)
    return "\n".join(prose), fences


def units(text: str) -> list[str]:
    """Paragraphs, list items, table rows and headings of the prose, each joined into one line."""
    prose, _ = split_fences(text)
    found: list[list[str]] = []
    for line in prose.splitlines():
        if not line.strip():
            found.append([])
        elif _UNIT_START.match(line) or not found or line.lstrip().startswith("|") or found[-1][:1] == ["#"]:
            found.append([line.strip()])
        else:
            found[-1].append(line.strip())
    return [" ".join(unit) for unit in found if unit]


def code_spans(text: str) -> list[str]:
    """The content of every inline code span of ``text`` (one unit or a whole prose)."""
    return [match[2].strip() for match in _CODE_SPAN.finditer(text)]


def command_lines(doc: Doc) -> list[str]:
    """What a reader may paste into a shell: every inline code span and every line of a shell-ish fenced block.

    Continuation lines (``\\``) are joined; comments are kept (the tokenizer drops them).
    """
    prose, fences = split_fences(doc.text)
    lines = code_spans(prose)
    for fence in fences:
        if fence.lang not in _SHELL_LANGS:
            continue
        joined = re.sub(r"\\\n\s*", " ", fence.body)
        lines.extend(line.strip() for line in joined.splitlines() if line.strip())
    return lines


def headings(text: str) -> list[tuple[int, str]]:
    """(level, title) of every ATX heading outside fenced blocks."""
    prose, _ = split_fences(text)
    return [
        (len(match[1]), match[2].strip())
        for match in re.finditer(r"^(#{1,6})\s+(.+?)\s*#*\s*$", prose, flags=re.MULTILINE)
    ]


def sections(text: str, level: int) -> dict[str, str]:
    """Title → text of every section of ``level`` (up to the next heading of that level or higher)."""
    found: dict[str, str] = {}
    title: str | None = None
    body: list[str] = []
    prose, _ = split_fences(text)
    for raw, line in zip(text.split("\n"), prose.split("\n"), strict=True):
        match = re.match(r"^(#{1,6})\s+(.+?)\s*$", line)
        if match and len(match[1]) <= level:
            if title is not None:
                found[title] = "\n".join(body)
            title, body = (match[2] if len(match[1]) == level else None), []
        else:
            body.append(raw)
    if title is not None:
        found[title] = "\n".join(body)
    return found


def table_rows(text: str) -> list[list[str]]:
    """The cells of every Markdown table row of ``text`` (header and separator rows left out)."""
    rows: list[list[str]] = []
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if not line.lstrip().startswith("|"):
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if all(re.fullmatch(r":?-{3,}:?", cell) for cell in cells):
            continue
        following = lines[number + 1].strip() if number + 1 < len(lines) else ""
        if re.fullmatch(r"\|(?:\s*:?-{3,}:?\s*\|)+", following):
            continue  # a header row
        rows.append(cells)
    return rows


def unquote(cell: str) -> str:
    """A table cell or span without its backticks."""
    return cell.strip().strip("`").strip()


@dataclass(frozen=True)
class Shown:
    """One command line a document shows."""

    doc: str
    words: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.doc}: {' '.join(self.words)}"


def shell_segments(line: str) -> Iterator[list[str]]:
    """The simple commands of ``line`` (split at ``&&``, ``|``, ``;``), as words, up to a comment."""
    line = re.sub(r"(?:^|\s)#.*$", "", line)
    for segment in _SEPARATORS.split(f" {line} "):
        words = segment.split()
        cut = next((n for n, word in enumerate(words) if word.startswith((">", "2>", "<<"))), len(words))
        if words[:cut]:
            yield [word.strip("'\"") if not PLACEHOLDER.fullmatch(word) else word for word in words[:cut]]


def invocations(docs: list[Doc], program: str) -> list[Shown]:
    """Every ``program …`` a shell would run from the docs' code (``$Z program``, ``-- program``, ``uv run …``)."""
    found: list[Shown] = []
    for doc in docs:
        for line in command_lines(doc):
            for words in shell_segments(line):
                for n, word in enumerate(words):
                    before = words[n - 1] if n else ""
                    starts = n == 0 or before in {"--", "run", "sudo"} or before.startswith("$")
                    if word == program and (starts or ASSIGNMENT.fullmatch(before)) and n + 1 < len(words):
                        found.append(Shown(doc.name, (program, *words[n + 1 :])))
                        break
    return found


def planted(name: str, old: str, new: str) -> list[Doc]:
    """The docs with ``old`` replaced by ``new`` once in ``name``: a drift planted in a copy, for a check to catch."""
    docs = documents()
    doc = next(doc for doc in docs if doc.name == name)
    assert old in doc.text, f"{old!r} is no longer in {name}: plant the drift elsewhere"
    return [Doc(d.name, d.text.replace(old, new, 1)) if d is doc else d for d in docs]
