"""The chart on a real Kubernetes v1.36.3 control plane (scripts/cluster.sh) in Pod Security "restricted" namespaces.

Install with the defaults and with the production example, `helm test`, upgrade, rollback, uninstall and
what stays behind, each checked against the real API server, admission plugins and controllers; kwok plays
the kubelet, so pods turn Ready without running a container (images and probes are not exercised here).
The tests run in file order and share one cluster and release; they skip unless `make cluster-test` has
built the binaries. Step times are written to .cache/cluster/timings-<helm version>.txt.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.helm_chart import CHART, PRODUCTION_VALUES, SERVICES
from tests.deploy.kube_cluster import (
    CLUSTER_DIR,
    Kube,
    hook_runs,
    missing_cache,
    namespaced_objects,
    pod_security_lines,
    restricted_namespace,
    restricted_pod,
    running_cluster,
)

_missing = missing_cache()
pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(_missing is not None, reason=f"no local cluster build: {_missing}"),
    pytest.mark.timeout(600),
]

K8S_VERSION = "v1.36.3"
DEFAULTS_NS, PRODUCTION_NS = "zs-defaults", "zs-production"
RELEASE = "zs"
PROD_RELEASE = "zoomsymbl"  # the production example's own labels name this release
PROD_FULLNAME = PROD_RELEASE  # a release named like the chart: objects are "zoomsymbl-<service>"
AUTOSCALED = ("ingest", "mixer", "submitter")
# What a namespace holds on its own (the root CA bundle, the default service account).
NAMESPACE_BASELINE = ["ConfigMap/kube-root-ca.crt", "ServiceAccount/default"]
SERVICE_MONITOR_CRD: dict[str, Any] = {
    # A stand-in for the Prometheus Operator's CRD: only its API has to be served for the chart to use it.
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {
        "group": "monitoring.coreos.com",
        "scope": "Namespaced",
        "names": {"kind": "ServiceMonitor", "listKind": "ServiceMonitorList", "plural": "servicemonitors",
                  "singular": "servicemonitor"},
        "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
            "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}],
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    with running_cluster(tmp_path_factory.mktemp("helm-home")) as kube:
        for name in (DEFAULTS_NS, PRODUCTION_NS):
            kube.apply(restricted_namespace(name))
        try:
            yield kube
        finally:
            version = kube.helm("version", "--template", "{{.Version}}").stdout.strip()
            lines = [f"{seconds:7.1f} s  {step}" for step, seconds in kube.timings.items()]
            out = CLUSTER_DIR / f"timings-helm-{version}.txt"
            out.write_text(f"helm {version}, Kubernetes {K8S_VERSION}\n" + "\n".join(lines) + "\n", encoding="utf-8")


def no_pod_security_warnings(output: str) -> str:
    found = pod_security_lines(output)
    assert found == [], "PodSecurity warnings in helm's output:\n" + "\n".join(found)
    return output


def deployments(kube: Kube, namespace: str) -> dict[str, dict[str, Any]]:
    """Deployments of the namespace by component label."""
    items = kube.get("deployments", "-n", namespace)["items"]
    return {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in items}


def settled(deployment: dict[str, Any]) -> bool:
    """The Deployment controller has seen the latest spec, every replica is updated and ready, and no pod of an older
    ReplicaSet is left (``kubectl rollout status``'s rule). ``readyReplicas`` counts the old pods too: mid-rollout, one
    old pod still ready beside a new one not yet ready read as "2 ready, 2 updated" (seen under load: the next read
    had 1 ready)."""
    status, want = deployment["status"], deployment["spec"]["replicas"]
    observed = status.get("observedGeneration") == deployment["metadata"]["generation"]
    counts = (status.get("replicas"), status.get("updatedReplicas"), status.get("readyReplicas"))
    return bool(observed and counts == (want, want, want))


def namespace_exists(kube: Kube, name: str) -> bool:
    """``name`` exists, active or still terminating."""
    return bool(kube.kubectl("get", "namespace", name, "--ignore-not-found", "-o", "name").stdout.strip())


def rollout_state(kube: Kube, namespace: str) -> str:
    """The Deployments, ReplicaSets and pods of ``namespace`` and its last events, for a failure's message."""
    listing = kube.kubectl("get", "deployments,replicasets,pods", "-n", namespace, "-o", "wide", check=False)
    events = kube.kubectl("get", "events", "-n", namespace, "--sort-by=.lastTimestamp", check=False)
    return f"{listing.stdout}{listing.stderr}\n{events.stdout[-6000:]}"


def assert_all_ready(kube: Kube, namespace: str) -> dict[str, dict[str, Any]]:
    # Helm 3's --wait returns once the new ReplicaSet is ready; the Deployment's own status may lag it a moment
    # (seen once: readyReplicas 3, updatedReplicas 2 right after a rollback), so it is given a few seconds.
    kube.wait_until(
        f"every Deployment of {namespace} settled",
        lambda: all(settled(d) for d in deployments(kube, namespace).values()),
        timeout=30,
    )
    found = deployments(kube, namespace)
    assert sorted(found) == ["ingest", "mixer", "notifier", "submitter", "web"]
    for component, deployment in found.items():
        status = deployment["status"]
        want = deployment["spec"]["replicas"]
        counts = (status.get("replicas"), status.get("updatedReplicas"), status.get("readyReplicas"))
        assert counts == (want, want, want), (component, status)
    return found


def log_level(kube: Kube, namespace: str, release: str) -> str:
    data = kube.get("configmap", f"{release}-zoomsymbl-config", "-n", namespace)["data"]
    return str(data["ZOOMSYMBL_LOG_LEVEL"])


def pods_gone(kube: Kube, namespace: str) -> bool:
    return not kube.get("pods", "-n", namespace)["items"]


# ----------------------------------------------------------------------------------------------- the cluster


def test_the_cluster_is_the_pinned_release_with_a_ready_node(kube: Kube) -> None:
    server = kube.kubectl("version", "-o", "json").stdout
    assert f'"gitVersion": "{K8S_VERSION}"' in server
    (node,) = kube.get("nodes")["items"]
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"


def test_the_node_holds_a_lease_that_kwok_renews(kube: Kube) -> None:
    """Without a Lease (kwok's --node-lease-duration-seconds) the node's only heartbeat is kwok's node-heartbeat
    stage, every 10 minutes: 50 s after each heartbeat the node lifecycle controller marked the node not ready and
    every pod's Ready condition False, and a test reading a Deployment then saw one replica less (the upgrade test
    of a CI run on 2026-12-07 read ingest (2, 2, 1) right after it had settled at (2, 2, 2))."""
    lease = kube.get("lease", "kwok-node-0", "-n", "kube-node-lease")
    assert lease["spec"]["leaseDurationSeconds"] == 40
    first = lease["spec"]["renewTime"]
    kube.wait_until(
        "kwok renews the node's lease",
        lambda: kube.get("lease", "kwok-node-0", "-n", "kube-node-lease")["spec"]["renewTime"] != first,
        timeout=40,
    )


def node_not_ready_events(kube: Kube) -> list[str]:
    """The node lifecycle controller's events of a node it marked not ready (each one marks every pod not ready)."""
    events = kube.get("events", "-n", "default", "--field-selector", "reason=NodeNotReady")["items"]
    return [f"{e['involvedObject']['name']} at {e.get('lastTimestamp') or e.get('eventTime')}" for e in events]


def test_pod_security_refuses_a_pod_that_allows_privilege_escalation(kube: Kube) -> None:
    # The negative control: the admission plugin is in the path and enforces "restricted" here.
    refused = kube.apply(restricted_pod("escalates", allow_privilege_escalation=True), "-n", DEFAULTS_NS, check=False)
    assert refused.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in refused.stderr
    assert "allowPrivilegeEscalation != false" in refused.stderr
    assert kube.kubectl("get", "pod", "escalates", "-n", DEFAULTS_NS, check=False).returncode != 0
    # The same pod without that one setting is admitted (server-side dry run), so the field alone was refused.
    kube.apply(restricted_pod("escalates", allow_privilege_escalation=False), "-n", DEFAULTS_NS, "--dry-run=server")


def test_a_pod_security_warning_reaches_helms_output(kube: Kube, tmp_path: Path) -> None:
    # The "no warnings" checks below mean something only if helm prints the plugin's warnings.
    chart = tmp_path / "warns"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: warns\nversion: 0.1.0\n", encoding="utf-8")
    pod = restricted_pod("x", allow_privilege_escalation=True)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "warns"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "warns"}},
            "template": {"metadata": {"labels": {"app": "warns"}}, "spec": pod["spec"]},
        },
    }
    (chart / "templates" / "deployment.yaml").write_text(json.dumps(deployment), encoding="utf-8")
    proc = kube.helm("install", "warns", str(chart), "-n", DEFAULTS_NS)
    kube.helm("uninstall", "warns", "-n", DEFAULTS_NS, "--wait")
    assert any("allowPrivilegeEscalation" in line for line in pod_security_lines(proc.stdout + proc.stderr))


