"""The Helm chart: lint, schema enforcement, Kubernetes 1.30-1.34 validity and what the rendered objects promise."""

from __future__ import annotations

import importlib
import json
import re
import shutil
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from zoomsymbl_common.ops.cli import build_parser
from zoomsymbl_common.ops.topics_command import plan_from_args

from tests.deploy.helm_chart import (
    CHART,
    DEFAULT_SERVICES,
    EVERY_SERVICE,
    KUBE_VERSIONS,
    MONITORING_API,
    NAMESPACE,
    PRODUCTION_VALUES,
    RELEASE,
    SERVICES,
    TRANSCRIBER_VALUES,
    Manifest,
    Rendered,
    assert_schema_verdict,
    component_of,
    load_values,
    parse,
    render,
    run_helm,
    schema_errors,
    set_args,
    template_args,
)


class ValueSet(NamedTuple):
    """Values files and --set values, and the services they run."""

    files: tuple[Path, ...]
    sets: dict[str, str]
    services: tuple[str, ...]


# The defaults and the production example, each also with the optional transcriber on (the production one
# with its GPU and model overlay), so every service's objects go through the structural checks.
VALUE_SETS = {
    "defaults": ValueSet((), {}, DEFAULT_SERVICES),
    "defaults+transcriber": ValueSet((), EVERY_SERVICE, SERVICES),
    "production": ValueSet((PRODUCTION_VALUES,), {}, DEFAULT_SERVICES),
    "production+transcriber": ValueSet((PRODUCTION_VALUES, TRANSCRIBER_VALUES), {}, SERVICES),
}
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}  # not in the Kubernetes schemas; checked by hand below


def render_set(name: str, kube: str = KUBE_VERSIONS[0], api_versions: tuple[str, ...] = ()) -> Rendered:
    value_set = VALUE_SETS[name]
    return render(value_set.files, sets=value_set.sets, kube=kube, api_versions=api_versions)


@pytest.fixture(scope="module")
def defaults() -> Rendered:
    """The chart's defaults: the four services, no transcriber."""
    return render()


@pytest.fixture(scope="module")
def every_service() -> Rendered:
    """The defaults with every optional service on (the transcriber with its packaged model)."""
    return render(sets=EVERY_SERVICE)


@pytest.fixture(scope="module")
def production() -> Rendered:
    """The production example on a cluster with the Prometheus Operator (as the example assumes)."""
    return render([PRODUCTION_VALUES], api_versions=MONITORING_API)


@pytest.fixture(scope="module")
def production_every_service() -> Rendered:
    """The production example plus the transcriber overlay (GPU nodes, model from a PVC)."""
    return render([PRODUCTION_VALUES, TRANSCRIBER_VALUES], api_versions=MONITORING_API)


@pytest.mark.parametrize("values", list(VALUE_SETS), ids=list(VALUE_SETS))
def test_helm_lint_strict_passes(values: str) -> None:
    args = ["lint", "--strict", str(CHART), "--kube-version", KUBE_VERSIONS[0]]
    for path in VALUE_SETS[values].files:
        args += ["--values", str(path)]
    proc = run_helm(args + set_args(VALUE_SETS[values].sets), check=False)
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
        ({"transcriber.enabled": "yes"}, "/transcriber/enabled"),
        ({"transcriber.settings.device": "tpu"}, "/transcriber/settings/device"),
        ({"transcriber.settings.compute_type": "fp16"}, "/transcriber/settings/compute_type"),
        ({"transcriber.model.dir": "../etc"}, "/transcriber/model/dir"),
        ({"transcriber.model.subPath": "/abs"}, "/transcriber/model/subPath"),
        ({"transcriber.model.existingClaim": "Models_1"}, "/transcriber/model/existingClaim"),
        ({"transcriber.model.claim": "models"}, "additional properties 'claim' not allowed"),
        ({"transcriber.resources.limits.nvidia\\.com/gpu": "1"}, None),
        ({"submitter.settings.whisper_max_in_flight": "0"}, "/submitter/settings/whisper_max_in_flight"),
        # Values the services refuse at start-up (a crash-looping pod) are refused by the chart instead.
        ({"web.publicUrl": "https://u:p@links.example.com"}, "/web/publicUrl"),
        ({"web.publicUrl": "https://links.example.com/?a=1"}, "/web/publicUrl"),
        ({"web.publicUrl": "https://links.example.com/pages"}, None),
        ({"submitter.settings.public_s3_endpoint": "s3.example.com"}, "/submitter/settings/public_s3_endpoint"),
        ({"submitter.settings.public_s3_endpoint": "https://s3.example.com"}, None),
        ({"s3.bucket": "zoom..symbl"}, "/s3/bucket"),  # S3's naming rules, as settings.bucket_name_problem
        ({"s3.bucket": "192.168.5.4"}, "/s3/bucket"),
        ({"s3.bucket": "xn--zoomsymbl"}, "/s3/bucket"),
        ({"s3.bucket": "zoomsymbl-s3alias"}, "/s3/bucket"),
        ({"s3.bucket": "zoomsymbl.archive-2"}, None),
        # The hardening is not a default to turn off.
        ({"containerSecurityContext.privileged": "true"}, "/containerSecurityContext/privileged"),
        ({"containerSecurityContext.runAsNonRoot": "false"}, "/containerSecurityContext/runAsNonRoot"),
        ({"containerSecurityContext.capabilities.add[0]": "SYS_ADMIN"}, "/containerSecurityContext/capabilities/add"),
        ({"containerSecurityContext.readOnlyRootFilesystem": "false"}, "readOnlyRootFilesystem"),
        # Keeping every capability but one, or no syscall filter (Pod Security "restricted" refuses both pods).
        ({"containerSecurityContext.capabilities.drop[0]": "NET_RAW"}, "/containerSecurityContext/capabilities/drop"),
        ({"containerSecurityContext.capabilities.drop": "{}"}, "/containerSecurityContext/capabilities/drop"),
        ({"containerSecurityContext.capabilities.drop": "{ALL,NET_RAW}"}, None),
        ({"containerSecurityContext.seccompProfile.type": "Unconfined"}, "/containerSecurityContext/seccompProfile"),
        ({"podSecurityContext.seccompProfile.type": "Unconfined"}, "/podSecurityContext/seccompProfile"),
    ],
)
def test_schema_rejects_wrong_types_and_unknown_keys(sets: dict[str, str], complaint: str | None) -> None:
    assert_schema_verdict(sets, complaint)


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
    rendered = render_set(values, kube=kube)
    assert schema_errors((m for m in rendered.manifests if m["kind"] not in CRD_KINDS), kube) == []
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
    rendered = render_set(values)
    specs = rendered.pod_specs()
    services = VALUE_SETS[values].services
    assert {component_of(m) for m in rendered.of_kind("Deployment")} == set(services)
    cronjobs = sorted(str(component_of(m)) for m in rendered.of_kind("CronJob"))
    # The operator pod's CronJob always, the retention CronJob in the production example.
    assert cronjobs == (["ops", "retention"] if "production" in values else ["ops"]), cronjobs
    assert len(specs) == len(services) + 2 + len(cronjobs), "the services, the topics Job, the helm test pod, cronjobs"
    for where, spec in specs:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0, where
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", where
        assert spec["automountServiceAccountToken"] is False, where
        # A Service named zoomsymbl-<x> would inject ZOOMSYMBL_<X>_SERVICE_HOST and the like, which a settings prefix
        # (ZOOMSYMBL_WEB_, ZOOMSYMBL_INGEST_…) reads as its own variables once a setting of that name exists.
        assert spec["enableServiceLinks"] is False, where
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


