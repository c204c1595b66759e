"""The chart's kafka.security block: TLS and SASL reach every service and the topics Job, read-only and from Secrets."""

from __future__ import annotations

from typing import Any

import pytest
from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.settings import InfraSettings

from tests.deploy.helm_chart import (
    EVERY_SERVICE,
    KAFKA_SERVICES,
    KUBE_VERSIONS,
    PRODUCTION_VALUES,
    SERVICES,
    Manifest,
    Rendered,
    render,
    run_helm,
    template_args,
)

SASL = {
    "kafka.security.protocol": "SASL_SSL",
    "kafka.security.username": "zoomsymbl",
    "kafka.security.existingSecret": "zoomsymbl-kafka-user",
    "kafka.security.ca.secretName": "zoomsymbl-kafka-cluster-ca-cert",
}
MTLS = {
    "kafka.security.protocol": "SSL",
    "kafka.security.ca.configMapName": "corp-kafka-ca",
    "kafka.security.ca.key": "bundle.pem",
    "kafka.security.clientCert.secretName": "zoomsymbl-kafka-tls-user",
}


@pytest.fixture(scope="module")
def sasl() -> Rendered:
    return render([PRODUCTION_VALUES], sets=SASL | EVERY_SERVICE)


def kafka_pods(rendered: Rendered) -> dict[str, Manifest]:
    """Pod spec of every service Deployment and of the topics Job, by component."""
    pods = {service: rendered.one("Deployment", service)["spec"]["template"]["spec"] for service in KAFKA_SERVICES}
    return pods | {"topics": rendered.one("Job", "topics")["spec"]["template"]["spec"]}


def kafka_env(pod: Manifest) -> dict[str, Any]:
    (container,) = pod["containers"]
    return {
        var["name"]: var.get("value", var.get("valueFrom"))
        for var in container.get("env", [])
        if var["name"].startswith("ZOOMSYMBL_KAFKA_")
    }


