"""The prometheus_client metrics the services create, read statically from their sources (no service runs).

``Counter("name", "help", ["label", ...])`` and friends, with names written as literals or f-strings over
module-level string constants; a counter's family name is without ``_total``.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass

from tests.deploy.helm_chart import ROOT

SERIES = {
    "Counter": ("_total", "_created"),
    "Histogram": ("_bucket", "_count", "_sum", "_created"),
    "Gauge": ("",),
    "Summary": ("", "_count", "_sum", "_created"),
    "Info": ("_info",),
}


@dataclass(frozen=True)
class Metric:
    """A metric family the code creates."""

    name: str
    kind: str
    labels: tuple[str, ...]

    @property
    def series(self) -> set[str]:
        return {self.name + suffix for suffix in SERIES[self.kind]}


def _text(node: ast.expr | None, names: dict[str, str]) -> str | None:
    """The string ``node`` evaluates to: a literal, or an f-string over module-level string constants."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            elif (
                isinstance(value, ast.FormattedValue) and isinstance(value.value, ast.Name) and value.value.id in names
            ):
                parts.append(names[value.value.id])
            else:
                return None
        return "".join(parts)
    return None


def _labels(call: ast.Call) -> tuple[str, ...]:
    node = call.args[2] if len(call.args) > 2 else next((k.value for k in call.keywords if k.arg == "labelnames"), None)
    if isinstance(node, ast.List | ast.Tuple):
        return tuple(e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
    return ()


def metrics_in(source: str) -> list[Metric]:
    """The prometheus_client metrics ``source`` creates."""
    tree = ast.parse(source)
    names = {
        target.id: node.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in SERIES and node.args:
            name = _text(node.args[0], names)
            if name and name.startswith("zoomsymbl_"):
                found.append(Metric(name.removesuffix("_total"), node.func.id, _labels(node)))
    return found


@functools.cache
def exported() -> dict[str, Metric]:
    """Family name → metric, over every service and library."""
    sources = [*ROOT.glob("services/*/src/**/*.py"), *ROOT.glob("libs/*/src/**/*.py")]
    return {m.name: m for path in sources for m in metrics_in(path.read_text(encoding="utf-8"))}