def test_services_probe_health_and_readiness_on_their_own_port(every_service: Rendered) -> None:
    values = load_values()
    for service in SERVICES:
        (container,) = every_service.one("Deployment", service)["spec"]["template"]["spec"]["containers"]
        assert container["ports"] == [{"name": "http", "containerPort": values[service]["port"], "protocol": "TCP"}]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        # /readyz pings up to three resources with a 3-second deadline each.
        assert container["readinessProbe"]["timeoutSeconds"] >= 9
        service_obj = every_service.one("Service", service)
        assert service_obj["spec"]["ports"][0]["port"] == values[service]["port"]
        assert service_obj["spec"]["selector"]["app.kubernetes.io/component"] == service


@pytest.mark.parametrize("values", list(VALUE_SETS), ids=list(VALUE_SETS))
def test_grace_period_covers_prestop_drain_and_the_service_shutdown(values: str) -> None:
    rendered = render_set(values)
    for service in VALUE_SETS[values].services:
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
    rendered = render(sets=secrets | EVERY_SERVICE)
    configmaps = json.dumps(rendered.of_kind("ConfigMap")) + json.dumps(
        [m for m in rendered.manifests if m["kind"] not in ("Secret",)]
    )
    for value in secrets.values():
        if value != "acme":
            assert value not in configmaps
    data = rendered.secret_data(f"{RELEASE}-zoomsymbl-secrets")
    assert data["mongo-uri"] == secrets["secrets.mongoUri"]
    assert data["smtp-password"] == secrets["secrets.smtpPassword"]
    assert json.loads(data["tenants-ingest.json"])["tenants"][0]["zoom_webhook_secret"] == "zoom-webhook-secret-1"


# The tenant secrets each service may hold; a pod mounts only its own copy of the tenants file.
TENANT_SECRETS_USED = {
    "ingest": {"zoom_webhook_secret", "zoom_client_secret"},
    "mixer": {"zoom_client_secret"},
    "submitter": {"symbl_app_secret", "assemblyai_api_key"},
    "notifier": {"symbl_app_secret", "assemblyai_api_key", "llm_api_key"},
    "transcriber": set(),
    "web": set(),
}


def test_each_pod_mounts_only_the_tenant_secrets_its_service_uses() -> None:
    fields = sorted(set().union(*TENANT_SECRETS_USED.values()))
    sets = {f"secrets.tenants.tenants[0].{f}": f"value-of-{f}" for f in fields}
    sets |= {"secrets.tenants.tenants[0].id": "acme", "secrets.tenants.tenants[0].zoom_client_id": "client-1"}
    rendered = render(sets=sets | EVERY_SERVICE)
    data = rendered.secret_data(f"{RELEASE}-zoomsymbl-secrets")
    assert "tenants.json" not in data  # no key holds every tenant secret together
    for service in SERVICES:
        (volume,) = [
            v
            for v in rendered.one("Deployment", service)["spec"]["template"]["spec"]["volumes"]
            if v["name"] == "tenants"
        ]
        assert volume["secret"]["items"] == [{"key": f"tenants-{service}.json", "path": "tenants.json"}]
        (tenant,) = json.loads(data[f"tenants-{service}.json"])["tenants"]
        held = {f for f in fields if tenant.get(f)}
        assert held == TENANT_SECRETS_USED[service], service
        assert tenant["id"] == "acme" and tenant["zoom_client_id"] == "client-1"  # the rest is kept


def test_an_existing_secret_may_hold_one_tenants_file_per_service() -> None:
    rendered = render(sets={"secrets.existingSecret": "mine", "secrets.tenantsPerComponent": "true"} | EVERY_SERVICE)
    for service in SERVICES:
        volume = next(
            v
            for v in rendered.one("Deployment", service)["spec"]["template"]["spec"]["volumes"]
            if v["name"] == "tenants"
        )
        assert volume["secret"]["items"] == [{"key": f"tenants-{service}.json", "path": "tenants.json"}]


def test_existing_secret_replaces_the_chart_secret(production_every_service: Rendered) -> None:
    production = production_every_service
    assert production.of_kind("Secret") == []
    names = {
        ref["secretKeyRef"]["name"]
        for service in SERVICES
        for ref in production.container_env(service).values()
        if isinstance(ref, dict) and "secretKeyRef" in ref
    }
    assert names == {"zoomsymbl-credentials"}
    for service in SERVICES:  # the example holds one tenants file per service: no pod gets every tenant secret
        volumes = production.one("Deployment", service)["spec"]["template"]["spec"]["volumes"]
        assert {
            "name": "tenants",
            "secret": {
                "secretName": "zoomsymbl-credentials",
                "defaultMode": 0o440,
                "items": [{"key": f"tenants-{service}.json", "path": "tenants.json"}],
            },
        } in volumes


