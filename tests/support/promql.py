"""The metric names a Grafana dashboard queries, and the series names a ``/metrics`` page exposes.

Enough of PromQL to find the metric names in the expressions a dashboard holds: quoted strings,
label matchers, range/subquery brackets and grouping label lists are removed first, then every
identifier that is neither a function call nor a keyword is a metric name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE)
_IDENTIFIER = re.compile(r"(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*")
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}
    | {"inf", "nan", "start", "end"}
)
_LABEL_VALUES = re.compile(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,")
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^{}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_]\w*)\s*(=~|!=|!~|=)\s*\"((?:[^\"\\]|\\.)*)\"")
_GROUPING_LABELS = re.compile(r"\b(?:by|without)\s*\(([^()]*)\)", re.IGNORECASE)
# The series each metric type adds to its family name in the text exposition format.
_SERIES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}


def metric_names(expr: str) -> set[str]:
    """The metric names ``expr`` selects (``sum by (le) (rate(x_bucket{a="b"}[5m]))`` → ``{"x_bucket"}``)."""
    text = _STRINGS.sub(" ", expr)
    while _MATCHERS.search(text):
        text = _MATCHERS.sub(" ", text)
    while _BRACKETS.search(text):
        text = _BRACKETS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names: set[str] = set()
    for match in _IDENTIFIER.finditer(text):
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or match[0].lower() in _KEYWORDS:
            continue  # a function (rate, sum, histogram_quantile, ...) or a keyword
        names.add(match[0])
    return names


def equality_matchers(expr: str) -> set[tuple[str, str, str]]:
    """``(metric, label, value)`` of every ``label="value"`` matcher with a literal value (no ``$variable``)."""
    found: set[tuple[str, str, str]] = set()
    for selector in _SELECTOR.finditer(expr):
        for label, op, value in _MATCHER.findall(selector[2]):
            if op == "=" and "$" not in value:
                found.add((selector[1], label, value))
    return found


def grouping_labels(expr: str) -> set[str]:
    """The labels of every ``by (...)``/``without (...)`` clause in ``expr``."""
    return {label.strip() for group in _GROUPING_LABELS.findall(expr) for label in group.split(",") if label.strip()}


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # the panels of a collapsed row


def dashboard_expressions(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """``(panel title, PromQL expression)`` of every panel target, collapsed rows included."""
    return [
        (panel.get("title", f"panel {panel.get('id')}"), target["expr"])
        for panel in _panels(dashboard.get("panels", []))
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def dashboard_queries(dashboard: dict[str, Any]) -> dict[str, set[str]]:
    """Every metric name the dashboard queries → where (panel titles, ``$variable``)."""
    where: dict[str, set[str]] = {}
    for title, expr in dashboard_expressions(dashboard):
        for name in metric_names(expr):
            where.setdefault(name, set()).add(title)
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        for name in _LABEL_VALUES.findall(text):
            where.setdefault(name, set()).add(f"${variable['name']}")
    return where


def exposed_series(exposition: str) -> tuple[set[str], dict[str, list[dict[str, str]]]]:
    """The series names a ``/metrics`` page declares (``# TYPE`` lines), and the label sets of its samples by name.

    A labelled counter nobody has incremented yet is declared but has no sample; Prometheus then has no
    series for it, so a panel over it shows "No data" rather than 0.
    """
    declared: set[str] = set()
    samples: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(exposition):
        declared.update(family.name + suffix for suffix in _SERIES.get(family.type, ("",)))
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(dict(sample.labels))
    return declared | set(samples), samples
