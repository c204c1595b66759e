"""The retention CronJob (retention.enabled): `zoomsymbl retention --yes` on a schedule, in the notifier's image with
exactly the notifier pod's configuration, credentials and tenants file, selected by none of the notifier's objects,
fenced by its own NetworkPolicy, and nothing else of the chart changed by the feature."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from zoomsymbl_common.ops.cli import build_parser
from zoomsymbl_common.ops.command import EXIT_FAILED, EXIT_REFUSED, EXIT_UNAVAILABLE, EXIT_USAGE
from zoomsymbl_common.ops.retention import MAX_LIMIT
from zoomsymbl_common.ops.retention_command import DEFAULT_LIMIT

from tests.deploy.helm_chart import (
    CHART,
    KUBE_VERSIONS,
    MONITORING_API,
    NAMESPACE,
    PRODUCTION_VALUES,
    ROOT,
    TRANSCRIBER_VALUES,
    Manifest,
    Rendered,
    assert_schema_verdict,
    cronjob_pod,
    load_values,
    only_container,
    parse,
    render,
    render_text,
    run_helm,
    schema_errors,
    set_args,
)
from tests.deploy.network_policy import Endpoint, connects, selects

ON = {"retention.enabled": "true"}
OFF = {"retention.enabled": "false"}
# Every optional mount and credential the notifier's pod can get: CA bundles of S3, MongoDB, OTLP and SMTP, Kafka
# over SASL_SSL with mutual TLS.
EVERYTHING_MOUNTED = {
    "s3.secure": "true",
    "s3.ca.secretName": "s3-ca",
    "mongo.ca.configMapName": "mongo-ca",
    "otel.endpoint": "https://tempo.monitoring:4318",
    "otel.ca.secretName": "tempo-ca",
    "notifier.smtpCa.secretName": "smtp-ca",
    "kafka.security.protocol": "SASL_SSL",
    "kafka.security.username": "zoomsymbl",
    "kafka.security.existingSecret": "kafka-user",
    "kafka.security.ca.secretName": "kafka-ca",
    "kafka.security.clientCert.secretName": "kafka-client",
}
# The chart generates the callback secret and page key when none is given: fixed, two renderings compare equal.
FIXED_KEYS = {"secrets.callbackSecret": "c" * 48, "secrets.pageKey": "p" * 48}
# (values files, --set values) the structural checks run on, each rendered with the feature off and on.
VALUE_SETS: dict[str, tuple[tuple[Path, ...], dict[str, str]]] = {
    "defaults": ((), {}),
    "production+transcriber": ((PRODUCTION_VALUES, TRANSCRIBER_VALUES), {}),
    "everything mounted, policies without egress rules": ((), EVERYTHING_MOUNTED | {"networkPolicy.enabled": "true"}),
}
# Where the production example's pods connect (as tests/deploy/test_network_policy.py), and what the notifier reaches.
DESTINATIONS = {
    "kafka": (Endpoint("10.1.0.10", "kafka", {"strimzi.io/kind": "Kafka"}), 9092),
    "mongodb": (Endpoint("10.1.0.20", "mongodb", {"app": "zoomsymbl-mongodb-svc"}), 27017),
    "s3": (Endpoint("10.1.0.30", "minio", {"v1.min.io/tenant": "minio"}), 443),
    "otlp": (Endpoint("10.1.0.40", "monitoring", {"app.kubernetes.io/name": "tempo"}), 4318),
    "https": (Endpoint("170.114.52.2"), 443),
    "smtp": (Endpoint("142.250.27.108"), 587),
    "metadata": (Endpoint("169.254.169.254"), 80),
    "other-app": (Endpoint("10.2.0.5", "billing", {"app": "postgres"}), 5432),
}
NOTIFIER_REACHES = {"kafka", "mongodb", "s3", "otlp", "https", "smtp"}


def render_set(name: str, sets: dict[str, str] | None = None) -> Rendered:
    files, base = VALUE_SETS[name]
    return render(files, sets=base | (sets or {}), api_versions=MONITORING_API)


@pytest.fixture(scope="module")
def enabled() -> Rendered:
    """The defaults with the CronJob on."""
    return render(sets=ON)


@pytest.fixture(scope="module")
def production() -> Rendered:
    """The production example (policies with per-service egress allow-lists) with the CronJob on."""
    return render_set("production+transcriber", ON)


def cronjob(rendered: Rendered) -> Manifest:
    return rendered.one("CronJob", "retention")


def pod_template(rendered: Rendered) -> Manifest:
    return cronjob_pod(rendered, "retention")


def container(rendered: Rendered) -> Manifest:
    return only_container(pod_template(rendered))


def notifier_pod(rendered: Rendered) -> Manifest:
    spec = rendered.one("Deployment", "notifier")["spec"]["template"]["spec"]
    assert isinstance(spec, dict)
    return spec


def documents(text: str) -> dict[tuple[str, str], str]:
    """Each rendered document's text (as helm printed it, blank lines around it aside) by (kind, name)."""
    found: dict[tuple[str, str], str] = {}
    for block in text.split("\n---\n"):
        for manifest in parse(block):
            key = (manifest["kind"], manifest["metadata"]["name"])
            assert key not in found, key
            found[key] = block.strip()  # the last document before the new ones lost its trailing newline
    return found


