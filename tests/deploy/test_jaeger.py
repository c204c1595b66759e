"""Jaeger as the trace backend: the Grafana data source file, and a real Jaeger v1.75.0 answering the query API.

The live test sends one two-service trace over OTLP/HTTP to Jaeger (scripts/jaeger.sh) and reads it back
through /api/services and /api/traces/<id>, the endpoints Grafana's Jaeger data source calls. It skips unless
`scripts/jaeger.sh build` has built .cache/jaeger/bin/jaeger. The services' own trace of a meeting in Jaeger
is tests/e2e/test_observability.py.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.deploy.helm_chart import ROOT, yaml_module
from tests.support.eventually import eventually_sync
from tests.support.jaeger import SCRIPT, Jaeger, get_json, running_jaeger

GRAFANA = ROOT / "deploy" / "grafana"


def provisioned(name: str) -> list[dict[str, Any]]:
    data = yaml_module().safe_load((GRAFANA / name).read_text(encoding="utf-8"))
    assert data["apiVersion"] == 1
    datasources = data["datasources"]
    assert isinstance(datasources, list)
    return datasources


def test_jaeger_datasource_sits_beside_tempo_and_links_to_its_logs_and_metrics() -> None:
    (jaeger,) = provisioned("jaeger-datasource.yaml")
    assert (jaeger["type"], jaeger["uid"]) == ("jaeger", "jaeger")
    assert jaeger["url"].startswith("http") and jaeger["url"].endswith(":16686")
    beside = {ds["uid"] for ds in provisioned("tempo-datasource.yaml")}
    assert jaeger["uid"] not in beside, "both files can be provisioned together"
    # The Loki and Prometheus uids it links to are the ones provisioned beside it (Prometheus: the dashboard's).
    assert jaeger["jsonData"]["tracesToLogsV2"]["datasourceUid"] in beside
    assert jaeger["jsonData"]["tracesToMetrics"]["datasourceUid"] == "prometheus"


@pytest.fixture(scope="module")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jaeger]:
    with running_jaeger(tmp_path_factory.mktemp("jaeger")) as running:
        yield running


def otlp_span(service: str, trace_id: str, span_id: str, parent: str, name: str) -> dict[str, Any]:
    now = time.time_ns()
    span = {"traceId": trace_id, "spanId": span_id, "name": name, "kind": 1, "startTimeUnixNano": str(now - 5_000_000)}
    span["endTimeUnixNano"] = str(now)
    if parent:
        span["parentSpanId"] = parent
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    return {"resource": resource, "scopeSpans": [{"scope": {"name": "test"}, "spans": [span]}]}


@pytest.mark.integration
def test_a_trace_sent_over_otlp_comes_back_through_the_query_api(jaeger: Jaeger) -> None:
    trace_id, root, child = secrets.token_hex(16), secrets.token_hex(8), secrets.token_hex(8)
    spans = [
        otlp_span("zoomsymbl-ingest", trace_id, root, "", "POST /webhooks/zoom"),
        otlp_span("zoomsymbl-mixer", trace_id, child, root, "mix meeting"),
    ]
    get_json(f"{jaeger.otlp_http}/v1/traces", {"resourceSpans": spans})
    trace = eventually_sync(lambda: jaeger.trace(trace_id), timeout=30, what=f"trace {trace_id} in Jaeger")
    assert trace is not None
    services = {trace["processes"][span["processID"]]["serviceName"] for span in trace["spans"]}
    assert services == {"zoomsymbl-ingest", "zoomsymbl-mixer"}
    roots = [span for span in trace["spans"] if not span["references"]]
    assert [span["spanID"] for span in roots] == [root]
    assert {"zoomsymbl-ingest", "zoomsymbl-mixer"} <= set(get_json(f"{jaeger.query}/api/services")["data"])


@pytest.mark.integration
def test_a_second_jaeger_on_a_taken_port_refuses_to_start(jaeger: Jaeger, tmp_path: Any) -> None:
    """The script's readiness probe would otherwise find the first Jaeger and report the second one up."""
    env = {f"JAEGER_{name}_PORT": str(port) for name, port in jaeger.ports.items()}
    result = subprocess.run(
        ["bash", str(SCRIPT), "up"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "JAEGER_RUN_DIR": str(tmp_path), **env},
        cwd=ROOT,
    )
    assert result.returncode != 0
    assert f"port 127.0.0.1:{jaeger.ports['OTLP_HTTP']} is taken" in result.stderr
    assert not (tmp_path / "pid").exists()