# ----------------------------------------------------------------------------------------------- defaults


def test_install_with_defaults_waits_for_every_service(kube: Kube) -> None:
    output = kube.timed_helm(
        "install --wait (defaults)", "install", RELEASE, str(CHART), "-n", DEFAULTS_NS, "--wait", "--timeout", "5m"
    )
    no_pod_security_warnings(output)
    found = assert_all_ready(kube, DEFAULTS_NS)
    assert {c: d["spec"]["replicas"] for c, d in found.items()} == {
        "ingest": 2,
        "mixer": 1,
        "submitter": 1,
        "notifier": 2,
        "web": 2,
    }
    # The topics hook ran once, succeeded and deleted itself (hook-delete-policy hook-succeeded).
    assert hook_runs(kube, DEFAULTS_NS, f"{RELEASE}-zoomsymbl-topics") == 1
    assert kube.get("jobs", "-n", DEFAULTS_NS)["items"] == []
    assert len(kube.get("pdb", "-n", DEFAULTS_NS)["items"]) == 3  # ingest, notifier, web (2 replicas each)


def test_helm_test_passes(kube: Kube) -> None:
    output = kube.timed_helm("helm test (defaults)", "test", RELEASE, "-n", DEFAULTS_NS, "--timeout", "2m")
    no_pod_security_warnings(output)
    assert "Succeeded" in output
    assert kube.get("pods", "-n", DEFAULTS_NS, "-l", "app.kubernetes.io/component=test")["items"] == []


