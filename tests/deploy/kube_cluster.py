"""The local control plane of scripts/cluster.sh for tests: start/stop it, run kubectl and helm against it."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.helm_chart import HELM, ROOT

SCRIPT = ROOT / "scripts" / "cluster.sh"
# As in scripts/cluster.sh: CLUSTER_DIR moves binaries and run state (with CLUSTER_ETCD_PORT, CLUSTER_API_PORT
# a second cluster can run beside the first).
CLUSTER_DIR = Path(os.environ.get("CLUSTER_DIR") or ROOT / ".cache" / "cluster")
BINARIES = ("zoomsymbl-cluster", "kubectl", "kwok", "stages.yaml")
# Everything a PodSecurity admission warning or refusal says contains one of these.
POD_SECURITY_MARKERS = ("PodSecurity", "would violate")


def missing_cache() -> str | None:
    """Why the cluster test cannot run here, or None when the binaries and helm are built."""
    absent = [name for name in BINARIES if not (CLUSTER_DIR / "bin" / name).is_file()]
    if absent:
        return f".cache/cluster/bin lacks {', '.join(absent)}: `make cluster-test` builds it (about 15 min cold)"
    if not helm_path().is_file():
        return f"{helm_path()} is missing: run `make helm`"
    return None


def helm_path() -> Path:
    """The helm binary the cluster test drives (ZS_HELM, else .cache/bin/helm)."""
    return HELM


def pod_security_lines(text: str) -> list[str]:
    """The lines of ``text`` that come from PodSecurity admission."""
    return [line for line in text.splitlines() if any(marker in line for marker in POD_SECURITY_MARKERS)]


@dataclass
class Kube:
    """kubectl and helm against the local cluster, with helm's own state kept in ``home``."""

    home: Path
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        kubeconfig = str(CLUSTER_DIR / "run" / "kubeconfig")
        helm_dirs = {f"HELM_{kind}_HOME": str(self.home / kind.lower()) for kind in ("CACHE", "CONFIG", "DATA")}
        return {**os.environ, "KUBECONFIG": kubeconfig, **helm_dirs}

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl; raises with its output when ``check`` and it fails."""
        return self._run([str(CLUSTER_DIR / "bin" / "kubectl"), *args], stdin, check, timeout)

    def helm(self, *args: str, check: bool = True, timeout: float = 420) -> subprocess.CompletedProcess[str]:
        """Run helm; raises with its output when ``check`` and it fails."""
        return self._run([str(helm_path()), *args], None, check, timeout)

    def timed_helm(self, step: str, *args: str) -> str:
        """Run helm, record its wall time as ``step`` and return stdout + stderr (it must succeed)."""
        started = time.monotonic()
        proc = self.helm(*args)
        self.timings[step] = time.monotonic() - started
        return proc.stdout + proc.stderr

    def get(self, *args: str) -> Any:
        """``kubectl get ARGS -o json`` as data."""
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def apply(self, manifest: dict[str, Any], *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``kubectl apply`` one object given as data."""
        return self.kubectl("apply", "-f", "-", *extra, stdin=json.dumps(manifest), check=check)

    def wait_until(self, what: str, predicate: Any, timeout: float = 90) -> None:
        """Poll ``predicate()`` until it is true, or fail naming ``what``."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not reached within {timeout} s")
            time.sleep(0.5)

    def _run(
        self, argv: Sequence[str], stdin: str | None, check: bool, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            list(argv), input=stdin, capture_output=True, text=True, timeout=timeout, env=self.env, cwd=ROOT
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(argv[1:])} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc


@contextmanager
def running_cluster(home: Path) -> Iterator[Kube]:
    """Start the control plane (scripts/cluster.sh up), yield a Kube, always stop what was started."""
    started = time.monotonic()
    up = subprocess.run(["bash", str(SCRIPT), "up"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    if up.returncode != 0:
        pytest.fail(f"scripts/cluster.sh up failed ({up.returncode}):\n{up.stderr[-4000:]}")
    kube = Kube(home)
    kube.timings["cluster up (certs, etcd, apiserver, controllers, kwok, node Ready)"] = time.monotonic() - started
    try:
        yield kube
    finally:
        down = subprocess.run(["bash", str(SCRIPT), "down"], capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert down.returncode == 0, down.stderr


def restricted_namespace(name: str) -> dict[str, Any]:
    """A namespace where the PodSecurity admission plugin enforces (and warns about) "restricted"."""
    labels = {
        f"pod-security.kubernetes.io/{mode}{suffix}": value
        for mode in ("enforce", "warn", "audit")
        for suffix, value in (("", "restricted"), ("-version", "latest"))
    }
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def restricted_pod(name: str, *, allow_privilege_escalation: bool) -> dict[str, Any]:
    """A pod that meets Pod Security "restricted" except, if asked, for allowPrivilegeEscalation."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "main",
                    "image": "registry.invalid/pause:1",
                    "securityContext": {
                        "allowPrivilegeEscalation": allow_privilege_escalation,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def namespaced_objects(kube: Kube, namespace: str) -> list[str]:
    """kind/name of every object in ``namespace`` of every listable kind, events left out."""
    kinds = kube.kubectl("api-resources", "--verbs=list", "--namespaced", "-o", "name").stdout.split()
    kinds = [k for k in kinds if k not in ("events", "events.events.k8s.io")]
    items = kube.get(",".join(kinds), "-n", namespace, "--ignore-not-found")["items"]
    return sorted(f"{item['kind']}/{item['metadata']['name']}" for item in items)


def hook_runs(kube: Kube, namespace: str, job: str) -> int:
    """How many Jobs called ``job`` have existed (distinct uids in the job controller's events)."""
    events = kube.get(
        "events", "-n", namespace, "--field-selector", f"involvedObject.kind=Job,involvedObject.name={job}"
    )
    return len({event["involvedObject"]["uid"] for event in events["items"]})