def test_ingest_the_pod_facing_the_internet_holds_no_s3_keys(every_service: Rendered) -> None:
    for service in SERVICES:
        env = every_service.container_env(service)
        held = {"ZOOMSYMBL_S3_ACCESS_KEY", "ZOOMSYMBL_S3_SECRET_KEY"} & set(env)
        assert held == (set() if service == "ingest" else {"ZOOMSYMBL_S3_ACCESS_KEY", "ZOOMSYMBL_S3_SECRET_KEY"})
        assert "ZOOMSYMBL_MONGO_URI" in env


def test_the_chart_made_secret_outlives_an_uninstall(defaults: Rendered) -> None:
    """Its generated page key signs every link already e-mailed: a reinstall must find it again."""
    (secret,) = defaults.of_kind("Secret")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_generated_callback_secret_is_long_enough_for_the_submitter(defaults: Rendered) -> None:
    data = defaults.secret_data(f"{RELEASE}-zoomsymbl-secrets")
    assert len(data["callback-secret"]) >= 16


def test_notifier_and_web_share_one_page_key_from_the_secret(defaults: Rendered) -> None:
    data = defaults.secret_data(f"{RELEASE}-zoomsymbl-secrets")
    assert len(data["page-key"]) >= 16 and data["page-key"] != data["callback-secret"]
    ref = {"secretKeyRef": {"name": f"{RELEASE}-zoomsymbl-secrets", "key": "page-key"}}
    assert defaults.container_env("notifier")["ZOOMSYMBL_NOTIFIER_PAGE_KEY"] == ref
    assert defaults.container_env("web")["ZOOMSYMBL_WEB_PAGE_KEY"] == ref
    given = render(sets={"secrets.pageKey": "page-key-of-my-own-0123"}).secret_data(f"{RELEASE}-zoomsymbl-secrets")
    assert given["page-key"] == "page-key-of-my-own-0123"
    assert run_helm(template_args(sets={"secrets.pageKey": "short"}), check=False).returncode != 0


def test_the_previous_page_key_reaches_notifier_and_web_only_and_may_be_absent(defaults: Rendered) -> None:
    """While the page key is replaced both services check links against the previous one too; an existingSecret
    without it (no replacement under way) still starts the pods."""
    assert defaults.secret_data(f"{RELEASE}-zoomsymbl-secrets")["page-key-previous"] == ""
    ref = {"secretKeyRef": {"name": f"{RELEASE}-zoomsymbl-secrets", "key": "page-key-previous", "optional": True}}
    assert defaults.container_env("notifier")["ZOOMSYMBL_NOTIFIER_PAGE_KEY_PREVIOUS"] == ref
    assert defaults.container_env("web")["ZOOMSYMBL_WEB_PAGE_KEY_PREVIOUS"] == ref
    for component in ("ingest", "mixer", "submitter"):
        assert not [name for name in defaults.container_env(component) if "PAGE_KEY" in name], component
    given = render(sets={"secrets.pageKeyPrevious": "the-page-key-before-0123"})
    assert given.secret_data(f"{RELEASE}-zoomsymbl-secrets")["page-key-previous"] == "the-page-key-before-0123"
    assert run_helm(template_args(sets={"secrets.pageKeyPrevious": "short"}), check=False).returncode != 0


def test_the_links_in_the_emails_point_at_the_ingress_host_unless_web_public_url_says_otherwise(
    defaults: Rendered,
) -> None:
    assert defaults.container_env("notifier")["ZOOMSYMBL_NOTIFIER_PAGE_BASE_URL"] == "https://zoomsymbl.example.com"
    own = render(sets={"ingress.host": "meet.example.org"}).container_env("notifier")
    assert own["ZOOMSYMBL_NOTIFIER_PAGE_BASE_URL"] == "https://meet.example.org"
    public = render(sets={"web.publicUrl": "https://pages.example.org/"}).container_env("notifier")
    assert public["ZOOMSYMBL_NOTIFIER_PAGE_BASE_URL"] == "https://pages.example.org"
    assert "ZOOMSYMBL_WEB_PUBLIC_URL" not in defaults.container_env("web")


def test_topics_job_runs_the_topics_tool_before_install_and_upgrade(production: Rendered) -> None:
    job = production.one("Job", "topics")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["zoomsymbl", "topics"]
    assert (
        container["image"]
        == production.one("Deployment", "ingest")["spec"]["template"]["spec"]["containers"][0]["image"]
    )
    plan = plan_from_args(build_parser().parse_args(container["command"][1:] + container["args"]))
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
        f"{RELEASE}-zoomsymbl-web",
    }
    assert defaults.of_kind("HorizontalPodAutoscaler") == []
    hpas = {m["spec"]["scaleTargetRef"]["name"] for m in production.of_kind("HorizontalPodAutoscaler")}
    assert hpas == {f"{RELEASE}-zoomsymbl-{s}" for s in ("ingest", "mixer", "submitter")}
    assert len(production.of_kind("PodDisruptionBudget")) == 5


def test_autoscaled_deployments_start_at_the_hpa_minimum(every_service: Rendered, production: Rendered) -> None:
    # Without replicas a Deployment starts at 1, and `helm install --wait` returns before the HPA scales it up.
    for hpa in production.of_kind("HorizontalPodAutoscaler"):
        deployment = production.named("Deployment", hpa["spec"]["scaleTargetRef"]["name"])
        assert deployment["spec"].get("replicas") == hpa["spec"]["minReplicas"] == 2
    sets = {"mixer.autoscaling.enabled": "true", "mixer.autoscaling.minReplicas": "3", "mixer.replicaCount": "1"}
    assert render(sets=sets).one("Deployment", "mixer")["spec"]["replicas"] == 3
    values = load_values()
    for service in SERVICES:
        assert every_service.one("Deployment", service)["spec"]["replicas"] == values[service]["replicaCount"]


