"""Names the API server refuses past 63 characters stay within it for the longest names Helm allows.

Helm takes a release name of up to 53 characters and a fullnameOverride of any length (the chart cuts it to 63).
A Service's name is a DNS label (at most 63 characters), and a Job's name is copied into the job-name labels of
its pods (a label value: at most 63). `helm template` does not check either, the API server refuses the object,
so the install fails half-way.
"""

from __future__ import annotations

import re

import pytest

from tests.deploy.helm_chart import CHART, DEFAULT_KUBE, NAMESPACE, Rendered, parse, render, run_helm, set_args

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# Every object of the chart that has a name, with the optional ones on.
EVERYTHING = {
    "transcriber.enabled": "true",
    "retention.enabled": "true",
    "networkPolicy.enabled": "true",
    "ingress.enabled": "true",
    "ingest.autoscaling.enabled": "true",
}
LONGEST_RELEASE = "r" * 53  # Helm's limit of a release name
LONGEST_RELEASE_WITH_CHART_NAME = "zoomsymbl-" + "r" * 43  # the full name is then the release name itself


def render_release(release: str, sets: dict[str, str]) -> Rendered:
    args = ["template", release, str(CHART), "--namespace", NAMESPACE, "--kube-version", DEFAULT_KUBE]
    return Rendered(parse(run_helm([*args, *set_args(sets)]).stdout))


@pytest.fixture(
    params=["release-53", "release-with-chart-name", "fullname-override-63"],
    scope="module",
)
def longest(request: pytest.FixtureRequest) -> Rendered:
    if request.param == "release-53":
        return render_release(LONGEST_RELEASE, EVERYTHING)
    if request.param == "release-with-chart-name":
        return render_release(LONGEST_RELEASE_WITH_CHART_NAME, EVERYTHING)
    return render(sets=EVERYTHING | {"fullnameOverride": "z" * 63})


def test_every_service_name_is_a_dns_label(longest: Rendered) -> None:
    """The transcriber's Service was "<52 characters>-transcriber": 64 characters."""
    services = longest.of_kind("Service")
    assert len(services) == 6
    too_long = [m["metadata"]["name"] for m in services if not DNS_LABEL.match(m["metadata"]["name"])]
    too_long += [m["metadata"]["name"] for m in services if len(m["metadata"]["name"]) > 63]
    assert too_long == []


def test_every_job_name_fits_in_its_pods_job_name_label(longest: Rendered) -> None:
    """The topics Job (pre-install) was "<63 characters>-topics": the install failed before anything started."""
    (job,) = longest.of_kind("Job")
    name = job["metadata"]["name"]
    assert len(name) <= 63 and name.endswith("-topics")
    assert not name.endswith("--topics")


def test_every_label_value_is_at_most_63_characters(longest: Rendered) -> None:
    too_long = []
    for manifest in longest.manifests:
        labels = dict(manifest["metadata"].get("labels") or {})
        for where in ("template", "jobTemplate"):
            labels |= ((manifest.get("spec") or {}).get(where) or {}).get("metadata", {}).get("labels") or {}
        too_long += [(manifest["kind"], key) for key, value in labels.items() if len(str(value)) > 63]
    assert too_long == []


def test_names_of_short_releases_are_unchanged() -> None:
    """No name an installed release has moves (a renamed Service or Deployment would be replaced on upgrade)."""
    rendered = render(sets={"transcriber.enabled": "true"})
    assert {m["metadata"]["name"] for m in rendered.of_kind("Service")} == {
        f"zs-zoomsymbl-{c}" for c in ("ingest", "mixer", "submitter", "notifier", "transcriber", "web")
    }
    assert [m["metadata"]["name"] for m in rendered.of_kind("Job")] == ["zs-zoomsymbl-topics"]
    # The longest names that fitted before keep their 52-character stem.
    long = render_release(LONGEST_RELEASE, {"transcriber.enabled": "true"})
    assert long.one("Service", "ingest")["metadata"]["name"] == "r" * 52 + "-ingest"
    assert long.one("Service", "submitter")["metadata"]["name"] == "r" * 52 + "-submitter"


@pytest.mark.parametrize(
    ("release", "sets", "full_name"),
    [
        ("1st-team", {}, "1st-team-zoomsymbl"),  # Helm takes a leading digit; a Service name does not
        ("eu.prod", {}, "eu.prod-zoomsymbl"),  # nor a dot
        ("zoomsymbl", {"fullnameOverride": "Zoom.Symbl"}, "Zoom.Symbl"),
    ],
)
def test_a_full_name_no_service_can_carry_is_refused_before_anything_is_installed(
    release: str, sets: dict[str, str], full_name: str
) -> None:
    """The API server refused the Services after the pre-install topics Job had run: an install failed half-way."""
    args = ["template", release, str(CHART), "--namespace", NAMESPACE, "--kube-version", DEFAULT_KUBE]
    proc = run_helm([*args, *set_args(sets)], check=False)
    assert proc.returncode != 0 and proc.stdout == ""
    assert f'the full name "{full_name}"' in proc.stderr and "set fullnameOverride" in proc.stderr


def test_a_leading_digit_or_dot_in_the_release_name_is_fine_with_a_full_name_override() -> None:
    rendered = render_release("1st.team", {"fullnameOverride": "team-one"})
    assert {m["metadata"]["name"] for m in rendered.of_kind("Service")} >= {"team-one-ingest", "team-one-web"}
