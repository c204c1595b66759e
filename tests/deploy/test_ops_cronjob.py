"""The operator pod (ops.enabled, on by default): a suspended CronJob, never due, whose Job template is a pod in the
notifier's image with exactly the notifier pod's configuration, credentials and tenants file, waiting for
``kubectl exec``; selected by none of the notifier's objects, fenced by its own NetworkPolicy, ended by its deadline,
and nothing else of the chart changed by it (docs/operations.md, "The operator pod"). Without policies, the denied
ranges hold for it: tests/deploy/test_retention_cronjob.py checks both CronJobs' pods."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from tests.deploy.helm_chart import (
    KUBE_VERSIONS,
    MONITORING_API,
    NAMESPACE,
    ROOT,
    Manifest,
    Rendered,
    assert_schema_verdict,
    cronjob_pod,
    load_values,
    only_container,
    render,
    render_text,
    schema_errors,
)
from tests.deploy.network_policy import Endpoint, connects
from tests.deploy.test_retention_cronjob import (
    DESTINATIONS,
    FIXED_KEYS,
    NOTIFIER_REACHES,
    VALUE_SETS,
    callers,
    documents,
    notifier_pod,
    pod_endpoint,
    render_set,
    selected_by_others,
)

OFF = {"ops.enabled": "false"}


@pytest.fixture(scope="module")
def defaults() -> Rendered:
    return render()


@pytest.fixture(scope="module")
def production() -> Rendered:
    """The production example (policies with per-service egress allow-lists)."""
    return render_set("production+transcriber")


def cronjob(rendered: Rendered) -> Manifest:
    return rendered.one("CronJob", "ops")


def job_spec(rendered: Rendered) -> Manifest:
    spec = cronjob(rendered)["spec"]["jobTemplate"]["spec"]
    assert isinstance(spec, dict)
    return spec


def pod_template(rendered: Rendered) -> Manifest:
    return cronjob_pod(rendered, "ops")


def container(rendered: Rendered) -> Manifest:
    return only_container(pod_template(rendered))


def test_the_cronjob_never_runs_on_its_own(defaults: Rendered) -> None:
    spec = cronjob(defaults)["spec"]
    assert spec["suspend"] is True
    assert spec["concurrencyPolicy"] == "Forbid"
    # A finished operator Job goes (the pod's own log is the toolbox's two lines; the commands printed to kubectl).
    assert spec["successfulJobsHistoryLimit"] == 0


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_turning_it_off_removes_the_cronjob_and_its_policy_and_changes_nothing_else(name: str) -> None:
    files, base = VALUE_SETS[name]
    base = base | FIXED_KEYS
    on = documents(render_text(files, sets=base, api_versions=MONITORING_API))
    off = documents(render_text(files, sets=base | OFF, api_versions=MONITORING_API))
    fullname = "zs-zoomsymbl"
    removed = {("CronJob", f"{fullname}-ops")}
    denied = ("NetworkPolicy", f"{fullname}-denied-egress")
    if any(kind == "NetworkPolicy" and (kind, n) != denied for kind, n in off):  # networkPolicy.enabled
        removed.add(("NetworkPolicy", f"{fullname}-ops"))
    assert set(on) - set(off) == removed
    assert set(off) <= set(on)
    changed = {key for key in off if on[key] != off[key]}
    assert changed <= {denied}
    if denied in changed:
        last = "retention" if "retention]" in off[denied] else "web"  # the production example runs retention
        assert on[denied] == off[denied].replace(f", {last}]", f", {last}, ops]")


def test_its_process_waits_for_kubectl_exec_and_the_module_it_names_exists(defaults: Rendered) -> None:
    main = container(defaults)
    assert main["command"][:2] == ["python", "-m"]
    module = importlib.import_module(main["command"][2])
    assert callable(module.main)
    assert "args" not in main
    for absent in ("ports", "startupProbe", "livenessProbe", "readinessProbe", "lifecycle"):
        assert absent not in main, absent


def test_a_forgotten_pod_ends_and_a_failed_one_is_not_started_again(defaults: Rendered) -> None:
    values = load_values()["ops"]
    spec = job_spec(defaults)
    assert spec["activeDeadlineSeconds"] == values["activeDeadlineSeconds"] <= 86400
    assert spec["ttlSecondsAfterFinished"] == values["ttlSecondsAfterFinished"]
    assert spec["backoffLimit"] == 0
    assert pod_template(defaults)["spec"]["restartPolicy"] == "Never"
    own = render(sets={"ops.activeDeadlineSeconds": "600", "ops.ttlSecondsAfterFinished": "0"})
    assert (job_spec(own)["activeDeadlineSeconds"], job_spec(own)["ttlSecondsAfterFinished"]) == (600, 0)


def test_a_stopping_pod_gives_the_commands_running_in_it_the_grace_period(defaults: Rendered) -> None:
    # The toolbox waits for them on SIGTERM (tests/common/test_ops_toolbox.py); the kubelet's SIGKILL ends the wait.
    grace = load_values()["ops"]["terminationGracePeriodSeconds"]
    assert pod_template(defaults)["spec"]["terminationGracePeriodSeconds"] == grace >= 300
    own = render(sets={"ops.terminationGracePeriodSeconds": "45"})
    assert pod_template(own)["spec"]["terminationGracePeriodSeconds"] == 45


def test_the_pod_runs_in_the_notifiers_image() -> None:
    digest = "sha256:" + "b" * 64
    for sets in ({}, {"notifier.image.repository": "registry.example.com/notifier", "notifier.image.digest": digest}):
        rendered = render(sets=sets)
        (notifier,) = notifier_pod(rendered)["containers"]
        assert container(rendered)["image"] == notifier["image"]
        assert container(rendered)["imagePullPolicy"] == notifier["imagePullPolicy"]
    assert container(rendered)["image"] == f"registry.example.com/notifier@{digest}"


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_the_pod_reads_exactly_what_the_notifiers_pod_reads(name: str) -> None:
    """Every command (replay and topics need Kafka, link --send SMTP and the page key, forget the providers' keys in
    the tenants file) finds there what it finds in the notifier's pod."""
    rendered = render_set(name)
    (notifier,) = notifier_pod(rendered)["containers"]
    main = container(rendered)
    for key in ("envFrom", "env", "volumeMounts"):
        assert main[key] == notifier[key], key
    assert pod_template(rendered)["spec"]["volumes"] == notifier_pod(rendered)["volumes"]
    names = {var["name"] for var in main["env"]}
    assert {"ZOOMSYMBL_MONGO_URI", "ZOOMSYMBL_NOTIFIER_SMTP_PASSWORD", "ZOOMSYMBL_KAFKA_SECURITY_PROTOCOL"} <= names