def pod_ready(pod: dict[str, Any]) -> str | None:
    return next((c["status"] for c in pod["status"].get("conditions", []) if c["type"] == "Ready"), None)


def test_an_operator_job_made_from_the_suspended_ops_cronjob_is_admitted_and_cleaned_up(kube: Kube) -> None:
    """docs/operations.md, "The operator pod": ``kubectl create job --from=cronjob/<release>-zoomsymbl-ops`` is what
    operators run; the API server (the namespace's restricted Pod Security included) takes the Job and the pod its
    template makes, and once the pod ends (kwok ends a Job's pod at once; a real one waits for SIGTERM or its
    deadline) the CronJob's history limit deletes the Job. The suspended CronJob itself made no Job."""
    cronjob = f"{RELEASE}-zoomsymbl-ops"
    assert kube.get("cronjob", cronjob, "-n", DEFAULTS_NS)["spec"]["suspend"] is True
    assert kube.get("jobs", "-n", DEFAULTS_NS)["items"] == []
    created = kube.kubectl("create", "job", f"--from=cronjob/{cronjob}", "ops-now", "-n", DEFAULTS_NS)
    no_pod_security_warnings(created.stdout + created.stderr)

    def reasons() -> set[tuple[str, str]]:
        events = kube.get("events", "-n", DEFAULTS_NS)["items"]
        return {
            (e["involvedObject"]["kind"], e["reason"])
            for e in events
            if e["involvedObject"]["name"] == "ops-now"
            or (e["involvedObject"]["name"] == cronjob and "ops-now" in e.get("message", ""))
        }

    kube.wait_until(
        "the operator Job's pod created, ended and the Job deleted",
        lambda: {("Job", "SuccessfulCreate"), ("Job", "Completed"), ("CronJob", "SuccessfulDelete")} <= reasons(),
        timeout=90,
    )
    assert ("Job", "FailedCreate") not in reasons()
    kube.wait_until("the operator Job gone", lambda: kube.get("jobs", "-n", DEFAULTS_NS)["items"] == [], timeout=60)
    assert kube.get("pods", "-n", DEFAULTS_NS, "-l", "job-name=ops-now")["items"] == []


