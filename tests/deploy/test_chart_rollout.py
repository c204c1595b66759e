"""How the chart's Deployments roll and are drained (docs/operations.md, "Upgrade" and "Scaling").

A rollout must be able to finish on the cluster the values describe (a GPU transcriber whose every GPU is taken), must
not be declared stalled while a pod is still inside its startup probe's budget (Helm 4's `--wait` fails the release at
once on a Deployment's ProgressDeadlineExceeded), and a node drain must not take every replica an HPA added at once.
"""

from __future__ import annotations

import pytest

from tests.deploy.helm_chart import (
    EVERY_SERVICE,
    PRODUCTION_VALUES,
    SERVICES,
    TRANSCRIBER_VALUES,
    Rendered,
    render,
    run_helm,
    schema_errors,
    template_args,
)

KUBE_DEFAULT_PROGRESS_DEADLINE = 600  # seconds: a Deployment's progressDeadlineSeconds when the field is left out
VALUE_SETS = {
    "defaults": ((), EVERY_SERVICE),
    "production": ((PRODUCTION_VALUES, TRANSCRIBER_VALUES), {}),
}


def _strategy(rendered: Rendered, service: str) -> dict[str, object]:
    strategy = rendered.one("Deployment", service)["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    return dict(strategy["rollingUpdate"])


def test_the_gpu_transcriber_rolls_without_a_spare_gpu() -> None:
    # Two replicas on two GPUs: a surge pod asks for a third GPU, stays Pending, and with maxUnavailable 0 no old pod
    # ever leaves: every `helm upgrade` that touched the pod template (any shared setting) hung until its timeout.
    rendered = render((PRODUCTION_VALUES, TRANSCRIBER_VALUES))
    (container,) = rendered.one("Deployment", "transcriber")["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert _strategy(rendered, "transcriber") == {"maxSurge": 0, "maxUnavailable": 1}
    # The services that serve traffic, or have no scarce resource, still add the new pod before taking one away.
    for service in ("ingest", "mixer", "submitter", "notifier", "web"):
        assert _strategy(rendered, service) == {"maxSurge": 1, "maxUnavailable": 0}, service


def test_each_services_rolling_update_is_a_value() -> None:
    sets = EVERY_SERVICE | {
        "mixer.rollingUpdate.maxSurge": "0",
        "mixer.rollingUpdate.maxUnavailable": "1",
        "transcriber.rollingUpdate.maxSurge": "25%",
        "transcriber.rollingUpdate.maxUnavailable": "0",
    }
    rendered = render(sets=sets)
    assert _strategy(rendered, "mixer") == {"maxSurge": 0, "maxUnavailable": 1}
    assert _strategy(rendered, "transcriber") == {"maxSurge": "25%", "maxUnavailable": 0}
    assert schema_errors(rendered.of_kind("Deployment"), "1.30.0") == []


@pytest.mark.parametrize(
    ("sets", "complaint"),
    [
        ({"mixer.rollingUpdate.maxUnavailable": "0", "mixer.rollingUpdate.maxSurge": "0"}, "mixer.rollingUpdate"),
        ({"web.rollingUpdate.maxSurge": "0%", "web.rollingUpdate.maxUnavailable": "0"}, "web.rollingUpdate"),
        ({"ingest.rollingUpdate.maxSurge": "-1"}, "maxSurge"),
        ({"ingest.rollingUpdate.maxUnavailable": "half"}, "maxUnavailable"),
        ({"ingest.rollingUpdate.maxUnavailable": "150%"}, "maxUnavailable"),
    ],
    ids=["both-zero", "both-zero-percent", "negative", "not-a-number", "over-100-percent"],
)
def test_a_rolling_update_that_could_never_progress_is_refused(sets: dict[str, str], complaint: str) -> None:
    # Kubernetes refuses maxSurge and maxUnavailable both 0 only when the Deployment is applied: after the topics
    # hook ran, half-way through the install.
    proc = run_helm(template_args(sets=sets), check=False)
    assert proc.returncode != 0 and complaint in proc.stderr, proc.stderr


@pytest.mark.parametrize("values", list(VALUE_SETS), ids=list(VALUE_SETS))
def test_a_pod_inside_its_startup_budget_does_not_stall_the_rollout(values: str) -> None:
    files, sets = VALUE_SETS[values]
    rendered = render(files, sets=sets)
    for service in SERVICES:
        spec = rendered.one("Deployment", service)["spec"]
        (container,) = spec["template"]["spec"]["containers"]
        startup = container["startupProbe"]
        budget = startup["periodSeconds"] * startup["failureThreshold"]
        deadline = spec.get("progressDeadlineSeconds", KUBE_DEFAULT_PROGRESS_DEADLINE)
        # The transcriber may take 60 x 10 s to load its model; Kubernetes' 600 s counted from the pod's creation
        # (scheduling, the image pull included) declared the rollout stalled first, and Helm 4 failed the upgrade.
        # At least Kubernetes' own 600 s is left for scheduling, the pull and readiness.
        assert deadline >= budget + KUBE_DEFAULT_PROGRESS_DEADLINE, (service, deadline, budget)


def test_a_longer_startup_budget_moves_the_deadline_with_it() -> None:
    sets = EVERY_SERVICE | {"transcriber.probes.startup.failureThreshold": "180"}
    spec = render(sets=sets).one("Deployment", "transcriber")["spec"]
    assert spec["progressDeadlineSeconds"] == 180 * 10 + KUBE_DEFAULT_PROGRESS_DEADLINE


@pytest.mark.parametrize("service", ["mixer", "submitter", "transcriber", "ingest"])
def test_an_autoscaled_service_has_a_disruption_budget_even_from_a_minimum_of_one(service: str) -> None:
    # An HPA at minReplicas 1 may have scaled out to maxReplicas: without a budget a drain of several nodes evicted
    # every replica at once, and each cut its work in hand short together.
    sets = EVERY_SERVICE | {f"{service}.autoscaling.enabled": "true", f"{service}.autoscaling.minReplicas": "1"}
    rendered = render(sets=sets)
    pdb = rendered.one("PodDisruptionBudget", service)
    assert pdb["spec"]["maxUnavailable"] == 1
    deployment = rendered.one("Deployment", service)
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


def test_a_single_replica_without_autoscaling_still_has_no_budget() -> None:
    rendered = render(sets=EVERY_SERVICE)
    for service in ("mixer", "submitter", "transcriber"):
        assert [p for p in rendered.of_kind("PodDisruptionBudget") if service in p["metadata"]["name"]] == []
    one_max = render(sets={"mixer.autoscaling.enabled": "true", "mixer.autoscaling.maxReplicas": "1"})
    assert [p for p in one_max.of_kind("PodDisruptionBudget") if "mixer" in p["metadata"]["name"]] == []


@pytest.mark.parametrize("values", list(VALUE_SETS), ids=list(VALUE_SETS))
def test_a_drain_may_evict_pods_that_are_not_ready(values: str) -> None:
    # With the default policy (IfHealthyBudget) pods not ready while Kafka or MongoDB were away counted against the
    # budget: kubectl drain of their node retried its evictions for good, blocking a node-pool upgrade in an outage.
    files, sets = VALUE_SETS[values]
    pdbs = render(files, sets=sets).of_kind("PodDisruptionBudget")
    assert pdbs
    for pdb in pdbs:
        assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow", pdb["metadata"]["name"]
