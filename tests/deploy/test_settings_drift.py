"""No drift between the services' Settings classes and the chart.

Every variable a service reads (its ``Settings`` fields, ``InfraSettings``, the tenants file, OTel) is
set by the chart, every variable the chart sets is read, credentials come only from the Secret, and
the rendered environment actually validates as the service's ``Settings``.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Literal, TypeGuard, get_args, get_origin

import pytest
from pydantic import SecretStr
from pydantic_settings import BaseSettings
from zoomsymbl_common.settings import InfraSettings, env_name
from zoomsymbl_common.tenants import TenantConfig, _SingleTenantEnv, load_tenants

from tests.deploy.helm_chart import (
    CHART,
    EVERY_SERVICE,
    KAFKA_SERVICES,
    PRODUCTION_VALUES,
    SERVICES,
    Rendered,
    load_values,
    render,
)

OTEL_VARS = {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"}
# Set by the chart only to be expanded as $(VAR) inside another variable (OTEL_RESOURCE_ATTRIBUTES).
EXPANSION_ONLY = {"POD_NAME", "POD_NAMESPACE"}
# Fields the chart must never expose, with the reason.
NOT_IN_CHART: dict[str, str] = {}
# Settings filled from other values than <svc>.settings (they must not appear twice).
DERIVED = {
    "http_host",
    "http_port",
    "scratch_dir",
    "scratch_limit_bytes",
    "work_dir",
    "smtp_ca_file",
    "model_dir",
    "page_base_url",
}
# Kafka over SASL_SSL (docs/kafka-security.md): the password from a Secret the release does not own.
KAFKA_SASL = {
    "kafka.security.protocol": "SASL_SSL",
    "kafka.security.username": "zoomsymbl",
    "kafka.security.existingSecret": "zoomsymbl-kafka-user",
    "kafka.security.ca.secretName": "zoomsymbl-kafka-cluster-ca-cert",
}
_KAFKA_SECURITY = ("ZOOMSYMBL_KAFKA_SECURITY_", "ZOOMSYMBL_KAFKA_SASL_", "ZOOMSYMBL_KAFKA_SSL_")
EXTERNAL_SECRETS = {"zoomsymbl-kafka-user": {"password": "kafka-scram-password"}}
FULL_SECRETS = {
    "secrets.mongoUri": "mongodb://user:pw@mongo:27017/",
    "secrets.s3AccessKey": "access",
    "secrets.s3SecretKey": "secret-key",
    "secrets.callbackSecret": "callback-secret-0123456789",
    "secrets.smtpPassword": "app-password",
    "secrets.tenants.default_tenant": "acme",
    "secrets.tenants.tenants[0].id": "acme",
    "secrets.tenants.tenants[0].zoom_webhook_secret": "zoom-secret",
    "secrets.tenants.tenants[0].provider": "assemblyai",
    "secrets.tenants.tenants[0].assemblyai_api_key": "aai-key",
    "secrets.tenants.tenants[0].max_channels": "16",
    "secrets.tenants.tenants[0].allowed_users[0]": "host@example.com",
    "otel.endpoint": "http://tempo:4318",
}


def settings_class(service: str) -> type[BaseSettings]:
    """The service's Settings, or skip while its settings module is not written yet."""
    module_name = f"zoomsymbl_{service}.settings"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            pytest.skip(f"services/{service}/src/zoomsymbl_{service}/settings.py does not exist yet")
        raise
    cls = module.Settings
    assert _is_settings(cls), f"{module_name}.Settings is not a pydantic-settings class"
    return cls


def _is_settings(annotation: object) -> TypeGuard[type[BaseSettings]]:
    return isinstance(annotation, type) and issubclass(annotation, BaseSettings)


def read_vars(cls: type[BaseSettings]) -> dict[str, bool]:
    """Env var → is it a secret, for ``cls`` and the settings classes it embeds (InfraSettings)."""
    names: dict[str, bool] = {}
    for field, info in cls.model_fields.items():
        if _is_settings(info.annotation):
            names.update(read_vars(info.annotation))
        elif field not in NOT_IN_CHART:
            names[env_name(cls, field)] = info.annotation is SecretStr
    return names