def test_pods_the_node_controller_marked_not_ready_turn_ready_again(kube: Kube) -> None:
    """A node that misses its lease renewals (kwok starved of CPU; before kwok held a lease, every 50 s) has its
    pods' Ready condition set to False by the node lifecycle controller; a kubelet recomputes it once the node
    answers again, and kwok's own stages only ready Pending pods, so without our pod-ready-again stage every later
    rollout in the namespace waited for pods that stayed "Running, not Ready" until helm's timeout (a CI run on
    2026-12-06)."""
    selector = ("-n", DEFAULTS_NS, "-l", "app.kubernetes.io/component=web")
    names = [p["metadata"]["name"] for p in kube.get("pods", *selector)["items"]]
    assert len(names) == 2
    for name in names:  # what the node lifecycle controller's MarkPodsNotReady writes
        patched = kube.kubectl(
            "patch", "pod", name, "-n", DEFAULTS_NS, "--subresource=status", "--type=strategic", "-o", "json",
            "-p", json.dumps({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
        )  # fmt: skip
        assert pod_ready(json.loads(patched.stdout)) == "False"
    kube.wait_until(
        "the web pods Ready again",
        lambda: [pod_ready(p) for p in kube.get("pods", *selector)["items"]] == ["True", "True"],
        timeout=60,
    )
    assert sorted(p["metadata"]["name"] for p in kube.get("pods", *selector)["items"]) == sorted(names)
    assert_all_ready(kube, DEFAULTS_NS)


def test_upgrade_changes_a_value_rolls_the_pods_and_reruns_the_topics_hook(kube: Kube) -> None:
    before = {c: d["metadata"]["generation"] for c, d in deployments(kube, DEFAULTS_NS).items()}
    output = kube.timed_helm(
        "upgrade --wait (logLevel=DEBUG)",
        *("upgrade", RELEASE, str(CHART), "-n", DEFAULTS_NS, "--set", "logLevel=DEBUG", "--wait", "--timeout", "5m"),
    )
    no_pod_security_warnings(output)
    assert log_level(kube, DEFAULTS_NS, RELEASE) == "DEBUG"
    after = assert_all_ready(kube, DEFAULTS_NS)
    # checksum/config changed, so every Deployment got a new pod template.
    assert all(after[c]["metadata"]["generation"] > before[c] for c in before)
    assert hook_runs(kube, DEFAULTS_NS, f"{RELEASE}-zoomsymbl-topics") == 2


def test_rollback_restores_the_first_revision(kube: Kube) -> None:
    output = kube.timed_helm(
        "rollback --wait", "rollback", RELEASE, "1", "-n", DEFAULTS_NS, "--wait", "--timeout", "5m"
    )
    no_pod_security_warnings(output)
    assert log_level(kube, DEFAULTS_NS, RELEASE) == "INFO"
    assert_all_ready(kube, DEFAULTS_NS)
    history = kube.helm("history", RELEASE, "-n", DEFAULTS_NS, "-o", "json").stdout
    assert '"revision":3' in history.replace(" ", "") and '"status":"deployed"' in history.replace(" ", "")


def test_uninstall_leaves_only_what_the_runbook_says(kube: Kube) -> None:
    kube.timed_helm("uninstall --wait (defaults)", "uninstall", RELEASE, "-n", DEFAULTS_NS, "--wait")
    kube.wait_until("the release's pods deleted", lambda: pods_gone(kube, DEFAULTS_NS))
    # docs/operations.md "Uninstall, and what stays": nothing of the release in Kubernetes (no release history
    # either) but the chart-made Secret, kept on purpose (its page key signed every link already e-mailed).
    secret = f"Secret/{RELEASE}-zoomsymbl-secrets"
    assert namespaced_objects(kube, DEFAULTS_NS) == sorted([*NAMESPACE_BASELINE, secret])


# ----------------------------------------------------------------------------------------------- production


def production_prerequisites(kube: Kube) -> None:
    """What the production example expects to exist: its Secret, and the fast-ssd storage class with volumes."""
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "zoomsymbl-credentials", "namespace": PRODUCTION_NS},
        "stringData": {
            "mongo-uri": "mongodb://zoomsymbl:x@mongo.invalid:27017/zoomsymbl",
            "s3-access-key": "access",
            "s3-secret-key": "secret",
            "callback-secret": "0123456789abcdef0123",
            "smtp-password": "smtp",
            "page-key": "0123456789abcdef-page",
            # One tenants file per service (secrets.tenantsPerComponent in the example).
            **{f"tenants-{c}.json": '{"tenants": []}' for c in SERVICES},
        },
    }
    kube.apply(secret)
    kube.apply(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "fast-ssd"},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "WaitForFirstConsumer",
        }
    )
    # Pre-made volumes for the mixer's ephemeral claims (no provisioner here); the PV controller binds them.
    for index in range(6):
        kube.apply(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": f"fast-ssd-{index}"},
                "spec": {
                    "storageClassName": "fast-ssd",
                    "capacity": {"storage": "50Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "hostPath": {"path": f"/nonexistent/fast-ssd-{index}"},
                },
            }
        )


