"""Every metric the docs, the Grafana dashboard and the chart's alerts name is one the code exports.

Read statically from the sources (``Counter("name", "help", ["label", ...])`` and friends), so no service
runs; the series a query selects must be one the metric's type exposes (``_total`` of a counter,
``_bucket`` of a histogram): an alert over a series nobody exports never fires. The live check against
the services' ``/metrics`` pages is tests/e2e/test_observability.py.
"""

from __future__ import annotations

import functools
import json
import re

from tests.common.docs_text import ROOT, Doc, documents
from tests.support.metric_sources import Metric, exported, metrics_in
from tests.support.promql import dashboard_queries, grouping_labels, metric_names

ALERTS = ROOT / "deploy" / "helm" / "zoomsymbl" / "templates" / "prometheusrule.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "zoomsymbl-dashboard.json"
# Series nobody here exports, with who does.
EXTERNAL = {"up": "Prometheus, per scrape target", "kafka_consumergroup_lag": "Strimzi's Kafka Exporter"}
# `zoomsymbl_*` words in the docs that are no metric (the packages' import names are found on their own).
NOT_METRICS = {"zoomsymbl_demo": "the demo's MongoDB database"}
# Labels Prometheus puts on every series of a scrape target (and a histogram's bucket bound).
TARGET_LABELS = {"namespace", "job", "instance", "pod", "service", "container", "endpoint", "le"}
_DOC_METRIC = re.compile(r"\bzoomsymbl_[a-z0-9_]+\*?(?:\{(?P<labels>[a-z_, ]*)\})?")


@functools.cache
def packages() -> frozenset[str]:
    """The import names of the workspace's packages (``zoomsymbl_common``, ``zoomsymbl_mixer``, ...)."""
    return frozenset(path.name for path in ROOT.glob("*/*/src/zoomsymbl_*"))


def unexported_series(queried: set[str], metrics: dict[str, Metric]) -> list[str]:
    """Series a query selects that no metric exposes (a counter without ``_total``, a gauge's ``_bucket``)."""
    series = set().union(*(m.series for m in metrics.values()))
    return sorted(name for name in queried if name not in series and name not in EXTERNAL)


def alert_series(text: str) -> set[str]:
    """The series the PrometheusRule template's ``expr:`` lines select."""
    exprs = re.findall(r"^\s*expr:\s*(.+)$", text, flags=re.MULTILINE)
    assert exprs, f"no alert expressions in {ALERTS.relative_to(ROOT)}"
    return set().union(*(metric_names(expr) for expr in exprs))


def alert_label_problems(text: str, metrics: dict[str, Metric]) -> list[str]:
    """Labels an alert groups by that none of its zoomsymbl metrics has (Prometheus adds the target's own)."""
    problems = []
    for expr in re.findall(r"^\s*expr:\s*(.+)$", text, flags=re.MULTILINE):
        families = {
            metrics[base]
            for name in metric_names(expr)
            for base in [re.sub(r"_(total|bucket|count|sum|created)$", "", name)]
            if base in metrics
        }
        if not families or any(not name.startswith("zoomsymbl_") for name in metric_names(expr)):
            continue
        known = set().union(*(m.labels for m in families)) | TARGET_LABELS
        problems += [
            f"{sorted(m.name for m in families)} has no label {label!r}" for label in grouping_labels(expr) - known
        ]
    return problems


def doc_problems(docs: list[Doc], metrics: dict[str, Metric]) -> list[str]:
    """Metric names (``x_total``, ``x{label}``, ``prefix_*``) in the docs that no code exports."""
    problems = []
    series = {name: m for m in metrics.values() for name in m.series | {m.name}}
    for doc in docs:
        for match in _DOC_METRIC.finditer(doc.text):
            name = match[0].split("{")[0]
            if name in packages() or name in NOT_METRICS:
                continue
            if name.endswith("*"):
                if not any(s.startswith(name.rstrip("*")) for s in series):
                    problems.append(f"{doc.name}: no metric matches {name}")
            elif name not in series:
                problems.append(f"{doc.name}: {name} is exported by nothing")
            elif match["labels"] is not None:
                labels = {label.strip() for label in match["labels"].split(",") if label.strip()}
                if labels - set(series[name].labels):
                    problems.append(f"{doc.name}: {name} has no label {sorted(labels - set(series[name].labels))}")
    return sorted(set(problems))