def mounted(pod: Manifest, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (volumeMount, volume) called ``name`` of the pod's only container."""
    (container,) = pod["containers"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == name)
    volume = next(v for v in pod["volumes"] if v["name"] == name)
    return mount, volume


def test_plaintext_by_default_with_nothing_mounted() -> None:
    for where, pod in kafka_pods(render(sets=EVERY_SERVICE)).items():
        env = kafka_env(pod)
        assert env["ZOOMSYMBL_KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT", where
        assert "ZOOMSYMBL_KAFKA_SASL_PASSWORD" not in env, where
        assert env["ZOOMSYMBL_KAFKA_SSL_CA_FILE"] == env["ZOOMSYMBL_KAFKA_SSL_CERT_FILE"] == "", where
        assert not {v["name"] for v in pod["volumes"]} & {"kafka-ca", "kafka-client-cert"}, where


def test_sasl_ssl_reaches_every_service_and_the_topics_job(sasl: Rendered, monkeypatch: pytest.MonkeyPatch) -> None:
    pods = kafka_pods(sasl)
    assert set(pods) == {*KAFKA_SERVICES, "topics"}
    for where, pod in pods.items():
        env = kafka_env(pod)
        assert env["ZOOMSYMBL_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", where
        assert env["ZOOMSYMBL_KAFKA_SASL_USERNAME"] == "zoomsymbl", where
        password = {"secretKeyRef": {"name": "zoomsymbl-kafka-user", "key": "password"}}
        assert env["ZOOMSYMBL_KAFKA_SASL_PASSWORD"] == password, where
        mount, volume = mounted(pod, "kafka-ca")
        assert mount["readOnly"] is True and env["ZOOMSYMBL_KAFKA_SSL_CA_FILE"] == f"{mount['mountPath']}/ca.crt"
        assert volume["secret"]["secretName"] == "zoomsymbl-kafka-cluster-ca-cert"
        assert volume["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}]
        # What the chart renders is what InfraSettings accepts (the password stands in for the Secret's).
        for name, value in env.items():
            monkeypatch.setenv(name, value if isinstance(value, str) else "scram-password")
        assert InfraSettings().kafka_security_protocol == "SASL_SSL"


def test_each_component_can_log_in_as_its_own_user() -> None:
    # Least privilege: one principal per service and one for the topics Job, each with the ACLs of its row.
    components = (*KAFKA_SERVICES, "topics")
    users = {
        f"kafka.security.users.{c}.{field}": f"zoomsymbl-{c}"
        for c in components
        for field in ("username", "existingSecret")
    }
    sets = {"kafka.security.protocol": "SASL_SSL", "kafka.security.ca.secretName": "ca"} | users | EVERY_SERVICE
    for where, pod in kafka_pods(render(sets=sets)).items():
        env = kafka_env(pod)
        assert env["ZOOMSYMBL_KAFKA_SASL_USERNAME"] == f"zoomsymbl-{where}"
        assert env["ZOOMSYMBL_KAFKA_SASL_PASSWORD"] == {
            "secretKeyRef": {"name": f"zoomsymbl-{where}", "key": "password"}
        }
    # One override beside the chart-wide user: only that component changes.
    mixed = render(sets=SASL | EVERY_SERVICE | {k: v for k, v in users.items() if ".mixer." in k})
    names = {where: kafka_env(pod)["ZOOMSYMBL_KAFKA_SASL_USERNAME"] for where, pod in kafka_pods(mixed).items()}
    assert names == {where: "zoomsymbl-mixer" if where == "mixer" else "zoomsymbl" for where in components}


def test_the_scram_password_is_in_no_configmap_and_no_literal(sasl: Rendered) -> None:
    for configmap in sasl.of_kind("ConfigMap"):
        assert not any(key.startswith("ZOOMSYMBL_KAFKA_SASL_PASSWORD") for key in configmap.get("data") or {})
    for where, pod in kafka_pods(sasl).items():
        (container,) = pod["containers"]
        entry = next(var for var in container["env"] if var["name"] == "ZOOMSYMBL_KAFKA_SASL_PASSWORD")
        assert "value" not in entry, where


def test_mutual_tls_mounts_the_client_certificate_and_a_ca_from_a_configmap() -> None:
    rendered = render(sets=MTLS | EVERY_SERVICE)
    for where, pod in kafka_pods(rendered).items():
        env = kafka_env(pod)
        assert env["ZOOMSYMBL_KAFKA_SECURITY_PROTOCOL"] == "SSL" and "ZOOMSYMBL_KAFKA_SASL_PASSWORD" not in env
        mount, volume = mounted(pod, "kafka-client-cert")
        assert mount["readOnly"] is True, where
        assert env["ZOOMSYMBL_KAFKA_SSL_CERT_FILE"] == f"{mount['mountPath']}/tls.crt"
        assert env["ZOOMSYMBL_KAFKA_SSL_KEY_FILE"] == f"{mount['mountPath']}/tls.key"
        assert volume["secret"]["secretName"] == "zoomsymbl-kafka-tls-user"
        assert volume["secret"]["defaultMode"] == 0o440, "the private key is not world-readable"
        assert volume["secret"]["items"] == [
            {"key": "user.crt", "path": "tls.crt"},
            {"key": "user.key", "path": "tls.key"},
        ]
        _, ca = mounted(pod, "kafka-ca")
        assert ca["configMap"] == {
            "name": "corp-kafka-ca",
            "defaultMode": 0o444,
            "items": [{"key": "bundle.pem", "path": "ca.crt"}],
        }


def test_hostname_check_is_on_unless_turned_off(sasl: Rendered) -> None:
    assert {kafka_env(pod)["ZOOMSYMBL_KAFKA_SSL_CHECK_HOSTNAME"] for pod in kafka_pods(sasl).values()} == {"true"}
    rendered = render(sets=MTLS | EVERY_SERVICE | {"kafka.security.checkHostname": "false"})
    assert {kafka_env(pod)["ZOOMSYMBL_KAFKA_SSL_CHECK_HOSTNAME"] for pod in kafka_pods(rendered).values()} == {"false"}


@pytest.mark.parametrize(
    ("sets", "complaint"),
    [
        ({"kafka.security.protocol": "SASL_PLAINTEXT"}, "/kafka/security/protocol"),
        ({"kafka.security.mechanism": "PLAIN"}, "/kafka/security/mechanism"),
        ({"kafka.security.protocol": "SASL_SSL", "kafka.security.username": "u"}, "kafka.security.existingSecret"),
        ({"kafka.security.username": "u", "kafka.security.existingSecret": "s"}, "set it to SASL_SSL"),
        ({"kafka.security.ca.secretName": "ca"}, "kafka.security.protocol is PLAINTEXT"),
        (MTLS | {"kafka.security.ca.secretName": "ca"}, "secretName or configMapName, not both"),
        ({"kafka.security.sasl": "x"}, "additional properties 'sasl' not allowed"),
        ({"kafka.security.existingSecret": "Not_A_Name"}, "/kafka/security/existingSecret"),
        (
            {"kafka.security.users.mixer.username": "m", "kafka.security.users.mixer.existingSecret": "m"},
            "set it to SASL_SSL",
        ),
        (
            {
                "kafka.security.protocol": "SASL_SSL",
                "kafka.security.users.mixer.username": "m",
                "kafka.security.users.mixer.existingSecret": "m",
            },
            "needs a user for",
        ),
        ({"kafka.security.users.ingress.username": "x"}, "additional properties 'ingress' not allowed"),
    ],
)
def test_incomplete_or_insecure_kafka_security_values_are_refused(sets: dict[str, str], complaint: str) -> None:
    proc = run_helm(template_args(sets=sets), check=False)
    assert proc.returncode != 0, f"{sets} was accepted"
    assert complaint in proc.stderr


def test_chart_refusals_match_the_settings_refusals(monkeypatch: pytest.MonkeyPatch) -> None:
    # The chart refuses SASL_PLAINTEXT through the schema; the services refuse it themselves too.
    monkeypatch.setenv("ZOOMSYMBL_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    with pytest.raises(ConfigError):
        InfraSettings()


def test_secured_rendering_validates_against_the_kubernetes_schema(sasl: Rendered) -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate missing: add it to the dev group")
    kube = KUBE_VERSIONS[-1]
    mtls = render(sets=MTLS | EVERY_SERVICE, kube=kube)
    for manifest in [*sasl.of_kind("Deployment"), *sasl.of_kind("Job"), *mtls.of_kind("Deployment")]:
        kv.validate(manifest, kube, strict=True)


def test_the_web_pod_holds_no_kafka_credentials(sasl: Rendered) -> None:
    # The web service faces the internet and reads only MongoDB and S3: no SCRAM password, CA or client key.
    assert set(SERVICES) - set(KAFKA_SERVICES) == {"web"}
    pod = sasl.one("Deployment", "web")["spec"]["template"]["spec"]
    assert kafka_env(pod) == {}
    assert not {v["name"] for v in pod["volumes"]} & {"kafka-ca", "kafka-client-cert"}