def test_nothing_is_added_unless_enabled() -> None:
    for name in VALUE_SETS:
        rendered = render_set(name, OFF)  # the production example turns it on
        assert [m for m in rendered.of_kind("CronJob") if "retention" in m["metadata"]["name"]] == [], name
        assert [p for p in rendered.of_kind("NetworkPolicy") if "retention" in p["metadata"]["name"]] == [], name


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_the_feature_adds_the_cronjob_and_its_policy_and_changes_nothing_else(name: str) -> None:
    """Every Deployment (and every other object) renders to the same text with the CronJob on as without it; only
    the denied-egress policy gains the CronJob's pod among those with their own allow-list."""
    files, base = VALUE_SETS[name]
    base = base | FIXED_KEYS
    off = documents(render_text(files, sets=base | OFF, api_versions=MONITORING_API))
    on = documents(render_text(files, sets=base | ON, api_versions=MONITORING_API))
    fullname = "zs-zoomsymbl"
    added = {("CronJob", f"{fullname}-retention")}
    denied = ("NetworkPolicy", f"{fullname}-denied-egress")
    if any(kind == "NetworkPolicy" and (kind, name) != denied for kind, name in off):  # networkPolicy.enabled
        added.add(("NetworkPolicy", f"{fullname}-retention"))
    assert set(on) - set(off) == added
    assert set(off) <= set(on)
    deployments = [key for key in off if key[0] == "Deployment"]
    assert len(deployments) >= 5
    changed = {key for key in off if on[key] != off[key]}
    assert changed <= {denied}
    if denied in changed:
        assert on[denied] == off[denied].replace(", web, ops]", ", web, retention, ops]")


def test_the_cronjob_runs_retention_yes_with_the_limit_on_the_schedule(enabled: Rendered) -> None:
    job = cronjob(enabled)
    assert job["spec"]["schedule"] == "17 3 * * *"
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    assert "timeZone" not in job["spec"]
    main = container(enabled)
    assert main["command"] == ["zoomsymbl", "retention"]
    args = build_parser().parse_args(main["command"][1:] + main["args"])
    assert (args.command.name, args.yes, args.limit) == ("retention", True, DEFAULT_LIMIT)
    own = render(
        sets=ON
        | {"retention.schedule": "0 2 * * 1-5", "retention.limit": "1000", "retention.timeZone": "Europe/Berlin"}
    )
    assert (cronjob(own)["spec"]["schedule"], cronjob(own)["spec"]["timeZone"]) == ("0 2 * * 1-5", "Europe/Berlin")
    own_main = container(own)
    assert build_parser().parse_args(own_main["command"][1:] + own_main["args"]).limit == 1000


def test_the_values_defaults_and_bounds_are_the_commands(enabled: Rendered) -> None:
    values = load_values()["retention"]
    assert values["enabled"] is False
    assert values["limit"] == DEFAULT_LIMIT
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    limit = schema["properties"]["retention"]["properties"]["limit"]
    assert (limit["minimum"], limit["maximum"]) == (1, MAX_LIMIT)
    # docs/forget.md promises the schedule; the chart keeps it.
    assert f"`retention.schedule`, default `{values['schedule']}`" in (ROOT / "docs" / "forget.md").read_text(
        encoding="utf-8"
    )


def test_a_failure_a_retry_cannot_mend_fails_the_run_at_once(enabled: Rendered) -> None:
    """Exit 1 (a provider copy left) retried would erase a further --limit meetings and ask the same provider again;
    exit 2 (bad configuration) and 4 fail the same way again. A server that did not answer (exit 3) is retried."""
    spec = cronjob(enabled)["spec"]["jobTemplate"]["spec"]
    assert spec["backoffLimit"] == load_values()["retention"]["backoffLimit"]
    assert 0 < spec["activeDeadlineSeconds"] <= 86400
    rules = spec["podFailurePolicy"]["rules"]
    (fail,) = [r for r in rules if r["action"] == "FailJob"]
    assert fail["onExitCodes"]["containerName"] == container(enabled)["name"]
    assert fail["onExitCodes"]["operator"] == "In"
    assert set(fail["onExitCodes"]["values"]) == {EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED}
    assert EXIT_UNAVAILABLE not in fail["onExitCodes"]["values"]
    assert pod_template(enabled)["spec"]["restartPolicy"] == "Never", "podFailurePolicy needs restartPolicy Never"


