"""Who may connect to whom under the chart's NetworkPolicies: each service's port and each service's way out.

The production example (with the transcriber overlay) on its own terms: ingress-nginx in `ingress-nginx`,
Prometheus and Tempo in `monitoring`, Strimzi in `kafka`, MongoDB in `mongodb`, MinIO in `minio`.
"""

from __future__ import annotations

import pytest

from tests.deploy.helm_chart import (
    EVERY_SERVICE,
    MONITORING_API,
    NAMESPACE,
    PRODUCTION_VALUES,
    SERVICES,
    TRANSCRIBER_VALUES,
    Rendered,
    render,
)
from tests.deploy.network_policy import Endpoint, connects

# The services the Ingress routes to (docs/operations.md, "What the chart installs").
PUBLIC = ("ingest", "notifier", "web")

INGRESS_CONTROLLER = Endpoint("10.0.9.9", "ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
PROMETHEUS = Endpoint("10.0.8.8", "monitoring", {"app.kubernetes.io/name": "prometheus"})
NEIGHBOUR = Endpoint("10.0.7.7", NAMESPACE, {"app": "someone-else"})

# The policies with the chart's defaults (webhooks from ingress-nginx, metrics from monitoring), egress left open.
POLICIES_ONLY = EVERY_SERVICE | {"networkPolicy.enabled": "true"}

# Where the production example's services connect, and on which port.
DESTINATIONS = {
    "kafka": (Endpoint("10.1.0.10", "kafka", {"strimzi.io/kind": "Kafka"}), 9092),
    "mongodb": (Endpoint("10.1.0.20", "mongodb", {"app": "zoomsymbl-mongodb-svc"}), 27017),
    "s3": (Endpoint("10.1.0.30", "minio", {"v1.min.io/tenant": "minio"}), 443),
    "otlp": (Endpoint("10.1.0.40", "monitoring", {"app.kubernetes.io/name": "tempo"}), 4318),
    "https": (Endpoint("170.114.52.2"), 443),  # api.zoom.us, the providers, AssemblyAI's LLM Gateway
    "smtp": (Endpoint("142.250.27.108"), 587),  # smtp.gmail.com, submission
    "metadata": (Endpoint("169.254.169.254"), 80),
    "other-app": (Endpoint("10.2.0.5", "billing", {"app": "postgres"}), 5432),
}
# What each service connects to, read from its code: ingest holds no S3 keys and reads no object (Zoom's API,
# Kafka, MongoDB); only the notifier sends e-mail; web and the transcriber reach nothing outside the cluster, and
# web no Kafka topic.
NEEDS = {
    "ingest": {"kafka", "mongodb", "otlp", "https"},
    "mixer": {"kafka", "mongodb", "s3", "otlp", "https"},
    "submitter": {"kafka", "mongodb", "s3", "otlp", "https"},
    "notifier": {"kafka", "mongodb", "s3", "otlp", "https", "smtp"},
    "transcriber": {"kafka", "mongodb", "s3", "otlp"},
    "web": {"mongodb", "s3", "otlp"},
}


@pytest.fixture(scope="module")
def production() -> Rendered:
    return render([PRODUCTION_VALUES, TRANSCRIBER_VALUES], api_versions=MONITORING_API)


def _pod(labels: dict[str, str], ip: str, ports: dict[str, int] | None = None) -> Endpoint:
    return Endpoint(ip, NAMESPACE, labels, ports or {})


def service_pod(rendered: Rendered, service: str) -> Endpoint:
    """A pod of ``service`` as its Deployment makes it."""
    template = rendered.one("Deployment", service)["spec"]["template"]
    (container,) = template["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    return _pod(template["metadata"]["labels"], f"10.0.0.{SERVICES.index(service) + 10}", ports)


@pytest.mark.parametrize("values", ["policies without egress rules", "production"])
def test_a_services_port_admits_the_ingress_controller_where_public_prometheus_and_the_helm_test_only(
    production: Rendered, values: str
) -> None:
    """Before: any pod of the release (the public web pod, the topics Job) could call every service's port."""
    rendered = production if values == "production" else render(sets=POLICIES_ONLY)
    policies = rendered.of_kind("NetworkPolicy")
    (test_pod,) = rendered.of_kind("Pod")
    topics = rendered.one("Job", "topics")["spec"]["template"]["metadata"]["labels"]
    callers = {
        "ingress controller": INGRESS_CONTROLLER,
        "prometheus": PROMETHEUS,
        "helm test": _pod(test_pod["metadata"]["labels"], "10.0.5.5"),
        "topics job": _pod(topics, "10.0.5.6"),
        "neighbour": NEIGHBOUR,
    } | {service: service_pod(rendered, service) for service in SERVICES}
    for service in SERVICES:
        target = service_pod(rendered, service)
        port = target.named_ports["http"]
        admitted = {name for name, src in callers.items() if connects(policies, NAMESPACE, src, target, port)}
        expected = {"prometheus", "helm test"} | ({"ingress controller"} if service in PUBLIC else set())
        assert admitted == expected, service


@pytest.mark.parametrize("service", SERVICES)
def test_each_production_service_connects_only_where_its_code_does(production: Rendered, service: str) -> None:
    """Before: ingest (no S3 keys) could reach MinIO, and ingest, mixer and submitter the SMTP relay."""
    env = production.container_env(service)
    # The needs above, checked against what the pod is given: S3 keys and SMTP settings.
    assert ("s3" in NEEDS[service]) == ("ZOOMSYMBL_S3_SECRET_KEY" in env)
    assert ("smtp" in NEEDS[service]) == ("ZOOMSYMBL_NOTIFIER_SMTP_HOST" in env)
    policies = production.of_kind("NetworkPolicy")
    src = service_pod(production, service)
    reached = {name for name, (dst, port) in DESTINATIONS.items() if connects(policies, NAMESPACE, src, dst, port)}
    assert reached == NEEDS[service]


@pytest.mark.parametrize("pod", ["topics job", "helm test"])
def test_pods_outside_the_allow_list_still_may_not_reach_the_metadata_service(production: Rendered, pod: str) -> None:
    """Before: `egress.restrict` dropped the denied-ranges policy for every pod, though its allow-lists hold only the
    services: the topics Job and the helm test pod could then reach 169.254.169.254 (and the CGNAT range)."""
    if pod == "topics job":
        labels = production.one("Job", "topics")["spec"]["template"]["metadata"]["labels"]
    else:
        (test_pod,) = production.of_kind("Pod")
        labels = test_pod["metadata"]["labels"]
    policies = production.of_kind("NetworkPolicy")
    src = _pod(labels, "10.0.5.7")
    metadata, _ = DESTINATIONS["metadata"]
    assert not connects(policies, NAMESPACE, src, metadata, 80)
    assert not connects(policies, NAMESPACE, src, Endpoint("100.100.100.200"), 80)  # Alibaba's, in CGNAT
    # What they call stays reachable: Kafka (the Job), the services' ports (the test pod).
    kafka, port = DESTINATIONS["kafka"]
    assert connects(policies, NAMESPACE, src, kafka, port)
    web = service_pod(production, "web")
    assert connects(policies, NAMESPACE, src, web, web.named_ports["http"]) == (pod == "helm test")
