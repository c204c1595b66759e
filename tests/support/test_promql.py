"""The PromQL name extraction the dashboard checks rely on."""

from __future__ import annotations

from tests.support.promql import (
    dashboard_queries,
    equality_matchers,
    exposed_series,
    grouping_labels,
    metric_names,
)


def test_metric_names_skips_functions_keywords_labels_strings_and_durations() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le) (rate(a_seconds_bucket{ns=~"$namespace",x="y{z}"}[$__rate_interval])))'
        " / on (job) group_left (version) b:recorded offset 5m + sum without (pod) (up) > bool 0"
    )
    assert metric_names(expr) == {"a_seconds_bucket", "b:recorded", "up"}


def test_dashboard_queries_reads_collapsed_rows_and_label_values_variables() -> None:
    dashboard = {
        "panels": [{"type": "row", "title": "r", "panels": [{"title": "p", "targets": [{"expr": "sum(x_total)"}]}]}],
        "templating": {"list": [{"name": "ns", "query": {"query": "label_values(y_total, namespace)"}}]},
    }
    assert dashboard_queries(dashboard) == {"x_total": {"p"}, "y_total": {"$ns"}}


def test_exposed_series_names_declared_families_and_those_with_samples() -> None:
    page = (
        "# HELP c_total c\n# TYPE c_total counter\n"
        "# HELP d_total d\n# TYPE d_total counter\nd_total 1.0\n"
        "# HELP h h\n# TYPE h histogram\n"
    )
    declared, samples = exposed_series(page)
    assert {"c_total", "d_total", "h_bucket", "h_count", "h_sum"} <= declared
    assert samples == {"d_total": [{}]}


def test_equality_matchers_and_grouping_labels() -> None:
    expr = 'sum by (provider, outcome) (rate(x_total{ns=~"$n",outcome="submitted",a!="b",v="$var"}[5m]))'
    assert equality_matchers(expr) == {("x_total", "outcome", "submitted")}
    assert grouping_labels(expr + " / sum without(pod)(y)") == {"provider", "outcome", "pod"}
