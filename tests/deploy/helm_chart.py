"""Rendering the Helm chart for tests: helm from .cache/bin, YAML through PyYAML (kubernetes-validate's dependency)."""

from __future__ import annotations

import base64
import functools
import os
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "zoomsymbl"
PRODUCTION_VALUES = ROOT / "deploy" / "helm" / "examples" / "production-values.yaml"
# Overlay on the production example: the transcriber on GPU nodes with a model from a PVC.
TRANSCRIBER_VALUES = ROOT / "deploy" / "helm" / "examples" / "transcriber-values.yaml"
# `make helm` builds .cache/bin/helm (Helm 4); ZS_HELM names another build to prove the chart with (Helm 3).
HELM = Path(os.environ.get("ZS_HELM") or ROOT / ".cache" / "bin" / "helm")
# Every service: a folder under services/ with a Dockerfile, and a values block of the chart.
SERVICES = ("ingest", "mixer", "submitter", "notifier", "transcriber", "web")
# Services that talk to Kafka (the web service only reads MongoDB and signs S3 URLs: no Kafka credentials).
KAFKA_SERVICES = tuple(s for s in SERVICES if s != "web")
# Services the chart renders only when <service>.enabled (off by default: most tenants use a SaaS provider).
OPTIONAL_SERVICES = ("transcriber",)
# Services the chart renders with its defaults.
DEFAULT_SERVICES = tuple(s for s in SERVICES if s not in OPTIONAL_SERVICES)
# --set values that turn every optional service on: tests that check every service render with them.
EVERY_SERVICE = {f"{service}.enabled": "true" for service in OPTIONAL_SERVICES}
KUBE_VERSIONS = ("1.30.0", "1.31.0", "1.32.0", "1.33.0", "1.34.0")
DEFAULT_KUBE = KUBE_VERSIONS[0]
# The Prometheus Operator's API: `helm template` knows no cluster, so a test that wants the ServiceMonitor says
# the cluster serves it (the chart renders it only then).
MONITORING_API = ("monitoring.coreos.com/v1/ServiceMonitor",)
RELEASE = "zs"
NAMESPACE = "zoomsymbl"

Manifest = dict[str, Any]


def helm_binary() -> Path:
    """The helm binary, or skip: `make helm` (scripts/install_helm.sh) builds it before `make test`."""
    if not HELM.is_file():
        pytest.skip(f"{HELM} is missing: run `make helm` (scripts/install_helm.sh) to build it")
    return HELM


def yaml_module() -> Any:
    """PyYAML, or skip (it comes with kubernetes-validate, which the dev group must list)."""
    return pytest.importorskip("yaml", reason="PyYAML missing: add kubernetes-validate to the dev dependency group")