# ---------------------------------------------------------------- the code, docs, dashboard and alerts as they are


def test_the_alerts_select_only_series_the_services_export() -> None:
    queried = alert_series(ALERTS.read_text(encoding="utf-8"))
    assert {name for name in queried if name.startswith("zoomsymbl_")}, "the alerts watch zoomsymbl metrics"
    assert unexported_series(queried, exported()) == [], "an alert over these never fires"


def test_the_alerts_group_by_labels_their_metrics_have() -> None:
    assert alert_label_problems(ALERTS.read_text(encoding="utf-8"), exported()) == []


def test_the_dashboard_selects_only_series_the_services_export() -> None:
    queried = set(dashboard_queries(json.loads(DASHBOARD.read_text(encoding="utf-8"))))
    assert unexported_series(queried, exported()) == [], "these panels show 'No data'"


def test_the_metrics_the_docs_name_are_exported_with_those_labels() -> None:
    assert len(exported()) > 15, "the scan finds the services' metrics"
    assert doc_problems(documents(), exported()) == []


# ---------------------------------------------------------------- the checks catch a planted drift


def test_an_alert_over_a_metric_nobody_exports_is_caught() -> None:
    text = ALERTS.read_text(encoding="utf-8")
    for old, new in (
        ("zoomsymbl_notifier_meetings_failed_total", "zoomsymbl_notifier_meetings_failures_total"),
        ("zoomsymbl_consumer_dead_letters_total", "zoomsymbl_consumer_dead_letters"),  # a counter without _total
        ("zoomsymbl_submitter_limiter_wait_seconds_bucket", "zoomsymbl_submitter_limiter_wait_seconds"),
    ):
        assert old in text
        assert unexported_series(alert_series(text.replace(old, new)), exported()) == [new]


def test_an_alert_grouping_by_a_label_its_metric_lacks_is_caught() -> None:
    text = ALERTS.read_text(encoding="utf-8")
    old = "sum by (namespace, failed_by, stage)"
    assert old in text
    planted = text.replace(old, "sum by (namespace, failed_by, reason)")
    assert alert_label_problems(planted, exported()) == ["['zoomsymbl_notifier_meetings_failed'] has no label 'reason'"]


def test_a_renamed_metric_or_label_in_the_docs_is_caught() -> None:
    docs = documents()
    services = next(doc for doc in docs if doc.name == "docs/services.md")
    for old, new, problem in (
        ("zoomsymbl_emails_sent_total", "zoomsymbl_emails_delivered_total", "zoomsymbl_emails_delivered_total is"),
        ("zoomsymbl_emails_failed_total{reason}", "zoomsymbl_emails_failed_total{cause}", "has no label ['cause']"),
        ("`zoomsymbl_ingest_*`", "`zoomsymbl_intake_*`", "no metric matches zoomsymbl_intake_*"),
    ):
        assert old in services.text
        planted = Doc(services.name, services.text.replace(old, new, 1))
        problems = doc_problems([planted], exported())
        assert len(problems) == 1 and problem in problems[0], problems


def test_the_extraction_reads_types_labels_and_prefixed_names() -> None:
    source = 'P = "zoomsymbl_x"\nc = Counter(f"{P}_done_total", "d", ["reason"])\nh = Histogram("zoomsymbl_x_s", "s")\n'
    assert metrics_in(source) == [
        Metric("zoomsymbl_x_done", "Counter", ("reason",)),
        Metric("zoomsymbl_x_s", "Histogram", ()),
    ]
