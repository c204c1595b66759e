"""The demo meeting as an operator sees it: its trace in a real Jaeger; the dashboard's and alerts' metrics.

One stack started as ``make demo JAEGER=1`` starts it (``running_stack``, the default tenant: the AssemblyAI
sandbox and its LLM Gateway, the demo meeting), its services exporting spans over OTLP/HTTP to a Jaeger v1.75.0
that scripts/jaeger.sh started. The trace is read back through Jaeger's query API, the one Grafana's Jaeger
data source reads. Without the Jaeger build (``make jaeger-build``) the stack exports to the OTLP sandbox
instead and only the Jaeger test skips; the metric tests run either way: every name the Grafana dashboard
and the chart's PrometheusRule query is on the services' /metrics pages once the meeting went through.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from zoomsymbl_common.mongo import make_mongo
from zoomsymbl_common.records import MEETINGS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_sandbox.stack import Stack, running_stack
from zoomsymbl_sandbox.stack_config import StackConfig
from zoomsymbl_sandbox.zoom import demo_meeting_spec

from tests.e2e.conftest import wait_for_mails
from tests.support.eventually import eventually_sync
from tests.support.jaeger import BINARY, Jaeger, get_json, running_jaeger
from tests.support.names import token
from tests.support.promql import (
    dashboard_expressions,
    dashboard_queries,
    equality_matchers,
    exposed_series,
    grouping_labels,
    metric_names,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "zoomsymbl-dashboard.json"
ALERTS = ROOT / "deploy" / "helm" / "zoomsymbl" / "templates" / "prometheusrule.yaml"
RUN = token()
TENANT = "demo"
SPEC = demo_meeting_spec(f"obs{RUN}==", host_email=f"host-obs-{RUN}@example.test", topic=f"Observability {RUN}")
# The default tenant's meeting is worked on by these four; the transcriber works only for provider "whisper".
TRACED = {"zoomsymbl-ingest", "zoomsymbl-mixer", "zoomsymbl-submitter", "zoomsymbl-notifier"}
SCRAPED = ("ingest", "mixer", "submitter", "notifier", "transcriber", "web")
# Series the dashboard may query that no zoomsymbl service exports, with who does.
EXTERNAL = {
    "up": "Prometheus itself, one series per scrape target",
    "kafka_consumergroup_lag": "Kafka Exporter (Strimzi's kafkaExporter or danielqsj/kafka_exporter)",
}
# After one meeting went through, these panels must show data, not "No data": one series per stage.
AFTER_ONE_MEETING = {
    "zoomsymbl_ingest_webhooks_received_total",
    "zoomsymbl_ingest_events_published_total",
    "zoomsymbl_mixer_meetings_total",
    "zoomsymbl_submitter_submissions_total",
    "zoomsymbl_notifier_callbacks_total",
    "zoomsymbl_emails_sent_total",
}


@pytest.fixture(scope="module")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jaeger | None]:
    """A Jaeger of this module's own (free ports, own run folder), or None when it is not built."""
    if not BINARY.is_file():
        yield None
        return
    with running_jaeger(tmp_path_factory.mktemp("jaeger")) as running:
        yield running


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, jaeger: Jaeger | None) -> Iterator[Stack]:
    config = StackConfig(
        run_dir=tmp_path_factory.mktemp("observability-stack"),
        topic_prefix=f"obs-{RUN}-",
        database=f"obs_{RUN}",
        bucket=f"obs-{RUN}",
        tenant=TENANT,
        zoom={"meetings": [SPEC.model_dump(mode="json")], "cache_dir": str(ROOT / ".cache" / "zoom-sandbox")},
        assemblyai={"timings": {"waiting_s": 0.3, "running_s": 0.5}, "whisper_model": "packaged"},
        env={"OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_http} if jaeger is not None else {},
    )
    with running_stack(config) as running:
        yield running


@pytest.fixture(scope="module")
def meeting(stack: Stack) -> dict[str, Any]:
    """The demo meeting sent once and mailed; its ``meetings`` document."""

    async def deliver() -> dict[str, Any]:
        assert await stack.trigger_recording_completed(SPEC.uuid) == 200
        await wait_for_mails([SPEC])
        mongo = make_mongo(InfraSettings().model_copy(update={"mongo_database": stack.config.database}))
        try:
            doc = await mongo.db[MEETINGS].find_one({"tenant": TENANT, "meeting_uuid": SPEC.uuid})
        finally:
            await mongo.close()
        assert doc is not None
        return dict(doc)

    return asyncio.run(deliver())


def _service(trace: dict[str, Any], span: dict[str, Any]) -> str:
    name: str = trace["processes"][span["processID"]]["serviceName"]
    return name


def _complete(trace: dict[str, Any] | None) -> bool:
    """Every service's spans and the e-mail's arrived (Jaeger ingests each export batch on its own)."""
    if trace is None:
        return False
    services = {_service(trace, span) for span in trace["spans"]}
    return services >= TRACED and any(span["operationName"] == "smtp send" for span in trace["spans"])


def _dangling(trace: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The references of ``trace``'s spans to a parent that is not (yet) in it, each with its span's name."""
    spans = trace["spans"] if trace is not None else []
    ids = {span["spanID"] for span in spans}
    return [
        {**ref, "child": span["operationName"]}
        for span in spans
        for ref in span["references"]
        if ref["spanID"] not in ids
    ]


def test_the_meetings_trace_in_jaeger_has_one_root_and_every_service(
    jaeger: Jaeger | None, meeting: dict[str, Any]
) -> None:
    if jaeger is None:
        pytest.skip(f"{BINARY.relative_to(ROOT)} is missing: run `make jaeger-build` (about 10 min cold)")
    trace_id = meeting.get("trace_id")
    assert trace_id, "the meeting records its trace id (what `zoomsymbl status` and the demo print)"
    found = eventually_sync(
        lambda: jaeger.trace(trace_id), _complete, timeout=60, what=f"every service's spans of {trace_id}"
    )
    assert found is not None
    # A parent span ends after its children, so its export batch can reach Jaeger after theirs (the notifier's
    # consumer span after its "smtp send"): wait for every referenced parent, naming the ones still missing.
    eventually_sync(
        lambda: _dangling(jaeger.trace(trace_id)),
        lambda refs: refs == [],
        timeout=30,
        what=f"every parent span of {trace_id} in Jaeger (a span that never comes is an orphan in the UI)",
    )
    found = jaeger.trace(trace_id)
    assert found is not None
    spans = found["spans"]
    assert {_service(found, span) for span in spans} - TRACED <= {"zoomsymbl-transcriber"}
    # The transcriber reads every provider.job-submitted.v1 and leaves other providers' jobs alone: one
    # consumer span, no transcription.
    idle = [s["operationName"] for s in spans if _service(found, s) == "zoomsymbl-transcriber"]
    assert all(name.endswith("provider.job-submitted.v1 process") for name in idle), idle
    assert _dangling(found) == [], "every parent is in the trace (Jaeger would show the span as an orphan)"
    roots = [span for span in spans if not span["references"]]
    assert [(_service(found, r), r["operationName"]) for r in roots] == [
        ("zoomsymbl-ingest", "POST /webhooks/zoom/{tenant}")
    ], "one root: the Zoom webhook"
    assert any(s["operationName"] == "smtp send" and _service(found, s) == "zoomsymbl-notifier" for s in spans)
    # What Grafana's Jaeger data source offers before a trace id is known: the services, then a search.
    assert set(get_json(f"{jaeger.query}/api/services")["data"]) >= TRACED
    search = urllib.parse.urlencode({"service": "zoomsymbl-notifier", "operation": "smtp send", "limit": 50})
    assert trace_id in {t["traceID"] for t in get_json(f"{jaeger.query}/api/traces?{search}")["data"]}


def _metrics_page(stack: Stack, service: str) -> str:
    url = stack.config.url(service) + "/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (the stack's loopback URL)
        text: str = response.read().decode()
        return text


Exposed = tuple[set[str], dict[str, list[dict[str, str]]]]


@pytest.fixture(scope="module")
def exposed(stack: Stack, meeting: dict[str, Any]) -> Exposed:
    """The services' /metrics pages after the meeting: declared series names, and each sample's labels by name."""
    declared: set[str] = set()
    samples: dict[str, list[dict[str, str]]] = {}
    for service in SCRAPED:
        names, page_samples = exposed_series(_metrics_page(stack, service))
        declared |= names
        for name, labels in page_samples.items():
            samples.setdefault(name, []).extend(labels)
    return declared, samples


def test_every_metric_the_dashboard_queries_is_on_a_services_metrics_page(exposed: Exposed) -> None:
    declared, samples = exposed
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queried = dashboard_queries(dashboard)
    missing = {name: sorted(where) for name, where in queried.items() if name not in declared | set(EXTERNAL)}
    assert missing == {}, "the dashboard queries series no service exports (name → panels)"
    assert set(EXTERNAL) <= set(queried), "an entry of EXTERNAL no panel uses any more: remove it"
    assert set(queried) >= AFTER_ONE_MEETING, "the dashboard shows every stage's throughput and the e-mails"
    assert sorted(AFTER_ONE_MEETING - set(samples)) == [], "after one meeting each stage's series has a sample"
    # Where a series has samples, the labels a panel filters and groups on are on them (a renamed label or
    # outcome would leave the panel empty without any error).
    wrong: list[str] = []
    for title, expr in dashboard_expressions(dashboard):
        for metric, label, value in equality_matchers(expr):
            if metric in samples and not any(s.get(label) == value for s in samples[metric]):
                wrong.append(f"{title}: no {metric} sample with {label}={value!r}")
        for metric in metric_names(expr) & set(samples):
            wrong += [
                f"{title}: {metric} has no label {label!r}"
                for label in grouping_labels(expr)
                if not any(label in s for s in samples[metric])
            ]
    assert wrong == []


def test_every_metric_the_charts_alerts_query_is_on_a_services_metrics_page(exposed: Exposed) -> None:
    declared, _ = exposed
    # The template's own {{ ... }} braces go with the label matchers they sit in.
    exprs = re.findall(r"^\s*expr:\s*(.+)$", ALERTS.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert exprs, f"no alert expressions found in {ALERTS.relative_to(ROOT)}"
    queried = set().union(*(metric_names(expr) for expr in exprs))
    assert sorted(queried - declared - set(EXTERNAL)) == [], "the alerts query series no service exports"