def run_helm(args: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run helm with ``args`` (30 s timeout); raises with helm's stderr when ``check`` and it fails."""
    proc = subprocess.run([str(helm_binary()), *args], capture_output=True, text=True, timeout=30, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def set_args(values: dict[str, str] | None) -> list[str]:
    """``--set-string``-free ``--set`` arguments (helm parses the types, like a user's command line)."""
    return [arg for key, value in (values or {}).items() for arg in ("--set", f"{key}={value}")]


def template_args(
    values_files: Iterable[Path] = (),
    sets: dict[str, str] | None = None,
    kube: str = DEFAULT_KUBE,
    api_versions: Iterable[str] = (),
) -> list[str]:
    """Arguments of ``helm template`` for the chart with these values (and extra APIs the cluster serves)."""
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", kube]
    for path in values_files:
        args += ["--values", str(path)]
    for api in api_versions:
        args += ["--api-versions", api]
    return args + set_args(sets)


def cronjob_pod(rendered: Rendered, component: str) -> Manifest:
    """The pod template of ``component``'s CronJob (its Job template's)."""
    template = rendered.one("CronJob", component)["spec"]["jobTemplate"]["spec"]["template"]
    assert isinstance(template, dict)
    return template


def only_container(pod: Manifest) -> Manifest:
    """The one container of a pod template (or spec's ``spec``)."""
    (only,) = pod["spec"]["containers"]
    assert isinstance(only, dict)
    return only


def assert_schema_verdict(sets: dict[str, str], complaint: str | None) -> None:
    """``helm template`` with ``sets`` renders (``complaint`` None), or fails naming ``complaint`` (a schema path)."""
    proc = run_helm(template_args(sets=sets), check=False)
    if complaint is None:
        assert proc.returncode == 0, proc.stderr
    else:
        assert proc.returncode != 0, f"{sets} was accepted"
        assert complaint in proc.stderr


@functools.lru_cache(maxsize=64)
def _template_stdout(args: tuple[str, ...]) -> str:
    return run_helm(args).stdout


def render_text(
    values_files: Iterable[Path] = (),
    sets: dict[str, str] | None = None,
    kube: str = DEFAULT_KUBE,
    api_versions: Iterable[str] = (),
) -> str:
    """The rendered manifests as helm prints them (cached: several tests read the same rendering)."""
    return _template_stdout(tuple(template_args(values_files, sets, kube, api_versions)))


def parse(text: str) -> list[Manifest]:
    """Every non-empty YAML document of ``text``."""
    return [doc for doc in yaml_module().safe_load_all(text) if doc]


@dataclass(frozen=True)
class Rendered:
    """The chart's output, with look-ups by kind and component."""

    manifests: list[Manifest]

    def of_kind(self, kind: str) -> list[Manifest]:
        """Every manifest of ``kind``."""
        return [m for m in self.manifests if m["kind"] == kind]

    def one(self, kind: str, component: str) -> Manifest:
        """The single ``kind`` of ``component`` (by the app.kubernetes.io/component label)."""
        found = [m for m in self.of_kind(kind) if component_of(m) == component]
        assert len(found) == 1, f"expected one {kind} for {component!r}, found {len(found)}"
        return found[0]

    def named(self, kind: str, name: str) -> Manifest:
        """The ``kind`` called ``name``."""
        found = [m for m in self.of_kind(kind) if m["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} named {name!r}, found {len(found)}"
        return found[0]

    def pod_specs(self) -> list[tuple[str, Manifest]]:
        """(where, pod spec) of every Deployment, Job, CronJob and bare Pod."""
        specs = [(f"Pod/{m['metadata']['name']}", m["spec"]) for m in self.of_kind("Pod")]
        for kind in ("Deployment", "Job"):
            specs += [(f"{kind}/{m['metadata']['name']}", m["spec"]["template"]["spec"]) for m in self.of_kind(kind)]
        specs += [
            (f"CronJob/{m['metadata']['name']}", m["spec"]["jobTemplate"]["spec"]["template"]["spec"])
            for m in self.of_kind("CronJob")
        ]
        return specs

    def container_env(self, component: str) -> dict[str, Any]:
        """Every env var of a service's container: name → literal value, or the source object (secret, field)."""
        deployment = self.one("Deployment", component)
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        env: dict[str, Any] = {}
        for source in container.get("envFrom", []):
            ref = source.get("configMapRef") or source.get("secretRef")
            kind = "ConfigMap" if "configMapRef" in source else "Secret"
            env.update(self.named(kind, ref["name"]).get("data") or {})
        for var in container.get("env", []):
            env[var["name"]] = var["value"] if "value" in var else var["valueFrom"]
        return env

    def secret_data(self, name: str) -> dict[str, str]:
        """The decoded data of the Secret ``name``."""
        data = self.named("Secret", name).get("data") or {}
        return {key: base64.b64decode(value).decode() for key, value in data.items()}


def component_of(manifest: Manifest) -> str | None:
    """The app.kubernetes.io/component label of ``manifest``."""
    labels = manifest.get("metadata", {}).get("labels") or {}
    value = labels.get("app.kubernetes.io/component")
    return str(value) if value is not None else None


def render(
    values_files: Iterable[Path] = (),
    sets: dict[str, str] | None = None,
    kube: str = DEFAULT_KUBE,
    api_versions: Iterable[str] = (),
) -> Rendered:
    """Render and parse the chart."""
    return Rendered(parse(render_text(values_files, sets, kube, api_versions)))


def load_values(path: Path = CHART / "values.yaml") -> dict[str, Any]:
    """A values file as data."""
    data = yaml_module().safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def schema_errors(manifests: Iterable[Manifest], kube: str) -> list[str]:
    """``kind/name: message`` of each manifest the Kubernetes ``kube`` schemas refuse (strict: no unknown field).

    Skips the calling test when kubernetes-validate is not installed.
    """
    import pytest

    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate missing: add it to the dev group")
    errors: list[str] = []
    for manifest in manifests:
        try:
            kv.validate(manifest, kube, strict=True)
        except (kv.utils.ValidationError, kv.utils.SchemaNotFoundError) as exc:
            errors.append(f"{manifest['kind']}/{manifest['metadata']['name']}: {getattr(exc, 'message', exc)}")
    return errors