def test_the_cronjob_runs_in_the_notifiers_image() -> None:
    digest = "sha256:" + "a" * 64
    for sets in ({}, {"notifier.image.repository": "registry.example.com/notifier", "notifier.image.digest": digest}):
        rendered = render(sets=ON | sets)
        (notifier,) = notifier_pod(rendered)["containers"]
        assert container(rendered)["image"] == notifier["image"]
        assert container(rendered)["imagePullPolicy"] == notifier["imagePullPolicy"]
    assert container(rendered)["image"] == f"registry.example.com/notifier@{digest}"


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_the_pod_reads_exactly_what_the_notifiers_pod_reads(name: str) -> None:
    """Its ConfigMaps, tenants file (with the providers' keys) and CA bundles; of the Secret, MongoDB's and S3's
    credentials only (least privilege: no SMTP password, callback secret, page key or Kafka credentials)."""
    rendered = render_set(name, ON)
    (notifier,) = notifier_pod(rendered)["containers"]
    main = container(rendered)
    for key in ("envFrom", "volumeMounts"):
        assert main[key] == notifier[key], key
    store_only = {"ZOOMSYMBL_MONGO_URI", "ZOOMSYMBL_S3_ACCESS_KEY", "ZOOMSYMBL_S3_SECRET_KEY"}
    names = [var["name"] for var in main["env"]]
    assert [var for var in notifier["env"] if var["name"] in names] == main["env"]
    assert not [n for n in names if n.startswith(("ZOOMSYMBL_KAFKA", "ZOOMSYMBL_NOTIFIER"))]
    assert pod_template(rendered)["spec"]["volumes"] == notifier_pod(rendered)["volumes"]
    # And what that is: the notifier's settings and the notifier's copy of the tenants file, where the config says.
    config_maps = [source["configMapRef"]["name"] for source in main["envFrom"]]
    assert config_maps == ["zs-zoomsymbl-config", "zs-zoomsymbl-notifier"]
    tenants_file = rendered.named("ConfigMap", "zs-zoomsymbl-config")["data"]["ZOOMSYMBL_TENANTS_FILE"]
    mount = next(m for m in main["volumeMounts"] if m["name"] == "tenants")
    volume = next(v for v in pod_template(rendered)["spec"]["volumes"] if v["name"] == "tenants")
    assert tenants_file == f"{mount['mountPath']}/tenants.json" and mount["readOnly"] is True
    assert volume["secret"]["items"] == [{"key": "tenants-notifier.json", "path": "tenants.json"}]
    secret_keys = {
        var["name"]: var["valueFrom"]["secretKeyRef"]["key"]
        for var in main["env"]
        if "valueFrom" in var and "secretKeyRef" in var["valueFrom"]
    }
    assert set(secret_keys) == store_only


def test_the_pod_is_hardened_and_serves_nothing(enabled: Rendered) -> None:
    specs = dict(enabled.pod_specs())
    spec = specs["CronJob/zs-zoomsymbl-retention"]
    notifier = notifier_pod(enabled)
    for key in ("securityContext", "automountServiceAccountToken", "serviceAccountName"):
        assert spec[key] == notifier[key], key
    assert spec["automountServiceAccountToken"] is False
    main = container(enabled)
    assert main["securityContext"] == notifier["containers"][0]["securityContext"]
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    assert main["securityContext"]["capabilities"]["drop"] == ["ALL"]
    for absent in ("ports", "startupProbe", "livenessProbe", "readinessProbe", "lifecycle"):
        assert absent not in main, absent
    assert main["resources"]["requests"]["memory"] and main["resources"]["limits"]["memory"]
    tmp = next(v for v in spec["volumes"] if v["name"] == "tmp")
    assert tmp["emptyDir"]["sizeLimit"]