def test_install_with_the_production_example_starts_at_the_hpa_minimum(kube: Kube) -> None:
    production_prerequisites(kube)
    output = kube.timed_helm(
        "install --wait (production example)",
        *("install", PROD_RELEASE, str(CHART), "-n", PRODUCTION_NS, "-f", str(PRODUCTION_VALUES)),
        *("--wait", "--timeout", "5m"),
    )
    no_pod_security_warnings(output)
    found = assert_all_ready(kube, PRODUCTION_NS)
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in kube.get("hpa", "-n", PRODUCTION_NS)["items"]}
    for component in AUTOSCALED:
        name = found[component]["metadata"]["name"]
        # --wait returned with as many ready pods as the HPA keeps at least (2), not 1.
        assert found[component]["status"]["readyReplicas"] == hpas[name]["spec"]["minReplicas"] == 2
    claims = kube.get("pvc", "-n", PRODUCTION_NS)["items"]
    assert len(claims) == 2 and {c["status"]["phase"] for c in claims} == {"Bound"}
    # No Prometheus Operator here: no ServiceMonitor (it would have failed the install), and the notes say so.
    assert "kind: ServiceMonitor" not in kube.helm("get", "manifest", PROD_RELEASE, "-n", PRODUCTION_NS).stdout
    assert "no ServiceMonitor was created" in output
    # One per service (web included), the retention and operator CronJobs', and the denied egress, kept for the pods
    # without an allow-list (Job, test pod).
    assert len(kube.get("networkpolicy", "-n", PRODUCTION_NS)["items"]) == 8
    # The API server took the retention CronJob as the chart wrote it (time zone, pod failure policy).
    cronjob = kube.get("cronjob", f"{PROD_FULLNAME}-retention", "-n", PRODUCTION_NS)
    assert (cronjob["spec"]["schedule"], cronjob["spec"]["timeZone"]) == ("17 3 * * *", "Europe/Berlin")
    template = cronjob["spec"]["jobTemplate"]["spec"]
    assert template["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"] == [1, 2, 4]
    assert template["template"]["spec"]["containers"][0]["args"] == ["--yes", "--limit=500"]
    assert len(kube.get("pdb", "-n", PRODUCTION_NS)["items"]) == 5


def test_upgrade_keeps_the_hpa_scale_and_adds_the_service_monitor_once_served(kube: Kube) -> None:
    mixer = f"{PROD_FULLNAME}-mixer"
    # Stand in for the HPA scaling the mixer to 3: an upgrade must not take it back to the minimum.
    kube.kubectl("scale", f"deployment/{mixer}", "--replicas=3", "-n", PRODUCTION_NS)
    kube.apply(SERVICE_MONITOR_CRD)
    kube.kubectl("wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com", "--timeout=60s")
    output = kube.timed_helm(
        "upgrade --wait (production, ServiceMonitor API served)",
        *("upgrade", PROD_RELEASE, str(CHART), "-n", PRODUCTION_NS, "-f", str(PRODUCTION_VALUES)),
        *("--wait", "--timeout", "5m"),
    )
    no_pod_security_warnings(output)
    found = assert_all_ready(kube, PRODUCTION_NS)
    assert found["mixer"]["spec"]["replicas"] == 3
    assert hook_runs(kube, PRODUCTION_NS, f"{PROD_FULLNAME}-topics") == 2
    (monitor,) = kube.get("servicemonitors", "-n", PRODUCTION_NS)["items"]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_production_helm_test_and_uninstall_keep_only_the_existing_secret(kube: Kube) -> None:
    no_pod_security_warnings(
        kube.timed_helm("helm test (production)", "test", PROD_RELEASE, "-n", PRODUCTION_NS, "--timeout", "2m")
    )
    kube.timed_helm("uninstall --wait (production)", "uninstall", PROD_RELEASE, "-n", PRODUCTION_NS, "--wait")
    kube.wait_until("the release's pods deleted", lambda: pods_gone(kube, PRODUCTION_NS))
    # The ephemeral scratch claims went with their pods; the Secret the user made stays (docs/operations.md).
    kube.wait_until("the scratch claims deleted", lambda: kube.get("pvc", "-n", PRODUCTION_NS)["items"] == [])
    assert namespaced_objects(kube, PRODUCTION_NS) == sorted([*NAMESPACE_BASELINE, "Secret/zoomsymbl-credentials"])