RULE_API = ("monitoring.coreos.com/v1/PrometheusRule",)
# The alerts issue 20 asks for, and the metric each one reads.
ALERTS = {
    "ZoomsymblDeadLetters": "zoomsymbl_consumer_dead_letters_total",
    "ZoomsymblMeetingsFailing": "zoomsymbl_notifier_meetings_failed_total",
    "ZoomsymblMeetingsStalled": "zoomsymbl_notifier_meetings_stalled",
    "ZoomsymblLimiterSaturated": "zoomsymbl_submitter_limiter_wait_seconds_bucket",
    "ZoomsymblConsumerLag": "kafka_consumergroup_lag",
}


def test_alerts_only_where_the_cluster_serves_the_rule_api() -> None:
    sets = {"prometheusRule.enabled": "true", "kafka.topicPrefix": "prod-"}
    assert render(sets=sets).of_kind("PrometheusRule") == []
    (rule,) = render(sets=sets, api_versions=RULE_API).of_kind("PrometheusRule")
    (group,) = rule["spec"]["groups"]
    alerts = {r["alert"]: r for r in group["rules"]}
    assert set(alerts) == set(ALERTS)
    for name, metric in ALERTS.items():
        expr = alerts[name]["expr"]
        assert metric in expr, name
        # Scoped to this release: its namespace, or for the exporter's metric its consumer groups.
        assert f'namespace="{NAMESPACE}"' in expr or 'consumergroup=~"prod-zoomsymbl-.*"' in expr, expr
        assert alerts[name]["labels"]["severity"] == "warning"
        assert alerts[name]["annotations"]["summary"]
    assert render(sets={"prometheusRule.enabled": "false"}, api_versions=RULE_API).of_kind("PrometheusRule") == []


@pytest.mark.parametrize("values", list(VALUE_SETS), ids=list(VALUE_SETS))
def test_service_monitor_only_where_the_cluster_serves_its_api(values: str) -> None:
    # Without the Prometheus Operator's CRDs a ServiceMonitor fails the whole install ("no matches for kind").
    files, extra = VALUE_SETS[values].files, VALUE_SETS[values].sets
    sets = extra | {"serviceMonitor.enabled": "true"}
    assert render(files, sets=sets).of_kind("ServiceMonitor") == []
    assert len(render(files, sets=sets, api_versions=MONITORING_API).of_kind("ServiceMonitor")) == 1
    off = extra | {"serviceMonitor.enabled": "false"}
    assert render(files, sets=off, api_versions=MONITORING_API).of_kind("ServiceMonitor") == []


def test_the_meeting_pages_autoscale_past_the_partition_count() -> None:
    """The web service consumes no topic: its HPA is bounded by its own maxReplicas, not the partitions; the
    Deployment starts at its minimum and its PDB stays."""
    sets = {"web.autoscaling.enabled": "true", "web.autoscaling.minReplicas": "3", "web.autoscaling.maxReplicas": "9"}
    rendered = render(sets=sets | {"topics.partitions": "6"})
    hpa = rendered.named("HorizontalPodAutoscaler", f"{RELEASE}-zoomsymbl-web")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 9)
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": f"{RELEASE}-zoomsymbl-web",
    }
    assert rendered.one("Deployment", "web")["spec"]["replicas"] == 3
    assert rendered.named("PodDisruptionBudget", f"{RELEASE}-zoomsymbl-web")
    refused = run_helm(template_args(sets=sets | {"web.autoscaling.minReplicas": "10"}), check=False)
    assert refused.returncode != 0 and "web.autoscaling.minReplicas (10) exceeds maxReplicas (9)" in refused.stderr


@pytest.mark.parametrize("service", ["mixer", "transcriber"])
def test_consumers_cannot_autoscale_past_the_partition_count(service: str) -> None:
    sets = EVERY_SERVICE | {f"{service}.autoscaling.enabled": "true", f"{service}.autoscaling.maxReplicas": "7"}
    proc = run_helm(template_args(sets=sets | {"topics.partitions": "6"}), check=False)
    assert proc.returncode != 0 and f"{service}.autoscaling.maxReplicas (7) exceeds topics.partitions" in proc.stderr
    assert run_helm(template_args(sets=sets | {"topics.partitions": "7"}), check=False).returncode == 0


def test_the_mixer_poll_interval_need_not_outlast_a_mix() -> None:
    """The mixer gives a meeting still mixing back at its poll deadline, so the chart no longer refuses an interval
    shorter than two ffmpeg runs and the transfers; it renders into the mixer's environment, and the schema keeps
    Kafka's floor of a minute."""
    sets = EVERY_SERVICE | {"mixer.settings.ffmpeg_timeout_seconds": "14400"}
    short = run_helm(template_args(sets=sets | {"mixer.settings.kafka_max_poll_interval_ms": "600000"}), check=False)
    assert short.returncode == 0, short.stderr
    assert 'ZOOMSYMBL_MIXER_KAFKA_MAX_POLL_INTERVAL_MS: "600000"' in short.stdout
    below = run_helm(template_args(sets=sets | {"mixer.settings.kafka_max_poll_interval_ms": "59999"}), check=False)
    assert below.returncode != 0 and "kafka_max_poll_interval_ms" in below.stderr


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