_S3_KEYS = frozenset({"ZOOMSYMBL_S3_ACCESS_KEY", "ZOOMSYMBL_S3_SECRET_KEY"})


def service_vars(service: str) -> dict[str, bool]:
    """Everything ``service`` reads from its environment (env var → secret?)."""
    names = read_vars(settings_class(service)) | read_vars(InfraSettings)
    if service not in KAFKA_SERVICES:
        # Kafka's connection security is set only where Kafka is used (the web service gets no credentials).
        names = {name: secret for name, secret in names.items() if not name.startswith(_KAFKA_SECURITY)}
    if service == "ingest":
        # Ingest never touches S3 (the one pod facing the internet): its keys stay out of it.
        names = {name: secret for name, secret in names.items() if name not in _S3_KEYS}
    names["ZOOMSYMBL_TENANTS_FILE"] = False
    return names | dict.fromkeys(OTEL_VARS, False)


@pytest.fixture(scope="module")
def full() -> Rendered:
    return render([PRODUCTION_VALUES], sets=FULL_SECRETS | KAFKA_SASL | EVERY_SERVICE | {"secrets.existingSecret": ""})


@pytest.mark.parametrize("service", SERVICES)
def test_every_variable_the_service_reads_is_set_by_the_chart(service: str, full: Rendered) -> None:
    expected = service_vars(service)
    env = full.container_env(service)
    nulls = {
        env_name(settings_class(service), key)
        for key, value in load_values()[service]["settings"].items()
        if value is None
    }
    missing = sorted(set(expected) - set(env) - nulls)
    assert not missing, f"the chart does not set {missing}: add them to values.yaml ({service}.settings) and the schema"


@pytest.mark.parametrize("service", SERVICES)
def test_every_variable_the_chart_sets_is_read(service: str, full: Rendered) -> None:
    env = full.container_env(service)
    unread = sorted(set(env) - set(service_vars(service)) - EXPANSION_ONLY)
    assert not unread, f"{service} reads none of {unread}: remove them from the chart or add them to its Settings"
    expanded = " ".join(str(value) for value in env.values() if isinstance(value, str))
    for helper in EXPANSION_ONLY:
        assert f"$({helper})" in expanded, f"{helper} is set but never expanded"
    tenant_vars = {
        name.removeprefix("ZOOMSYMBL_TENANT_").lower() for name in env if name.startswith("ZOOMSYMBL_TENANT_")
    }
    assert tenant_vars <= set(_SingleTenantEnv.model_fields)


def test_otel_variables_are_the_sdk_standard_ones() -> None:
    sdk_env = importlib.import_module("opentelemetry.sdk.environment_variables")
    assert {value for value in vars(sdk_env).values() if isinstance(value, str)} >= OTEL_VARS


@pytest.mark.parametrize("service", SERVICES)
def test_credentials_come_only_from_the_secret(service: str, full: Rendered) -> None:
    env = full.container_env(service)
    for name, secret in service_vars(service).items():
        if name not in env:
            continue
        from_secret = isinstance(env[name], dict) and "secretKeyRef" in env[name]
        assert from_secret == secret, f"{name}: secret={secret} but set {'from' if from_secret else 'outside'} a Secret"


