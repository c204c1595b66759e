"""The chart's Jobs are scheduled where the service whose image they run may be: the retention CronJob like the
notifier, the topics Job (and the helm test pod) like ingest, unless their own nodeSelector, tolerations, affinity
or priorityClassName say otherwise. Without this, a cluster whose nodes need a selector or a toleration for the
chart's pods left the Jobs' pods Pending (the topics Job blocks every install and upgrade)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.helm_chart import KUBE_VERSIONS, Manifest, Rendered, render, run_helm, schema_errors, template_args

SCHEDULING_KEYS = ("nodeSelector", "tolerations", "affinity", "priorityClassName")
# (the Job's values key, the service whose image it runs and whose scheduling it falls back to)
JOBS = {"retention": "notifier", "topics": "ingest"}


def placement(tag: str) -> dict[str, Any]:
    """A distinct value of each scheduling key, recognisable by ``tag``."""
    return {
        "nodeSelector": {"pool": f"{tag}-pool"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": tag, "effect": "NoSchedule"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": [tag]}]}]
                }
            }
        },
        "priorityClassName": f"{tag}-priority",
    }


def render_with(tmp_path: Path, values: dict[str, Any], kube: str = KUBE_VERSIONS[0]) -> Rendered:
    path = tmp_path / "values.json"  # JSON is YAML: helm reads it as a values file
    values = values | {"retention": {"enabled": True} | values.get("retention", {})}
    path.write_text(json.dumps(values), encoding="utf-8")
    return render((path,), kube=kube)


def job_pod(rendered: Rendered, job: str) -> Manifest:
    if job == "retention":
        spec = rendered.one("CronJob", "retention")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    else:
        spec = rendered.one("Job", "topics")["spec"]["template"]["spec"]
    assert isinstance(spec, dict)
    return spec


def scheduling(pod: Manifest) -> dict[str, Any]:
    return {key: pod[key] for key in SCHEDULING_KEYS if key in pod}


@pytest.mark.parametrize(("job", "service"), JOBS.items())
def test_a_job_is_scheduled_like_the_service_whose_image_it_runs(tmp_path: Path, job: str, service: str) -> None:
    rendered = render_with(tmp_path, {service: placement(service)})
    assert scheduling(job_pod(rendered, job)) == placement(service)
    service_pod = rendered.one("Deployment", service)["spec"]["template"]["spec"]
    assert scheduling(job_pod(rendered, job)) == scheduling(service_pod)


@pytest.mark.parametrize(("job", "service"), JOBS.items())
def test_the_jobs_own_values_win_key_by_key(tmp_path: Path, job: str, service: str) -> None:
    own = {key: value for key, value in placement(job).items() if key in ("nodeSelector", "priorityClassName")}
    rendered = render_with(tmp_path, {service: placement(service), job: own})
    expected = placement(service) | own
    assert scheduling(job_pod(rendered, job)) == expected
    # The service keeps its own.
    assert scheduling(rendered.one("Deployment", service)["spec"]["template"]["spec"]) == placement(service)


def test_the_helm_test_pod_is_scheduled_like_ingest(tmp_path: Path) -> None:
    rendered = render_with(tmp_path, {"ingest": placement("ingest")})
    (pod,) = rendered.of_kind("Pod")
    assert scheduling(pod["spec"]) == placement("ingest")


def test_by_default_no_job_gets_any_scheduling_constraint(tmp_path: Path) -> None:
    rendered = render_with(tmp_path, {})
    for job in JOBS:
        assert scheduling(job_pod(rendered, job)) == {}, job
    (pod,) = rendered.of_kind("Pod")
    assert scheduling(pod["spec"]) == {}


@pytest.mark.parametrize("kube", [KUBE_VERSIONS[0], KUBE_VERSIONS[-1]])
def test_the_scheduled_jobs_validate_against_the_kubernetes_schemas(tmp_path: Path, kube: str) -> None:
    rendered = render_with(tmp_path, {service: placement(service) for service in JOBS.values()}, kube=kube)
    checked = [rendered.one("CronJob", "retention"), rendered.one("Job", "topics"), *rendered.of_kind("Pod")]
    assert len(checked) == 3
    assert schema_errors(checked, kube) == []


@pytest.mark.parametrize("job", list(JOBS))
def test_the_schema_refuses_a_misspelt_or_mistyped_scheduling_value(job: str) -> None:
    wrong_type = run_helm(template_args(sets={f"{job}.nodeSelector": "pool-a"}), check=False)
    assert wrong_type.returncode != 0 and "nodeSelector" in wrong_type.stderr
    misspelt = run_helm(template_args(sets={f"{job}.nodeSelectr.pool": "a"}), check=False)
    assert misspelt.returncode != 0 and "nodeSelectr" in misspelt.stderr
