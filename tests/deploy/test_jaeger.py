"""Jaeger as the trace backend: the Grafana data source file, and a real Jaeger v1.75.0 answering the query API.

The live test sends one two-service trace over OTLP/HTTP to Jaeger (scripts/jaeger.sh) and reads it back
through /api/services and /api/traces/<id>, the endpoints Grafana's Jaeger data source calls. It skips unless
`scripts/jaeger.sh build` has built .cache/jaeger/bin/jaeger. It does not run the zoomsymbl services.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.deploy.helm_chart import ROOT, yaml_module

GRAFANA = ROOT / "deploy" / "grafana"
JAEGER = ROOT / ".cache" / "jaeger" / "bin" / "jaeger"
SCRIPT = ROOT / "scripts" / "jaeger.sh"
PORT_NAMES = ("OTLP_HTTP", "OTLP_GRPC", "QUERY", "QUERY_GRPC", "HEALTH")


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_json(url: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (a loopback http URL built here)
        return json.loads(response.read() or b"null")


@pytest.fixture(scope="module")
def jaeger_ports() -> Iterator[dict[str, int]]:
    if not JAEGER.is_file():
        pytest.skip(f"{JAEGER.relative_to(ROOT)} is missing: run `scripts/jaeger.sh build` (make jaeger-build)")
    ports = {name: free_port() for name in PORT_NAMES}
    env = {**os.environ, **{f"JAEGER_{name}_PORT": str(port) for name, port in ports.items()}}
    up = subprocess.run(["bash", str(SCRIPT), "up"], capture_output=True, text=True, timeout=90, env=env, cwd=ROOT)
    if up.returncode != 0:
        subprocess.run(["bash", str(SCRIPT), "down"], capture_output=True, timeout=30, env=env, cwd=ROOT)
        pytest.fail(f"scripts/jaeger.sh up failed:\n{up.stderr}")
    try:
        yield ports
    finally:
        subprocess.run(["bash", str(SCRIPT), "down"], capture_output=True, timeout=30, env=env, cwd=ROOT)


def otlp_span(service: str, trace_id: str, span_id: str, parent: str, name: str) -> dict[str, Any]:
    now = time.time_ns()
    span = {"traceId": trace_id, "spanId": span_id, "name": name, "kind": 1, "startTimeUnixNano": str(now - 5_000_000)}
    span["endTimeUnixNano"] = str(now)
    if parent:
        span["parentSpanId"] = parent
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    return {"resource": resource, "scopeSpans": [{"scope": {"name": "test"}, "spans": [span]}]}


@pytest.mark.integration
def test_a_trace_sent_over_otlp_comes_back_through_the_query_api(jaeger_ports: dict[str, int]) -> None:
    trace_id, root, child = secrets.token_hex(16), secrets.token_hex(8), secrets.token_hex(8)
    spans = [
        otlp_span("zoomsymbl-ingest", trace_id, root, "", "POST /webhooks/zoom"),
        otlp_span("zoomsymbl-mixer", trace_id, child, root, "mix meeting"),
    ]
    http_json(f"http://127.0.0.1:{jaeger_ports['OTLP_HTTP']}/v1/traces", {"resourceSpans": spans})
    query = f"http://127.0.0.1:{jaeger_ports['QUERY']}"
    deadline = time.monotonic() + 30
    while True:
        try:
            (trace,) = http_json(f"{query}/api/traces/{trace_id}")["data"]
            break
        except urllib.error.HTTPError as exc:  # 404 until the batch processor has flushed
            if exc.code != 404 or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    services = {trace["processes"][span["processID"]]["serviceName"] for span in trace["spans"]}
    assert services == {"zoomsymbl-ingest", "zoomsymbl-mixer"}
    roots = [span for span in trace["spans"] if not span["references"]]
    assert [span["spanID"] for span in roots] == [root]
    assert {"zoomsymbl-ingest", "zoomsymbl-mixer"} <= set(http_json(f"{query}/api/services")["data"])
