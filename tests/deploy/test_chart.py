"""The Helm chart: lint, schema enforcement, Kubernetes 1.30-1.34 validity and what the rendered objects promise."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from zoomsymbl_common.topics import build_parser, plan_from_args

from tests.deploy.helm_chart import (
    CHART,
    KUBE_VERSIONS,
    MONITORING_API,
    NAMESPACE,
    PRODUCTION_VALUES,
    RELEASE,
    SERVICES,
    Manifest,
    Rendered,
    load_values,
    parse,
    render,
    run_helm,
    set_args,
    template_args,
)

VALUE_SETS = {"defaults": (), "production": (PRODUCTION_VALUES,)}
CRD_KINDS = {"ServiceMonitor"}  # not in the Kubernetes schemas; checked by hand below


@pytest.fixture(scope="module")
def defaults() -> Rendered:
    return render()


@pytest.fixture(scope="module")
def production() -> Rendered:
    """The production example on a cluster with the Prometheus Operator (as the example assumes)."""
    return render([PRODUCTION_VALUES], api_versions=MONITORING_API)


@pytest.mark.parametrize("values", list(VALUE_SETS), ids=list(VALUE_SETS))
def test_helm_lint_strict_passes(values: str) -> None:
    args = ["lint", "--strict", str(CHART), "--kube-version", KUBE_VERSIONS[0]]
    for path in VALUE_SETS[values]:
        args += ["--values", str(path)]
    proc = run_helm(args, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("sets", "complaint"),
    [
        ({"ingest.replicaCount": "two"}, "/ingest/replicaCount"),
        ({"mixer.settings.output_format": "mp3"}, "/mixer/settings/output_format"),
        ({"notifier.settings.smtp_port": "abc"}, "/notifier/settings/smtp_port"),
        ({"ingest.replicas": "3"}, "additional properties 'replicas' not allowed"),
        ({"kafka.bootstrapServers": "k:9092"}, "additional properties 'bootstrapServers' not allowed"),
        ({"secrets.tenants.tenants[0].id": "acme", "secrets.tenants.tenants[0].zoom_webhook_secret": "x"}, None),
        ({"secrets.tenants.tenants[0].id": "acme", "secrets.tenants.tenants[0].webhook_secret": "x"}, "webhook_secret"),
        ({"secrets.callbackSecret": "short"}, "/secrets/callbackSecret"),
    ],
)
def test_schema_rejects_wrong_types_and_unknown_keys(sets: dict[str, str], complaint: str | None) -> None:
    proc = run_helm(template_args(sets=sets), check=False)
    if complaint is None:
        assert proc.returncode == 0, proc.stderr
    else:
        assert proc.returncode != 0, f"{sets} was accepted"
        assert complaint in proc.stderr


def test_every_object_in_the_schema_forbids_unknown_keys() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    open_objects: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            typed_object = node.get("type") == "object"
            passthrough = "Passed through verbatim" in str(node.get("description", ""))
            if typed_object and not passthrough and node.get("additionalProperties", True) is True:
                open_objects.append(path)
            for key, child in node.items():
                walk(child, f"{path}/{key}")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, f"{path}/{index}")

    walk(schema, "")
    assert open_objects == []


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
@pytest.mark.parametrize("values", list(VALUE_SETS), ids=list(VALUE_SETS))
def test_rendered_objects_validate_against_the_kubernetes_schemas(values: str, kube: str) -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate missing: add it to the dev group")
    rendered = render(VALUE_SETS[values], kube=kube)
    errors: list[str] = []
    for manifest in rendered.manifests:
        if manifest["kind"] in CRD_KINDS:
            continue
        try:
            kv.validate(manifest, kube, strict=True)
        except (kv.utils.ValidationError, kv.utils.SchemaNotFoundError) as exc:
            errors.append(f"{manifest['kind']}/{manifest['metadata']['name']}: {getattr(exc, 'message', exc)}")
    assert errors == []
    assert {m["kind"] for m in rendered.manifests} >= {"Deployment", "Service", "ConfigMap", "Job", "Pod"}


def test_the_kubernetes_validation_catches_a_broken_object() -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate missing: add it to the dev group")
    deployment = render().one("Deployment", "ingest")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pathh"] = "/healthz"
    with pytest.raises(kv.utils.ValidationError, match="pathh"):
        kv.validate(deployment, KUBE_VERSIONS[-1], strict=True)


def _containers(spec: Manifest) -> list[Manifest]:
    return list(spec.get("initContainers", [])) + list(spec["containers"])


@pytest.mark.parametrize("values", list(VALUE_SETS), ids=list(VALUE_SETS))
def test_every_pod_is_hardened(values: str) -> None:
    rendered = render(VALUE_SETS[values])
    specs = rendered.pod_specs()
    assert len(specs) == len(SERVICES) + 2, "four services, the topics Job and the helm test pod"
    for where, spec in specs:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0, where
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", where
        assert spec["automountServiceAccountToken"] is False, where
        for container in _containers(spec):
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, where
            assert ctx["readOnlyRootFilesystem"] is True, where
            assert ctx["capabilities"]["drop"] == ["ALL"] and not ctx["capabilities"].get("add"), where
            assert ctx.get("privileged") is not True, where
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            tmp = next(v for v in spec["volumes"] if v["name"] == mounts["/tmp"])
            assert tmp["emptyDir"]["sizeLimit"], f"{where}: /tmp must be a sized emptyDir"
            assert container["resources"]["requests"]["memory"] and container["resources"]["limits"]["memory"]


def test_services_probe_health_and_readiness_on_their_own_port(defaults: Rendered) -> None:
    values = load_values()
    for service in SERVICES:
        (container,) = defaults.one("Deployment", service)["spec"]["template"]["spec"]["containers"]
        assert container["ports"] == [{"name": "http", "containerPort": values[service]["port"], "protocol": "TCP"}]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        # /readyz pings up to three resources with a 3-second deadline each.
        assert container["readinessProbe"]["timeoutSeconds"] >= 9
        service_obj = defaults.one("Service", service)
        assert service_obj["spec"]["ports"][0]["port"] == values[service]["port"]
        assert service_obj["spec"]["selector"]["app.kubernetes.io/component"] == service


@pytest.mark.parametrize("values", list(VALUE_SETS), ids=list(VALUE_SETS))
def test_grace_period_covers_prestop_drain_and_the_service_shutdown(values: str) -> None:
    rendered = render(VALUE_SETS[values])
    for service in SERVICES:
        env = rendered.container_env(service)
        shutdown = float(env[f"ZOOMSYMBL_{service.upper()}_SHUTDOWN_TIMEOUT_SECONDS"])
        spec = rendered.one("Deployment", service)["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        sleep = int(container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", ["", "0"])[1])
        # + 5 s: the tracer flushes for up to 5 s after the server stopped.
        assert spec["terminationGracePeriodSeconds"] >= sleep + shutdown + 5, service
        if service in ("ingest", "notifier"):
            assert sleep >= 5, f"{service} receives webhooks: it must drain before SIGTERM"


def test_no_credential_is_ever_in_a_configmap() -> None:
    secrets = {
        "secrets.mongoUri": "mongodb://u:Mongo-Pass-123@db:27017/",
        "secrets.s3AccessKey": "S3-ACCESS-KEY-XYZ",
        "secrets.s3SecretKey": "S3-Secret-Key-abc",
        "secrets.callbackSecret": "callback-secret-0123456789",
        "secrets.smtpPassword": "smtp-app-password",
        "secrets.tenants.tenants[0].id": "acme",
        "secrets.tenants.tenants[0].zoom_webhook_secret": "zoom-webhook-secret-1",
        "secrets.tenants.tenants[0].symbl_app_secret": "symbl-app-secret-1",
    }
    rendered = render(sets=secrets)
    configmaps = json.dumps(rendered.of_kind("ConfigMap")) + json.dumps(
        [m for m in rendered.manifests if m["kind"] not in ("Secret",)]
    )
    for value in secrets.values():
        if value != "acme":
            assert value not in configmaps
    data = rendered.secret_data(f"{RELEASE}-zoomsymbl-secrets")
    assert data["mongo-uri"] == secrets["secrets.mongoUri"]
    assert data["smtp-password"] == secrets["secrets.smtpPassword"]
    assert json.loads(data["tenants.json"])["tenants"][0]["zoom_webhook_secret"] == "zoom-webhook-secret-1"


def test_existing_secret_replaces_the_chart_secret(production: Rendered) -> None:
    assert production.of_kind("Secret") == []
    names = {
        ref["secretKeyRef"]["name"]
        for service in SERVICES
        for ref in production.container_env(service).values()
        if isinstance(ref, dict) and "secretKeyRef" in ref
    }
    assert names == {"zoomsymbl-credentials"}
    for service in SERVICES:
        volumes = production.one("Deployment", service)["spec"]["template"]["spec"]["volumes"]
        assert {
            "name": "tenants",
            "secret": {
                "secretName": "zoomsymbl-credentials",
                "defaultMode": 0o440,
                "items": [{"key": "tenants.json", "path": "tenants.json"}],
            },
        } in volumes


def test_generated_callback_secret_is_long_enough_for_the_submitter(defaults: Rendered) -> None:
    data = defaults.secret_data(f"{RELEASE}-zoomsymbl-secrets")
    assert len(data["callback-secret"]) >= 16


def test_topics_job_runs_the_topics_tool_before_install_and_upgrade(production: Rendered) -> None:
    job = production.one("Job", "topics")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "zoomsymbl_common.topics"]
    assert (
        container["image"]
        == production.one("Deployment", "ingest")["spec"]["template"]["spec"]["containers"][0]["image"]
    )
    plan = plan_from_args(build_parser().parse_args(container["args"]))
    values = load_values(PRODUCTION_VALUES)["topics"]
    assert (plan.partitions, plan.replication, plan.retention_ms) == (12, 3, values["retentionMs"])
    assert (plan.dlq_partitions, plan.dlq_retention_ms, plan.min_insync_replicas) == (1, 2419200000, 2)


def test_topics_job_can_be_turned_off_and_refuses_impossible_min_insync() -> None:
    assert render(sets={"topics.create": "false"}).of_kind("Job") == []
    proc = run_helm(template_args(sets={"topics.replication": "1", "topics.minInsyncReplicas": "2"}), check=False)
    assert proc.returncode != 0 and "minInsyncReplicas" in proc.stderr


def test_autoscaling_replaces_replicas_and_pdbs_follow_the_minimum(defaults: Rendered, production: Rendered) -> None:
    assert {m["metadata"]["name"] for m in defaults.of_kind("PodDisruptionBudget")} == {
        f"{RELEASE}-zoomsymbl-ingest",
        f"{RELEASE}-zoomsymbl-notifier",
    }
    assert defaults.of_kind("HorizontalPodAutoscaler") == []
    hpas = {m["spec"]["scaleTargetRef"]["name"] for m in production.of_kind("HorizontalPodAutoscaler")}
    assert hpas == {f"{RELEASE}-zoomsymbl-{s}" for s in ("ingest", "mixer", "submitter")}
    assert len(production.of_kind("PodDisruptionBudget")) == 4


def test_autoscaled_deployments_start_at_the_hpa_minimum(defaults: Rendered, production: Rendered) -> None:
    # Without replicas a Deployment starts at 1, and `helm install --wait` returns before the HPA scales it up.
    for hpa in production.of_kind("HorizontalPodAutoscaler"):
        deployment = production.named("Deployment", hpa["spec"]["scaleTargetRef"]["name"])
        assert deployment["spec"].get("replicas") == hpa["spec"]["minReplicas"] == 2
    sets = {"mixer.autoscaling.enabled": "true", "mixer.autoscaling.minReplicas": "3", "mixer.replicaCount": "1"}
    assert render(sets=sets).one("Deployment", "mixer")["spec"]["replicas"] == 3
    values = load_values()
    for service in SERVICES:
        assert defaults.one("Deployment", service)["spec"]["replicas"] == values[service]["replicaCount"]


@pytest.mark.parametrize("values", list(VALUE_SETS), ids=list(VALUE_SETS))
def test_service_monitor_only_where_the_cluster_serves_its_api(values: str) -> None:
    # Without the Prometheus Operator's CRDs a ServiceMonitor fails the whole install ("no matches for kind").
    sets = {"serviceMonitor.enabled": "true"}
    assert render(VALUE_SETS[values], sets=sets).of_kind("ServiceMonitor") == []
    assert len(render(VALUE_SETS[values], sets=sets, api_versions=MONITORING_API).of_kind("ServiceMonitor")) == 1
    assert (
        render(VALUE_SETS[values], sets={"serviceMonitor.enabled": "false"}, api_versions=MONITORING_API).of_kind(
            "ServiceMonitor"
        )
        == []
    )


def test_consumers_cannot_autoscale_past_the_partition_count() -> None:
    sets = {"mixer.autoscaling.enabled": "true", "mixer.autoscaling.maxReplicas": "7", "topics.partitions": "6"}
    proc = run_helm(template_args(sets=sets), check=False)
    assert proc.returncode != 0 and "exceeds topics.partitions" in proc.stderr


def test_mixer_scratch_volume_is_sized_and_is_where_the_mixer_writes(defaults: Rendered, production: Rendered) -> None:
    spec = defaults.one("Deployment", "mixer")["spec"]["template"]["spec"]
    scratch = next(v for v in spec["volumes"] if v["name"] == "scratch")
    assert scratch["emptyDir"]["sizeLimit"] == "20Gi"
    assert defaults.container_env("mixer")["ZOOMSYMBL_MIXER_SCRATCH_DIR"] == "/scratch"
    assert {"name": "scratch", "mountPath": "/scratch"} in spec["containers"][0]["volumeMounts"]
    prod_spec = production.one("Deployment", "mixer")["spec"]["template"]["spec"]
    ephemeral = next(v for v in prod_spec["volumes"] if v["name"] == "scratch")["ephemeral"]
    claim = ephemeral["volumeClaimTemplate"]["spec"]
    assert (claim["storageClassName"], claim["resources"]["requests"]["storage"]) == ("fast-ssd", "50Gi")


def test_smtp_ca_bundle_is_mounted_where_the_notifier_reads_it(defaults: Rendered) -> None:
    assert defaults.container_env("notifier")["ZOOMSYMBL_NOTIFIER_SMTP_CA_FILE"] == ""
    rendered = render(sets={"notifier.smtpCa.secretName": "corp-ca", "notifier.smtpCa.key": "bundle.pem"})
    path = rendered.container_env("notifier")["ZOOMSYMBL_NOTIFIER_SMTP_CA_FILE"]
    spec = rendered.one("Deployment", "notifier")["spec"]["template"]["spec"]
    mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "smtp-ca")
    volume = next(v for v in spec["volumes"] if v["name"] == "smtp-ca")
    assert path == f"{mount['mountPath']}/ca.crt"
    assert volume["secret"]["secretName"] == "corp-ca"
    assert volume["secret"]["items"] == [{"key": "bundle.pem", "path": "ca.crt"}]


def test_ingress_exposes_only_the_webhook_paths(production: Rendered) -> None:
    (ingress,) = production.of_kind("Ingress")
    (rule,) = ingress["spec"]["rules"]
    routes = {p["path"]: p["backend"]["service"]["name"] for p in rule["http"]["paths"]}
    assert routes == {
        "/webhooks/zoom": f"{RELEASE}-zoomsymbl-ingest",
        "/webhooks/symbl": f"{RELEASE}-zoomsymbl-notifier",
        "/webhooks/assemblyai": f"{RELEASE}-zoomsymbl-notifier",
    }
    assert ingress["spec"]["tls"] == [{"hosts": ["zoomsymbl.example.com"], "secretName": "zoomsymbl-tls"}]


def test_network_policies_admit_webhooks_only_to_the_webhook_services(production: Rendered) -> None:
    policies = {m["metadata"]["labels"]["app.kubernetes.io/component"]: m for m in production.of_kind("NetworkPolicy")}
    assert set(policies) == set(SERVICES)
    ingress_ns = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    for service, policy in policies.items():
        sources = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
        assert (ingress_ns in sources) == (service in ("ingest", "notifier")), service
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        assert policy["spec"]["egress"][0]["ports"][0] == {"port": 53, "protocol": "UDP"}


def test_service_monitor_scrapes_metrics_of_every_service(production: Rendered) -> None:
    (monitor,) = production.of_kind("ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}
    ]
    expression = monitor["spec"]["selector"]["matchExpressions"][0]
    assert sorted(expression["values"]) == sorted(SERVICES)
    for service in SERVICES:
        assert production.one("Service", service)["spec"]["ports"][0]["name"] == "http"


def test_helm_test_pod_checks_readyz_of_every_service(defaults: Rendered) -> None:
    (pod,) = defaults.of_kind("Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = pod["spec"]["containers"]
    urls = json.loads(container["args"][1])
    values = load_values()
    assert urls == [f"http://{RELEASE}-zoomsymbl-{s}.{NAMESPACE}.svc:{values[s]['port']}/readyz" for s in SERVICES]
    compile(container["args"][0], "readyz-check", "exec")


def test_otlp_endpoint_and_service_names_reach_every_service(production: Rendered, defaults: Rendered) -> None:
    for service in SERVICES:
        env = production.container_env(service)
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://tempo-distributor.monitoring.svc:4318"
        assert env["OTEL_SERVICE_NAME"] == f"zoomsymbl-{service}"
        assert "k8s.pod.name=$(POD_NAME)" in env["OTEL_RESOURCE_ATTRIBUTES"]
        assert "deployment.environment=production" in env["OTEL_RESOURCE_ATTRIBUTES"]
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in defaults.container_env(service)


def _render_notes(tmp_path: Path, sets: dict[str, str]) -> str:
    """NOTES.txt as `helm install` would print it (which needs a cluster): rendered through tpl in a chart copy."""
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    (chart / "templates" / "NOTES.txt").rename(chart / "notes.txt")
    (chart / "templates" / "notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n"
        '  notes: {{ tpl (.Files.Get "notes.txt") . | quote }}\n',
        encoding="utf-8",
    )
    args = ["template", RELEASE, str(chart), "--kube-version", KUBE_VERSIONS[0], "--show-only", "templates/notes.yaml"]
    (doc,) = parse(run_helm(args + set_args(sets)).stdout)
    return str(doc["data"]["notes"])


def test_notes_name_the_webhook_urls_and_warn_about_missing_credentials(tmp_path: Path) -> None:
    sets = {"ingress.enabled": "true", "ingress.tls.enabled": "true", "ingress.tls.secretName": "tls"}
    notes = _render_notes(tmp_path, sets)
    assert "https://zoomsymbl.example.com/webhooks/zoom/<tenant-id>" in notes
    assert "https://zoomsymbl.example.com/webhooks/symbl/<token>" in notes
    assert "secrets.mongoUri" in notes and "secrets.tenants.tenants" in notes
    quiet = _render_notes(tmp_path / "2", {"secrets.existingSecret": "mine", "otel.endpoint": "http://tempo:4318"})
    assert "WARNING" not in quiet and "not exported" not in quiet


def test_chart_has_no_bundled_subcharts() -> None:
    chart_yaml = (CHART / "Chart.yaml").read_text(encoding="utf-8")
    assert "dependencies" not in chart_yaml
    assert not (CHART / "charts").exists()