def test_a_scratch_on_the_nodes_disk_is_reserved_there(every_service: Rendered, production: Rendered) -> None:
    """An emptyDir's sizeLimit only evicts its own pod once full: requested as ephemeral storage, the scheduler
    keeps that much of the node's disk for it, so a long meeting cannot push the node into DiskPressure. Every
    emptyDir on the node's disk counts: /tmp (256Mi) as well as the scratch volume (the request left /tmp out)."""
    for service, size in (("mixer", "20736Mi"), ("submitter", "10496Mi"), ("transcriber", "10496Mi")):
        (container,) = every_service.one("Deployment", service)["spec"]["template"]["spec"]["containers"]
        assert container["resources"]["requests"]["ephemeral-storage"] == size, service  # scratch + 256Mi of /tmp
        assert container["resources"]["requests"]["memory"], "the other requests are kept"
    for service in ("ingest", "notifier", "web"):
        (container,) = every_service.one("Deployment", service)["spec"]["template"]["spec"]["containers"]
        assert container["resources"]["requests"]["ephemeral-storage"] == "256Mi", service  # /tmp alone
    (on_a_claim,) = production.one("Deployment", "mixer")["spec"]["template"]["spec"]["containers"]
    assert on_a_claim["resources"]["requests"]["ephemeral-storage"] == "256Mi", "a PVC is not the node's disk"
    own = render(sets={"mixer.resources.requests.ephemeral-storage": "5Gi"})
    (container,) = own.one("Deployment", "mixer")["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["requests"]["ephemeral-storage"] == "5Gi"
    odd = render(sets={"mixer.scratch.size": "1.5G", "tmpVolume.sizeLimit": "1e8"})
    (container,) = odd.one("Deployment", "mixer")["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["requests"]["ephemeral-storage"] == "1526Mi"  # 1.6e9 bytes, rounded up
    in_memory = render(sets={"tmpVolume.medium": "Memory"})
    for service, request in (("mixer", "20480Mi"), ("web", None)):
        (container,) = in_memory.one("Deployment", service)["spec"]["template"]["spec"]["containers"]
        # A tmpfs /tmp is memory (counted against the memory limit), not the node's disk.
        assert container["resources"].get("requests", {}).get("ephemeral-storage") == request, service


def test_the_jobs_tmp_on_the_nodes_disk_is_reserved_there(production: Rendered) -> None:
    """The topics Job, the retention and operator CronJobs and the `helm test` pod mount the same /tmp emptyDir as the
    services;
    their resources did not request it, so the scheduler could place them on a node whose disk was already spoken
    for."""
    (topics,) = production.one("Job", "topics")["spec"]["template"]["spec"]["containers"]
    (retention,), (ops,) = (
        production.one("CronJob", job)["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        for job in ("retention", "ops")
    )
    (test_pod,) = production.named("Pod", f"{RELEASE}-zoomsymbl-test-readyz")["spec"]["containers"]
    assert test_pod["resources"] == {
        "requests": {"cpu": "10m", "memory": "48Mi", "ephemeral-storage": "256Mi"},
        "limits": {"memory": "128Mi"},
    }
    for container in (topics, retention, ops, test_pod):
        assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"]), container["name"]
        assert container["resources"]["requests"]["ephemeral-storage"] == "256Mi", container["name"]
        assert container["resources"]["requests"]["memory"], "the other requests are kept"
    in_memory = render([PRODUCTION_VALUES], sets={"tmpVolume.medium": "Memory"})
    (topics,) = in_memory.one("Job", "topics")["spec"]["template"]["spec"]["containers"]
    assert "ephemeral-storage" not in topics["resources"].get("requests", {}), "a tmpfs /tmp is memory"
    own = render([PRODUCTION_VALUES], sets={"retention.resources.requests.ephemeral-storage": "1Gi"})
    (retention,) = own.one("CronJob", "retention")["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert retention["resources"]["requests"]["ephemeral-storage"] == "1Gi"


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


@pytest.mark.parametrize("store", ["s3", "mongo"])
@pytest.mark.parametrize("source", ["secret", "configMap"])
def test_ca_bundles_are_mounted_in_every_service_where_it_reads_them(
    defaults: Rendered, store: str, source: str
) -> None:
    variable = f"ZOOMSYMBL_{store.upper()}_CA_FILE"
    assert defaults.container_env("mixer")[variable] == ""
    name = "secretName" if source == "secret" else "configMapName"
    sets = EVERY_SERVICE | {"s3.secure": "true", f"{store}.ca.{name}": "corp-ca", f"{store}.ca.key": "bundle.pem"}
    rendered = render(sets=sets)
    for service in SERVICES:  # every service checks both CA files at start-up, so each needs the file
        path = rendered.container_env(service)[variable]
        spec = rendered.one("Deployment", service)["spec"]["template"]["spec"]
        mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == f"{store}-ca")
        volume = next(v for v in spec["volumes"] if v["name"] == f"{store}-ca")
        assert path == f"{mount['mountPath']}/ca.crt", service
        assert mount["readOnly"] is True
        reference = volume[source]
        assert reference.get("secretName", reference.get("name")) == "corp-ca"
        assert reference["items"] == [{"key": "bundle.pem", "path": "ca.crt"}]
        other = "mongo" if store == "s3" else "s3"
        assert rendered.container_env(service)[f"ZOOMSYMBL_{other.upper()}_CA_FILE"] == ""
        assert all(v["name"] != f"{other}-ca" for v in spec["volumes"])


def test_otlp_ca_bundle_is_named_in_the_sdks_variable_only_when_set(defaults: Rendered) -> None:
    sdk_env = importlib.import_module("opentelemetry.sdk.environment_variables")
    assert sdk_env.OTEL_EXPORTER_OTLP_CERTIFICATE == "OTEL_EXPORTER_OTLP_CERTIFICATE"
    assert "OTEL_EXPORTER_OTLP_CERTIFICATE" not in defaults.container_env("mixer")
    sets = {"otel.endpoint": "https://tempo.monitoring:4318", "otel.ca.secretName": "tempo-ca"}
    rendered = render(sets=EVERY_SERVICE | sets)
    for service in SERVICES:
        spec = rendered.one("Deployment", service)["spec"]["template"]["spec"]
        mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "otel-ca")
        assert rendered.container_env(service)["OTEL_EXPORTER_OTLP_CERTIFICATE"] == f"{mount['mountPath']}/ca.crt"


@pytest.mark.parametrize(
    ("sets", "complaint"),
    [
        ({"s3.ca.secretName": "corp-ca"}, "s3.secure is false"),
        ({"s3.secure": "true", "s3.ca.secretName": "a", "s3.ca.configMapName": "b"}, "not both"),
        ({"mongo.ca.secretName": "a", "mongo.ca.configMapName": "b"}, "mongo.ca: set secretName or configMapName"),
        ({"s3.secure": "true", "s3.ca.secretName": "Not_A_Name"}, "/s3/ca/secretName"),
        ({"mongo.ca.configMapName": "Not_A_Name"}, "/mongo/ca/configMapName"),
        ({"otel.endpoint": "http://tempo:4318", "otel.ca.secretName": "tempo-ca"}, "not an https:// URL"),
        ({"otel.ca.secretName": "tempo-ca"}, "not an https:// URL"),
    ],
)
def test_contradictory_ca_values_are_refused(sets: dict[str, str], complaint: str) -> None:
    proc = run_helm(template_args(sets=sets), check=False)
    assert proc.returncode != 0, f"{sets} was accepted"
    assert complaint in proc.stderr


def test_ingress_exposes_only_the_webhook_paths_the_pages_and_their_renewals(production: Rendered) -> None:
    (ingress,) = production.of_kind("Ingress")
    (rule,) = ingress["spec"]["rules"]
    routes = {p["path"]: p["backend"]["service"]["name"] for p in rule["http"]["paths"]}
    assert routes == {
        "/webhooks/zoom": f"{RELEASE}-zoomsymbl-ingest",
        "/webhooks/symbl": f"{RELEASE}-zoomsymbl-notifier",
        "/webhooks/assemblyai": f"{RELEASE}-zoomsymbl-notifier",
        "/m/": f"{RELEASE}-zoomsymbl-web",
        "/links/": f"{RELEASE}-zoomsymbl-notifier",  # an expired page link's button: the notifier mails a new one
    }
    assert ingress["spec"]["tls"] == [{"hosts": ["zoomsymbl.example.com"], "secretName": "zoomsymbl-tls"}]


def test_ingress_terminates_tls_by_default_with_a_named_certificate_secret() -> None:
    (ingress,) = render(sets={"ingress.enabled": "true"}).of_kind("Ingress")
    assert ingress["spec"]["tls"] == [{"hosts": ["zoomsymbl.example.com"], "secretName": f"{RELEASE}-zoomsymbl-tls"}]
    (plain,) = render(sets={"ingress.enabled": "true", "ingress.tls.enabled": "false"}).of_kind("Ingress")
    assert "tls" not in plain["spec"]


def _denied_egress(rendered: Rendered) -> list[Manifest]:
    return [m for m in rendered.of_kind("NetworkPolicy") if m["metadata"]["name"].endswith("-denied-egress")]


def test_by_default_pods_may_not_reach_link_local_cgnat_or_ula_addresses(defaults: Rendered) -> None:
    (policy,) = _denied_egress(defaults)
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Egress"]
    assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == RELEASE
    blocks = {
        b["ipBlock"]["cidr"]: set(b["ipBlock"]["except"])
        for r in spec["egress"]
        for b in r.get("to", [])
        if "ipBlock" in b
    }
    assert blocks == {"0.0.0.0/0": {"169.254.0.0/16", "100.64.0.0/10"}, "::/0": {"fe80::/10", "fc00::/7"}}
    # DNS anywhere (NodeLocal DNSCache is link-local) and in-cluster pods stay reachable.
    assert {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]} in spec["egress"]
    assert {"to": [{"namespaceSelector": {}}]} in spec["egress"]


def test_the_denied_ranges_give_way_to_a_stricter_egress_allow_list() -> None:
    """Only for the services and the operator pod, which have one; the topics Job and the helm test pod keep the
    denied ranges."""
    strict = render(sets={"networkPolicy.enabled": "true", "networkPolicy.egress.restrict": "true"} | EVERY_SERVICE)
    (policy,) = _denied_egress(strict)
    assert policy["spec"]["podSelector"]["matchExpressions"] == [
        {"key": "app.kubernetes.io/component", "operator": "NotIn", "values": [*SERVICES, "ops"]}
    ]
    assert _denied_egress(render(sets={"networkPolicy.deniedEgress.enabled": "false"})) == []


def test_the_production_examples_internet_egress_excludes_the_metadata_service(
    production_every_service: Rendered,
) -> None:
    """Its allow-list replaces the denied-ranges policy: every rule open to the internet must deny link-local
    (169.254.169.254 answers on port 80 in most clouds, but some serve 443) and CGNAT addresses itself."""
    opened = [
        block["ipBlock"]
        for policy in production_every_service.of_kind("NetworkPolicy")
        for rule in policy["spec"].get("egress", [])
        for block in rule.get("to", [])
        if block.get("ipBlock", {}).get("cidr") == "0.0.0.0/0"
    ]
    assert opened, "the example opens the internet to some services"
    assert all({"169.254.0.0/16", "100.64.0.0/10"} <= set(b.get("except", [])) for b in opened)


def test_network_policies_admit_webhooks_only_to_the_webhook_services(production_every_service: Rendered) -> None:
    policies = {component_of(m): m for m in production_every_service.of_kind("NetworkPolicy") if component_of(m)}
    # The production example runs the retention CronJob; the operator pod's CronJob is there by default.
    assert set(policies) == {*SERVICES, "retention", "ops"}
    ingress_ns = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    for service, policy in policies.items():
        sources = [peer for rule in policy["spec"].get("ingress", []) for peer in rule["from"]]
        assert (ingress_ns in sources) == (service in ("ingest", "notifier", "web")), service
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        assert policy["spec"]["egress"][0]["ports"][0] == {"port": 53, "protocol": "UDP"}


def test_services_with_their_own_egress_rules_get_those_instead_of_the_shared_ones(
    production_every_service: Rendered,
) -> None:
    """The production example keeps web and the transcriber inside the cluster; a map entry replaces `rules`."""
    policies = {component_of(m): m for m in production_every_service.of_kind("NetworkPolicy") if component_of(m)}

    def reaches_internet(service: str) -> bool:
        return any("ipBlock" in peer for rule in policies[service]["spec"]["egress"] for peer in rule.get("to", []))

    assert {s for s in SERVICES if not reaches_internet(s)} == {"web", "transcriber"}
    web_ports = [[p["port"] for p in rule["ports"]] for rule in policies["web"]["spec"]["egress"]]
    assert web_ports == [[53, 53], [27017], [443, 9000], [4318]]  # DNS, MongoDB, MinIO, OTLP: no Kafka either
    only_dns = render(sets={"networkPolicy.enabled": "true", "networkPolicy.egress.restrict": "true"})
    shared = {"networkPolicy.egress.rules[0].ports[0].port": "9092"}
    alone = render(
        sets={"networkPolicy.enabled": "true", "networkPolicy.egress.restrict": "true", **shared}
        | {"networkPolicy.egress.components.web[0].ports[0].port": "27017"}
    )
    for rendered, service, expected in (
        (only_dns, "mixer", [[53, 53]]),
        (alone, "mixer", [[53, 53], [9092]]),
        (alone, "web", [[53, 53], [27017]]),
    ):
        (policy,) = [m for m in rendered.of_kind("NetworkPolicy") if component_of(m) == service]
        assert [[p["port"] for p in rule["ports"]] for rule in policy["spec"]["egress"]] == expected, service


def test_service_monitor_scrapes_metrics_of_every_service(production_every_service: Rendered) -> None:
    production = production_every_service
    (monitor,) = production.of_kind("ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}
    ]
    expression = monitor["spec"]["selector"]["matchExpressions"][0]
    assert sorted(expression["values"]) == sorted(SERVICES)
    for service in SERVICES:
        assert production.one("Service", service)["spec"]["ports"][0]["name"] == "http"


def test_helm_test_pod_checks_readyz_of_every_service(every_service: Rendered) -> None:
    (pod,) = every_service.of_kind("Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = pod["spec"]["containers"]
    urls = json.loads(container["args"][1])
    values = load_values()
    assert urls == [f"http://{RELEASE}-zoomsymbl-{s}.{NAMESPACE}.svc:{values[s]['port']}/readyz" for s in SERVICES]
    compile(container["args"][0], "readyz-check", "exec")


def test_otlp_endpoint_and_service_names_reach_every_service(
    production_every_service: Rendered, every_service: Rendered
) -> None:
    for service in SERVICES:
        env = production_every_service.container_env(service)
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://tempo-distributor.monitoring.svc:4318"
        assert env["OTEL_SERVICE_NAME"] == f"zoomsymbl-{service}"
        assert "k8s.pod.name=$(POD_NAME)" in env["OTEL_RESOURCE_ATTRIBUTES"]
        assert "deployment.environment=production" in env["OTEL_RESOURCE_ATTRIBUTES"]
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in every_service.container_env(service)


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


def test_notes_give_operator_commands_that_name_the_releases_objects_and_parse(tmp_path: Path) -> None:
    """The exec into the notifier and, with ops.enabled, the operator pod made from the CronJob the chart renders."""
    rendered = render()
    notes = _render_notes(tmp_path, {})
    commands = [line.strip() for line in notes.splitlines() if line.strip().startswith("kubectl")]
    named = {name for line in commands for name in re.findall(r"(?:deploy|cronjob)/([a-z0-9-]+)", line)}
    objects = (rendered.one("Deployment", "notifier"), rendered.one("CronJob", "ops"))
    assert named == {manifest["metadata"]["name"] for manifest in objects}
    for line in commands:
        if " -- zoomsymbl " in line:
            build_parser().parse_args(line.split(" -- zoomsymbl ", 1)[1].split())
    (created,) = re.findall(r"create job --from=cronjob/\S+ (\S+)", notes)
    assert f"exec job/{created} -- zoomsymbl" in notes
    without = _render_notes(tmp_path / "2", {"ops.enabled": "false"})
    assert "cronjob/" not in without and "exec deploy/" in without


def test_chart_has_no_bundled_subcharts() -> None:
    chart_yaml = (CHART / "Chart.yaml").read_text(encoding="utf-8")
    assert "dependencies" not in chart_yaml
    assert not (CHART / "charts").exists()


# ----------------------------------------------------------------------------------------------- the transcriber


CLAIM = "whisper-models"


def _transcriber_pod(rendered: Rendered) -> tuple[Manifest, Manifest]:
    """(pod spec, container) of the transcriber's Deployment."""
    spec = rendered.one("Deployment", "transcriber")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    return spec, container


def test_transcriber_renders_only_when_enabled(defaults: Rendered, every_service: Rendered) -> None:
    # Most tenants use a SaaS provider: by default nothing of the transcriber exists, not even a readyz URL.
    assert [m["kind"] for m in defaults.manifests if component_of(m) == "transcriber"] == []
    (pod,) = defaults.of_kind("Pod")
    assert not any("transcriber" in url for url in json.loads(pod["spec"]["containers"][0]["args"][1]))
    policies = render(sets={"networkPolicy.enabled": "true"}).of_kind("NetworkPolicy")
    assert sorted(c for m in policies if (c := component_of(m))) == sorted([*DEFAULT_SERVICES, "ops"])
    monitor_sets = {"serviceMonitor.enabled": "true"}
    (monitor,) = render(sets=monitor_sets, api_versions=MONITORING_API).of_kind("ServiceMonitor")
    assert "transcriber" not in monitor["spec"]["selector"]["matchExpressions"][0]["values"]
    kinds = sorted(m["kind"] for m in every_service.manifests if component_of(m) == "transcriber")
    assert kinds == ["ConfigMap", "Deployment", "Service"]
    (enabled_monitor,) = render(sets=EVERY_SERVICE | monitor_sets, api_versions=MONITORING_API).of_kind(
        "ServiceMonitor"
    )
    assert "transcriber" in enabled_monitor["spec"]["selector"]["matchExpressions"][0]["values"]


def test_transcriber_defaults_to_the_packaged_model_and_writes_only_to_scratch(every_service: Rendered) -> None:
    env = every_service.container_env("transcriber")
    assert env["ZOOMSYMBL_TRANSCRIBER_MODEL_DIR"] == "packaged"
    spec, container = _transcriber_pod(every_service)
    assert "model" not in {v["name"] for v in spec["volumes"]}
    # The mixed file goes to a sized scratch volume, not to /tmp (256Mi) or the read-only root filesystem.
    assert env["ZOOMSYMBL_TRANSCRIBER_SCRATCH_DIR"] == "/scratch"
    assert {"name": "scratch", "mountPath": "/scratch"} in container["volumeMounts"]
    scratch = next(v for v in spec["volumes"] if v["name"] == "scratch")
    assert scratch["emptyDir"]["sizeLimit"] == load_values()["transcriber"]["scratch"]["size"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # The server listens only after the model is loaded: the start-up budget must cover reading a large one.
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    assert container["resources"]["requests"]["cpu"] == "1" and container["resources"]["limits"]["memory"] == "3Gi"


@pytest.mark.parametrize(
    ("model", "model_dir"),
    [
        ({"existingClaim": CLAIM, "mountPath": "/models", "dir": "large-v3-turbo"}, "/models/large-v3-turbo"),
        ({"existingClaim": CLAIM, "mountPath": "/opt/whisper/", "subPath": "ct2"}, "/opt/whisper"),
    ],
)
def test_transcriber_model_from_an_existing_claim_is_mounted_read_only(model: dict[str, str], model_dir: str) -> None:
    rendered = render(sets=EVERY_SERVICE | {f"transcriber.model.{key}": value for key, value in model.items()})
    env_dir = rendered.container_env("transcriber")["ZOOMSYMBL_TRANSCRIBER_MODEL_DIR"]
    spec, container = _transcriber_pod(rendered)
    (volume,) = [v for v in spec["volumes"] if v["name"] == "model"]
    assert volume["persistentVolumeClaim"] == {"claimName": CLAIM, "readOnly": True}
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "model"]
    assert mount["readOnly"] is True
    assert mount.get("subPath", "") == model.get("subPath", "")
    assert env_dir == model_dir
    assert Path(env_dir).is_relative_to(mount["mountPath"])


@pytest.mark.parametrize(
    ("sets", "complaint"),
    [
        ({"transcriber.model.dir": "large-v3-turbo"}, "set transcriber.model.existingClaim"),
        ({"transcriber.model.subPath": "ct2"}, "set transcriber.model.existingClaim"),
        ({"transcriber.model.existingClaim": "m", "transcriber.model.mountPath": "/scratch"}, "already used"),
        ({"transcriber.model.existingClaim": "m", "transcriber.model.mountPath": "/tmp/"}, "already used"),
    ],
)
def test_transcriber_model_settings_that_would_be_ignored_or_clash_are_refused(
    sets: dict[str, str], complaint: str
) -> None:
    proc = run_helm(template_args(sets=EVERY_SERVICE | sets), check=False)
    assert proc.returncode != 0 and complaint in proc.stderr, proc.stderr


def test_transcriber_example_runs_on_gpu_nodes_with_one_slot_per_replica(production_every_service: Rendered) -> None:
    spec, container = _transcriber_pod(production_every_service)
    env = production_every_service.container_env("transcriber")
    assert (env["ZOOMSYMBL_TRANSCRIBER_DEVICE"], env["ZOOMSYMBL_TRANSCRIBER_COMPUTE_TYPE"]) == ("cuda", "float16")
    assert env["ZOOMSYMBL_TRANSCRIBER_MODEL_DIR"] == "/models/large-v3-turbo"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    replicas = production_every_service.one("Deployment", "transcriber")["spec"]["replicas"]
    slots = production_every_service.container_env("submitter")["ZOOMSYMBL_SUBMITTER_WHISPER_MAX_IN_FLIGHT"]
    assert int(slots) == replicas == 2
    # The production example's own submitter settings survive the overlay.
    assert production_every_service.container_env("submitter")["ZOOMSYMBL_SUBMITTER_MAX_IN_FLIGHT"] == "40"
    assert production_every_service.one("PodDisruptionBudget", "transcriber")["spec"]["maxUnavailable"] == 1


def test_notes_say_when_consumer_replicas_exceed_the_partitions(tmp_path: Path) -> None:
    over = {"mixer.replicaCount": "7", "submitter.replicaCount": "6", "transcriber.replicaCount": "8"}
    notes = _render_notes(tmp_path / "over", over)
    # The transcriber is off: its replicas run nowhere. The submitter at 6 of 6 partitions: every one gets work.
    assert "NOTE: mixer.replicaCount (7) exceeds topics.partitions (6): one consumer per" in notes
    assert "submitter.replicaCount" not in notes and "transcriber.replicaCount" not in notes
    on = _render_notes(tmp_path / "on", over | EVERY_SERVICE | {"submitter.settings.whisper_max_in_flight": "8"})
    assert "NOTE: mixer.replicaCount (7), transcriber.replicaCount (8) exceeds topics.partitions (6)" in on
    more_partitions = _render_notes(tmp_path / "partitions", over | {"topics.partitions": "12"})
    assert "exceeds topics.partitions" not in more_partitions
    # With autoscaling the chart refuses maxReplicas above the partitions itself; replicaCount is then unused.
    scaled = _render_notes(tmp_path / "hpa", over | {"mixer.autoscaling.enabled": "true"})
    assert "mixer.replicaCount" not in scaled


def test_notes_warn_when_whisper_tenants_have_no_transcriber_or_slots_differ_from_replicas(tmp_path: Path) -> None:
    whisper_tenant = {
        "secrets.tenants.tenants[0].id": "local",
        "secrets.tenants.tenants[0].zoom_webhook_secret": "zoom-secret",
        "secrets.tenants.tenants[0].provider": "whisper",
    }
    notes = _render_notes(tmp_path / "off", whisper_tenant)
    assert 'tenants local use the "whisper" provider, but transcriber.enabled is false' in notes
    assert f"{RELEASE}-zoomsymbl-transcriber" not in notes
    on = _render_notes(tmp_path / "on", whisper_tenant | EVERY_SERVICE)
    assert "transcriber.enabled is false" not in on and "whisper_max_in_flight" not in on
    assert f"{RELEASE}-zoomsymbl-transcriber:8084" in on
    uneven = _render_notes(tmp_path / "uneven", EVERY_SERVICE | {"transcriber.replicaCount": "3"})
    assert "whisper_max_in_flight is 1 but the transcriber runs up to\n3 replicas" in uneven
