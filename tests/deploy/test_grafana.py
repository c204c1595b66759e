"""The Grafana dashboard queries only metrics the services export, and the Tempo data source is well-formed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.deploy.helm_chart import ROOT, yaml_module
from tests.support.metric_sources import exported
from tests.support.promql import dashboard_queries

DASHBOARD = ROOT / "deploy" / "grafana" / "zoomsymbl-dashboard.json"
# Series the services do not export themselves, with where they come from.
EXTERNAL = {"up": "Prometheus, per scrape target", "kafka_consumergroup_lag": "Strimzi's Kafka Exporter"}
SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def all_exported_metrics() -> set[str]:
    return set(exported())


def queried_metrics(dashboard: dict[str, Any]) -> set[str]:
    """The metric families the dashboard queries (series suffixes removed); the live check against the
    services' /metrics pages is tests/e2e/test_observability.py."""
    names: set[str] = set()
    for name in dashboard_queries(dashboard):
        base = name
        for suffix in SUFFIXES:
            base = base.removesuffix(suffix)
        names.add(base)
    return names


def test_dashboard_queries_only_metrics_that_exist() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queried = queried_metrics(dashboard)
    assert {name for name in queried if name.startswith("zoomsymbl_")}, "the dashboard must show zoomsymbl metrics"
    unknown = sorted(queried - all_exported_metrics() - set(EXTERNAL))
    assert unknown == [], "the dashboard queries metrics no service exports (renamed?)"


def test_dashboard_covers_every_service_and_is_importable() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queried = queried_metrics(dashboard)
    for service in ("ingest", "mixer", "submitter", "notifier"):
        assert any(name.startswith(f"zoomsymbl_{service}_") for name in queried), service
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "namespace"} <= variables
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_tempo_datasource_links_traces_to_logs_and_metrics() -> None:
    path: Path = ROOT / "deploy" / "grafana" / "tempo-datasource.yaml"
    provisioning = yaml_module().safe_load(path.read_text(encoding="utf-8"))
    assert provisioning["apiVersion"] == 1
    tempo = next(ds for ds in provisioning["datasources"] if ds["type"] == "tempo")
    assert tempo["url"].startswith("http")
    uids = {ds["uid"] for ds in provisioning["datasources"]}
    assert tempo["jsonData"]["tracesToLogsV2"]["datasourceUid"] in uids
    loki = next(ds for ds in provisioning["datasources"] if ds["type"] == "loki")
    matcher = loki["jsonData"]["derivedFields"][0]["matcherRegex"]
    line = '{"msg": "meeting mixed", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}'
    match = re.search(matcher, line)
    assert match and match[1] == "4bf92f3577b34da6a3ce929d0e0e4736"