# ----------------------------------------------------------------------------------------------- upgrades

UPGRADE_NS = "zs-upgrade"
UPGRADE_RELEASE = "zu"
UPGRADES = Path(__file__).resolve().parents[1] / "common" / "upgrade"
# Values an install of the first release needed on Helm 4, which drops the null defaults its schema requires;
# the current chart takes the same file, as a user's values file is passed again on upgrade.
UPGRADE_VALUES = {"submitter": {"settings": {"max_part_seconds": 3600, "public_s3_endpoint": "https://s3.example.com"}}}


@pytest.mark.parametrize("release", ["2026-11-24-dbc90eb", "2026-12-04-7dfce1a"])
def test_an_install_of_an_earlier_release_upgrades_to_this_chart_keeping_its_keys(
    kube: Kube, tmp_path: Path, release: str
) -> None:
    """`helm upgrade` from a release's own chart (packaged in tests/common/upgrade): immutable fields (selectors)
    unchanged, the generated callback secret kept (provider callbacks in flight were signed with it), the new
    services ready, `helm test` green."""
    values = tmp_path / "values.yaml"
    values.write_text(json.dumps(UPGRADE_VALUES), encoding="utf-8")
    # The other release's run deletes this namespace; applied while it terminates, this run's objects went with it.
    kube.wait_until(f"namespace {UPGRADE_NS} of an earlier run gone", lambda: not namespace_exists(kube, UPGRADE_NS))
    kube.apply(restricted_namespace(UPGRADE_NS))
    common = ("-n", UPGRADE_NS, "-f", str(values), "--wait", "--timeout", "5m")
    old_chart = UPGRADES / release / "chart.tgz"
    no_pod_security_warnings(
        kube.timed_helm(f"install --wait ({release})", "install", UPGRADE_RELEASE, str(old_chart), *common)
    )
    secret_name = f"{UPGRADE_RELEASE}-zoomsymbl-secrets"
    before = kube.get("secret", secret_name, "-n", UPGRADE_NS)["data"]
    old = deployments(kube, UPGRADE_NS)
    try:
        try:
            output = kube.timed_helm(
                f"upgrade --wait ({release} → this chart)", "upgrade", UPGRADE_RELEASE, str(CHART), *common
            )
        except AssertionError as failed:  # say what never became ready
            raise AssertionError(f"{failed}\n{rollout_state(kube, UPGRADE_NS)}") from None
        no_pod_security_warnings(output)
        found = assert_all_ready(kube, UPGRADE_NS)
        for component, deployment in old.items():
            assert found[component]["spec"]["selector"] == deployment["spec"]["selector"], component
        after = kube.get("secret", secret_name, "-n", UPGRADE_NS)["data"]
        assert after["callback-secret"] == before["callback-secret"]
        if "page-key" in before:  # the release that had the meeting page: its links stay valid
            assert after["page-key"] == before["page-key"]
        else:
            assert len(base64.b64decode(after["page-key"])) == 48
        no_pod_security_warnings(
            kube.timed_helm(f"helm test (upgraded from {release})", "test", UPGRADE_RELEASE, "-n", UPGRADE_NS)
        )
    finally:
        kube.helm("uninstall", UPGRADE_RELEASE, "-n", UPGRADE_NS, "--wait", check=False)
        kube.kubectl("delete", "namespace", UPGRADE_NS, "--wait=true", "--timeout=120s", check=False, timeout=150)


def test_the_node_never_went_not_ready_during_the_run(kube: Kube) -> None:
    """Last in the file: over the whole run (about 2 minutes, beyond the 50 s grace period) the node lifecycle
    controller never marked the node not ready, so no test above read a Deployment while its pods were marked
    not ready for a reason that is not the chart's."""
    assert node_not_ready_events(kube) == []