def selected_by_others(rendered: Rendered, labels: dict[str, str], own_policy: str) -> list[tuple[str, str]]:
    """The Services, Deployments, PDBs and NetworkPolicies (but ``own_policy`` and the denied egress) whose selector
    matches a pod with ``labels``."""
    selectors = [
        ("Service", m["metadata"]["name"], {"matchLabels": m["spec"]["selector"]}) for m in rendered.of_kind("Service")
    ]
    for kind in ("Deployment", "PodDisruptionBudget"):
        selectors += [(kind, m["metadata"]["name"], m["spec"]["selector"]) for m in rendered.of_kind(kind)]
    selectors += [
        ("NetworkPolicy", m["metadata"]["name"], m["spec"]["podSelector"])
        for m in rendered.of_kind("NetworkPolicy")
        if m["metadata"]["name"] not in {own_policy, "zs-zoomsymbl-denied-egress"}
    ]
    assert any(kind == "Service" and name == "zs-zoomsymbl-notifier" for kind, name, _ in selectors)
    return [(kind, name) for kind, name, selector in selectors if selects(selector, labels)]


def test_no_object_of_the_notifier_selects_the_retention_pod(production: Rendered) -> None:
    """With the notifier's labels its Service would send webhooks to the job's pod and its PDB count it."""
    labels = pod_template(production)["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "retention"
    assert cronjob(production)["metadata"]["labels"]["app.kubernetes.io/component"] == "retention"
    assert selected_by_others(production, labels, "zs-zoomsymbl-retention") == []


def test_the_cronjob_name_leaves_room_for_the_jobs_suffix() -> None:
    """Kubernetes refuses a CronJob name over 52 characters (its Jobs add 11)."""
    rendered = render(sets=ON | {"fullnameOverride": "z" * 63})
    name = cronjob(rendered)["metadata"]["name"]
    assert len(name) <= 52 and name.endswith("-retention")


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
def test_the_cronjob_and_its_policy_validate_against_the_kubernetes_schemas(kube: str) -> None:
    files, base = VALUE_SETS["production+transcriber"]
    rendered = render(files, sets=base | ON | {"retention.timeZone": "Europe/Berlin"}, kube=kube)
    checked = [m for m in rendered.manifests if m["kind"] in {"CronJob", "NetworkPolicy"}]
    assert {m["kind"] for m in checked} == {"CronJob", "NetworkPolicy"}
    assert schema_errors(checked, kube) == []


def pod_endpoint(labels: dict[str, str], ip: str) -> Endpoint:
    return Endpoint(ip, NAMESPACE, labels, {"http": 8083})


def callers(rendered: Rendered) -> dict[str, Endpoint]:
    (test_pod,) = rendered.of_kind("Pod")
    return {
        "ingress controller": Endpoint("10.0.9.9", "ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}),
        "prometheus": Endpoint("10.0.8.8", "monitoring", {"app.kubernetes.io/name": "prometheus"}),
        "helm test": pod_endpoint(test_pod["metadata"]["labels"], "10.0.5.5"),
        "notifier": pod_endpoint(
            rendered.one("Deployment", "notifier")["spec"]["template"]["metadata"]["labels"], "10.0.0.13"
        ),
        "neighbour": Endpoint("10.0.7.7", NAMESPACE, {"app": "someone-else"}),
    }


def test_with_the_production_policies_the_pod_connects_only_where_erasing_needs_and_nothing_connects_to_it(
    production: Rendered, tmp_path: Path
) -> None:
    """The production example gives it its own list (MongoDB, MinIO, the providers' HTTPS): no Kafka, SMTP or OTLP."""
    policies = production.of_kind("NetworkPolicy")
    pod = pod_endpoint(pod_template(production)["metadata"]["labels"], "10.0.0.30")
    notifier = callers(production)["notifier"]

    def reached(src: Endpoint) -> set[str]:
        return {name for name, (dst, port) in DESTINATIONS.items() if connects(policies, NAMESPACE, src, dst, port)}

    assert reached(notifier) == NOTIFIER_REACHES
    assert reached(pod) == {"mongodb", "s3", "https"}
    # Without a list of its own it goes where the notifier goes.
    mongodb = {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mongodb"}}}]}
    notifier_only = {"networkPolicy": {"enabled": True, "egress": {"restrict": True, "components": {
        "notifier": [{**mongodb, "ports": [{"port": 27017, "protocol": "TCP"}]}]}}}}  # fmt: skip
    values = tmp_path / "notifier-egress.yaml"
    values.write_text(json.dumps(notifier_only), encoding="utf-8")
    shared = render((values,), sets=ON)
    shared_pod = pod_endpoint(pod_template(shared)["metadata"]["labels"], "10.0.0.31")
    policies = shared.of_kind("NetworkPolicy")
    assert {n for n, (dst, port) in DESTINATIONS.items() if connects(policies, NAMESPACE, shared_pod, dst, port)} == {
        "mongodb"
    }
    for name, src in callers(production).items():
        for port in (8083, 8080, 80):
            assert not connects(policies, NAMESPACE, src, pod, port), (name, port)


def test_with_policies_but_open_egress_nothing_connects_in_and_the_denied_ranges_stay_denied() -> None:
    rendered = render_set("everything mounted, policies without egress rules", ON)
    policy = rendered.named("NetworkPolicy", "zs-zoomsymbl-retention")
    assert policy["spec"]["policyTypes"] == ["Ingress"] and not policy["spec"].get("ingress")
    policies = rendered.of_kind("NetworkPolicy")
    pod = pod_endpoint(pod_template(rendered)["metadata"]["labels"], "10.0.0.30")
    assert [name for name, src in callers(rendered).items() if connects(policies, NAMESPACE, src, pod, 8083)] == []
    metadata, port = DESTINATIONS["metadata"]
    assert not connects(policies, NAMESPACE, pod, metadata, port)
    mongodb, port = DESTINATIONS["mongodb"]
    assert connects(policies, NAMESPACE, pod, mongodb, port)


def test_without_policies_the_denied_ranges_still_hold_for_the_cronjobs_pods(enabled: Rendered) -> None:
    """The retention CronJob's pod and the operator pod (the ops CronJob, on by default)."""
    assert [m["metadata"]["name"] for m in enabled.of_kind("NetworkPolicy")] == ["zs-zoomsymbl-denied-egress"]
    metadata, port = DESTINATIONS["metadata"]
    jobs = {m["metadata"]["name"]: m["spec"]["jobTemplate"]["spec"]["template"] for m in enabled.of_kind("CronJob")}
    assert set(jobs) == {"zs-zoomsymbl-retention", "zs-zoomsymbl-ops"}
    for n, template in enumerate(jobs.values()):
        pod = pod_endpoint(template["metadata"]["labels"], f"10.0.0.{30 + n}")
        assert not connects(enabled.of_kind("NetworkPolicy"), NAMESPACE, pod, metadata, port)


@pytest.mark.parametrize(
    ("sets", "complaint"),
    [
        ({"retention.schedule": "5"}, "/retention/schedule"),
        ({"retention.schedule": "daily"}, "/retention/schedule"),
        ({"retention.schedule": "TZ=UTC 17 3 * * *"}, "/retention/schedule"),
        ({"retention.schedule": "0 17 3 * * *"}, "/retention/schedule"),
        ({"retention.schedule": "@daily"}, None),
        ({"retention.schedule": "*/30 2 * * 1-5"}, None),
        ({"retention.limit": "0"}, "/retention/limit"),
        ({"retention.limit": "10001"}, "/retention/limit"),
        ({"retention.limit": "many"}, "/retention/limit"),
        ({"retention.limit": "1"}, None),
        ({"retention.limit": "10000"}, None),
        ({"retention.enabled": "yes"}, "/retention/enabled"),
        ({"retention.timeZone": "../../etc/passwd"}, "/retention/timeZone"),
        ({"retention.timeZone": "America/Argentina/Buenos_Aires"}, None),
        ({"retention.backoffLimit": "100"}, "/retention/backoffLimit"),
        ({"retention.activeDeadlineSeconds": "0"}, "/retention/activeDeadlineSeconds"),
        ({"retention.activeDeadlineSeconds": "604800"}, "/retention/activeDeadlineSeconds"),
        ({"retention.startingDeadlineSeconds": "5"}, "/retention/startingDeadlineSeconds"),
        ({"retention.concurrencyPolicy": "Allow"}, "additional properties 'concurrencyPolicy' not allowed"),
        ({"retention.resources.limit.memory": "1Gi"}, "additional properties 'limit' not allowed"),
    ],
)
def test_the_schema_refuses_what_the_cronjob_or_the_command_would_refuse(
    sets: dict[str, str], complaint: str | None
) -> None:
    assert_schema_verdict(ON | sets, complaint)


@pytest.mark.parametrize("files", [(), (PRODUCTION_VALUES,)], ids=["defaults", "production"])
def test_helm_lint_strict_passes_with_the_cronjob(files: tuple[Path, ...]) -> None:
    args = ["lint", "--strict", str(CHART), "--kube-version", KUBE_VERSIONS[0]]
    for path in files:
        args += ["--values", str(path)]
    proc = run_helm(args + set_args(ON), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_runbook_documents_every_retention_value() -> None:
    runbook = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    keys: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict) and path not in {"retention.resources", "retention.podAnnotations"}:
            for key, child in node.items():
                walk(child, f"{path}.{key}")
        else:
            keys.append(path)

    walk(load_values()["retention"], "retention")
    assert [key for key in keys if not re.search(rf"`{re.escape(key)}[`:( ]", runbook)] == []