def test_the_pod_is_hardened_like_the_notifiers(defaults: Rendered) -> None:
    spec = dict(defaults.pod_specs())["CronJob/zs-zoomsymbl-ops"]
    notifier = notifier_pod(defaults)
    for key in ("securityContext", "automountServiceAccountToken", "serviceAccountName", "enableServiceLinks"):
        assert spec[key] == notifier[key], key
    assert spec["automountServiceAccountToken"] is False
    main = container(defaults)
    assert main["securityContext"] == notifier["containers"][0]["securityContext"]
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    assert main["resources"]["requests"]["memory"] and main["resources"]["limits"]["memory"]


def test_it_is_scheduled_where_the_notifier_is_unless_told_otherwise() -> None:
    placed = {"notifier.nodeSelector.pool": "ops", "notifier.priorityClassName": "high"}
    spec = pod_template(render(sets=placed))["spec"]
    assert (spec["nodeSelector"], spec["priorityClassName"]) == ({"pool": "ops"}, "high")
    own = pod_template(render(sets=placed | {"ops.nodeSelector.pool": "admin"}))["spec"]
    assert own["nodeSelector"] == {"pool": "admin"}


def test_no_object_of_the_notifier_selects_the_operator_pod(production: Rendered) -> None:
    """With the notifier's labels its Service would send webhooks to the operator pod and its PDB count it."""
    labels = pod_template(production)["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "ops"
    assert selected_by_others(production, labels, "zs-zoomsymbl-ops") == []


def test_the_cronjob_name_is_within_kubernetes_bound() -> None:
    name = cronjob(render(sets={"fullnameOverride": "z" * 63}))["metadata"]["name"]
    assert len(name) <= 52 and name.endswith("-ops")


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
def test_the_cronjob_and_its_policy_validate_against_the_kubernetes_schemas(kube: str) -> None:
    files, base = VALUE_SETS["production+transcriber"]
    rendered = render(files, sets=base, kube=kube)
    checked = [m for m in rendered.manifests if m["kind"] in {"CronJob", "NetworkPolicy"}]
    assert "zs-zoomsymbl-ops" in {m["metadata"]["name"] for m in checked if m["kind"] == "CronJob"}
    assert schema_errors(checked, kube) == []


def test_with_the_production_policies_the_pod_goes_where_the_notifier_goes_and_nothing_connects_to_it(
    production: Rendered, tmp_path: Path
) -> None:
    policies = production.of_kind("NetworkPolicy")
    pod = pod_endpoint(pod_template(production)["metadata"]["labels"], "10.0.0.40")

    def reached(src: Endpoint, rules: list[Manifest]) -> set[str]:
        return {name for name, (dst, port) in DESTINATIONS.items() if connects(rules, NAMESPACE, src, dst, port)}

    assert reached(pod, policies) == NOTIFIER_REACHES
    for name, src in callers(production).items():
        for port in (8083, 8080, 80):
            assert not connects(policies, NAMESPACE, src, pod, port), (name, port)
    # A list of its own replaces the notifier's.
    mongodb = {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mongodb"}}}]}
    only_mongodb = {"networkPolicy": {"enabled": True, "egress": {"restrict": True, "components": {
        "ops": [{**mongodb, "ports": [{"port": 27017, "protocol": "TCP"}]}]}}}}  # fmt: skip
    values = tmp_path / "ops-egress.yaml"
    values.write_text(json.dumps(only_mongodb), encoding="utf-8")
    own = render((values,))
    own_pod = pod_endpoint(pod_template(own)["metadata"]["labels"], "10.0.0.41")
    assert reached(own_pod, own.of_kind("NetworkPolicy")) == {"mongodb"}


@pytest.mark.parametrize(
    ("sets", "complaint"),
    [
        ({"ops.enabled": "yes"}, "/ops/enabled"),
        ({"ops.activeDeadlineSeconds": "0"}, "/ops/activeDeadlineSeconds"),
        ({"ops.activeDeadlineSeconds": "604801"}, "/ops/activeDeadlineSeconds"),
        ({"ops.ttlSecondsAfterFinished": "-1"}, "/ops/ttlSecondsAfterFinished"),
        ({"ops.terminationGracePeriodSeconds": "0"}, "/ops/terminationGracePeriodSeconds"),
        ({"ops.terminationGracePeriodSeconds": "86401"}, "/ops/terminationGracePeriodSeconds"),
        ({"ops.schedule": "@daily"}, "additional properties 'schedule' not allowed"),
        ({"ops.activeDeadlineSeconds": "60"}, None),
        ({"ops.enabled": "false"}, None),
    ],
)
def test_the_schema_refuses_what_kubernetes_would_refuse_or_the_chart_does_not_offer(
    sets: dict[str, str], complaint: str | None
) -> None:
    assert_schema_verdict(sets, complaint)


def test_the_runbook_documents_every_ops_value() -> None:
    runbook = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    keys = [f"ops.{key}" for key in load_values()["ops"]]
    assert [key for key in keys if f"`{key}" not in runbook] == []