@pytest.mark.parametrize("service", SERVICES)
def test_rendered_environment_validates_as_the_service_settings(
    service: str, full: Rendered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cls = settings_class(service)
    secrets = full.secret_data("zs-zoomsymbl-secrets")
    tenants_file = tmp_path / "tenants.json"
    tenants_file.write_text(secrets[f"tenants-{service}.json"], encoding="utf-8")
    for name, value in full.container_env(service).items():
        if isinstance(value, dict) and "secretKeyRef" in value:
            ref = value["secretKeyRef"]
            value = EXTERNAL_SECRETS.get(ref["name"], secrets)[ref["key"]]
        if isinstance(value, str):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("ZOOMSYMBL_TENANTS_FILE", str(tenants_file))
    settings = cls()
    assert settings.model_dump()["http_port"] == load_values()[service]["port"]
    infra = InfraSettings()
    assert infra.mongo_uri.get_secret_value() == FULL_SECRETS["secrets.mongoUri"]
    assert infra.kafka_bootstrap == "zoomsymbl-kafka-kafka-bootstrap.kafka.svc:9092"
    if service in KAFKA_SERVICES:
        assert (infra.kafka_security_protocol, infra.kafka_sasl_username) == ("SASL_SSL", "zoomsymbl")
        assert infra.kafka_sasl_password.get_secret_value() == "kafka-scram-password"
        assert infra.kafka_ssl_ca_file.startswith("/etc/zoomsymbl/")
    tenants = load_tenants()
    assert [t.id for t in tenants.all()] == ["acme"] and tenants.default_id == "acme"
    acme = tenants.get("acme")
    assert acme is not None and acme.provider == "assemblyai" and acme.max_channels == 16
    assert acme.allowed_users == ("host@example.com",)


@pytest.mark.parametrize("service", SERVICES)
def test_values_settings_block_matches_the_settings_fields(service: str) -> None:
    cls = settings_class(service)
    fields = (
        {
            name
            for name, info in cls.model_fields.items()
            if not _is_settings(info.annotation) and info.annotation is not SecretStr
        }
        - DERIVED
        - set(NOT_IN_CHART)
    )
    in_values = set(load_values()[service]["settings"])
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    in_schema = set(schema["properties"][service]["properties"]["settings"]["properties"])
    assert not fields - in_values, f"{service}.settings in values.yaml lacks {sorted(fields - in_values)}"
    assert not in_values - fields, f"{service} has no settings {sorted(in_values - fields)}"
    assert in_schema == in_values, f"values.schema.json and values.yaml disagree: {sorted(in_schema ^ in_values)}"
    assert load_values()[service]["port"] == cls.model_fields["http_port"].default, "chart port ≠ service default"


def test_tenant_schema_matches_tenant_config() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    tenant = schema["$defs"]["tenant"]
    assert set(tenant["properties"]) == set(TenantConfig.model_fields)
    required = {name for name, info in TenantConfig.model_fields.items() if info.is_required()}
    assert set(tenant["required"]) == required


def test_tenant_schema_lists_of_choices_take_exactly_the_tenant_config_items_and_bounds() -> None:
    # A model id the schema refuses cannot be configured through the chart; one it allows fails at start-up.
    tenant = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))["$defs"]["tenant"]
    checked = []
    for name, info in TenantConfig.model_fields.items():
        args = get_args(info.annotation)
        if get_origin(info.annotation) is not tuple or not args or get_origin(args[0]) is not Literal:
            continue
        prop = tenant["properties"][name]
        bounds = {type(m).__name__: getattr(m, "min_length", getattr(m, "max_length", None)) for m in info.metadata}
        assert prop["items"]["enum"] == list(get_args(args[0]))
        assert (prop.get("minItems"), prop.get("maxItems")) == (bounds.get("MinLen"), bounds.get("MaxLen"))
        assert prop.get("uniqueItems") is True
        checked.append(name)
    assert "assemblyai_speech_models" in checked


def test_tenant_schema_allows_exactly_the_tenant_config_choices() -> None:
    # A provider the services know but the schema refuses cannot be configured through the chart at all.
    tenant = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))["$defs"]["tenant"]
    choices = {
        name: list(get_args(info.annotation))
        for name, info in TenantConfig.model_fields.items()
        if get_origin(info.annotation) is Literal
    }
    assert "provider" in choices and "whisper" in choices["provider"]
    assert {name: tenant["properties"][name].get("enum") for name in choices} == choices
