from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.logs import redact
from zoomsymbl_common.settings import InfraSettings, load_settings
from zoomsymbl_common.tenants import TenantConfig, load_tenants


class _Needy(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZOOMSYMBL_TESTSVC_")
    callback_secret: str = Field(min_length=8)
    port: int = 1


def test_missing_required_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZOOMSYMBL_TESTSVC_CALLBACK_SECRET", raising=False)
    monkeypatch.setenv("ZOOMSYMBL_TESTSVC_PORT", "not-a-number")
    with pytest.raises(ConfigError) as info:
        load_settings(_Needy)
    assert "ZOOMSYMBL_TESTSVC_CALLBACK_SECRET" in str(info.value)
    assert "ZOOMSYMBL_TESTSVC_PORT" in info.value.variables


def test_infra_settings_read_their_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOOMSYMBL_KAFKA_BOOTSTRAP", "k1:9092,k2:9092")
    monkeypatch.setenv("ZOOMSYMBL_MONGO_URI", "mongodb://user:pw-secret@db/")
    infra = load_settings(InfraSettings)
    assert infra.kafka_bootstrap == "k1:9092,k2:9092"
    assert "pw-secret" not in repr(infra)


def test_single_tenant_from_env_registers_its_secrets() -> None:
    tenants = load_tenants(
        {
            "ZOOMSYMBL_TENANT_ID": "acme",
            "ZOOMSYMBL_TENANT_ZOOM_WEBHOOK_SECRET": "whsec-very-secret-1",
            "ZOOMSYMBL_TENANT_ALLOWED_USERS": "a@x.test, b@x.test",
            "ZOOMSYMBL_TENANT_PROVIDER": "assemblyai",
        }
    )
    tenant = tenants.get("acme")
    assert tenant is not None and tenants.default() == tenant
    assert tenant.allowed_users == ("a@x.test", "b@x.test")
    assert tenant.provider == "assemblyai"
    assert redact("sig whsec-very-secret-1 end") == "sig [redacted] end"


def test_no_webhook_secret_means_no_tenant() -> None:
    assert load_tenants({}).all() == []


def test_tenants_file(tmp_path: Path) -> None:
    path = tmp_path / "tenants.json"
    path.write_text(
        json.dumps(
            {
                "default_tenant": "beta",
                "tenants": [
                    {"id": "alpha", "zoom_webhook_secret": "s1-secret"},
                    {"id": "beta", "zoom_webhook_secret": "s2-secret", "max_channels": 8},
                ],
            }
        )
    )
    tenants = load_tenants({"ZOOMSYMBL_TENANTS_FILE": str(path)})
    assert [t.id for t in tenants.all()] == ["alpha", "beta"]
    default = tenants.default()
    assert default is not None and default.max_channels == 8


@pytest.mark.parametrize(
    "content",
    ["{not json", json.dumps({"tenants": []}), json.dumps({"tenants": [{"id": "Bad/Id", "zoom_webhook_secret": "x"}]})],
)
def test_bad_tenants_file_is_a_config_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "tenants.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_tenants({"ZOOMSYMBL_TENANTS_FILE": str(path)})
    assert info.value.variables == ("ZOOMSYMBL_TENANTS_FILE",)


@pytest.mark.parametrize(
    ("language", "provider", "accepted"),
    [
        ("en-US", "assemblyai", True),
        ("pt_BR", "whisper", True),
        ("zh-Hant-TW", "whisper", True),
        ("auto", "whisper", True),
        ("auto", "symbl", False),  # Symbl's API takes a languageCode only
        ("de DE", "whisper", False),
        ("en-" + "x" * 40, "whisper", False),  # the work order holds 32 characters: refused at load, not per meeting
        ("", "whisper", False),
    ],
)
def test_a_tenants_language_is_a_tag_and_auto_only_for_whisper(language: str, provider: str, accepted: bool) -> None:
    tenant = {"id": "t", "zoom_webhook_secret": "x", "provider": provider, "language": language}
    if provider == "symbl":
        tenant |= {"symbl_app_id": "a", "symbl_app_secret": "b"}
    if accepted:
        assert TenantConfig.model_validate(tenant).language == language
    else:
        with pytest.raises(ValidationError, match="language"):
            TenantConfig.model_validate(tenant)


@pytest.mark.parametrize(("provider", "accepted"), [("assemblyai", True), ("symbl", False), ("zoom", False)])
def test_auto_is_detection_where_the_provider_offers_it(provider: str, accepted: bool) -> None:
    """AssemblyAI detects the language (``language_detection``); before, its tenants were refused ``auto``."""
    tenant = {"id": "t", "zoom_webhook_secret": "x", "provider": provider, "language": "auto"}
    if provider == "symbl":
        tenant |= {"symbl_app_id": "a", "symbl_app_secret": "b"}
    if accepted:
        assert TenantConfig.model_validate(tenant).language == "auto"
    else:
        with pytest.raises(ValidationError, match="language 'auto'"):
            TenantConfig.model_validate(tenant)


def test_infra_settings_register_the_mongo_password_and_s3_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOOMSYMBL_MONGO_URI", "mongodb://svc:mongo-pw-4711@db:27017/zoomsymbl")
    monkeypatch.setenv("ZOOMSYMBL_S3_SECRET_KEY", "s3-secret-key-4711")
    InfraSettings()
    line = redact("connect mongodb://svc:mongo-pw-4711@db:27017/ with s3-secret-key-4711")
    assert line == "connect mongodb://svc:[redacted]@db:27017/ with [redacted]"


SECRET_VALUE = "whsec-misspelled-0123456789"


def test_a_misspelled_tenant_key_names_the_key_but_never_prints_its_value(tmp_path: Path) -> None:
    path = tmp_path / "tenants.json"
    tenant = {"id": "acme", "zoom_webhook_secret": "whsec-ok-secret", "zoom_client_secrett": SECRET_VALUE}
    path.write_text(json.dumps({"tenants": [{"id": "ok", "zoom_webhook_secret": "whsec-ok-2"}, tenant]}))
    with pytest.raises(ConfigError) as info:
        load_tenants({"ZOOMSYMBL_TENANTS_FILE": str(path)})
    message = str(info.value)
    assert "tenants[1].zoom_client_secrett" in message and "extra_forbidden" in message
    assert SECRET_VALUE not in message and "whsec-ok-secret" not in message


def test_an_invalid_tenant_variable_never_prints_a_value() -> None:
    env = {
        "ZOOMSYMBL_TENANT_ID": "Not/Valid",
        "ZOOMSYMBL_TENANT_ZOOM_WEBHOOK_SECRET": SECRET_VALUE,
        "ZOOMSYMBL_TENANT_MAX_CHANNELS": "many-" + SECRET_VALUE,
    }
    with pytest.raises(ConfigError) as info:
        load_tenants(env)
    assert "max_channels" in str(info.value) and SECRET_VALUE not in str(info.value)
    env["ZOOMSYMBL_TENANT_MAX_CHANNELS"] = "8"
    with pytest.raises(ConfigError) as info:
        load_tenants(env)
    assert "id: String should match pattern" in str(info.value) and "Not/Valid" not in str(info.value)


def test_speech_models_default_to_stt_3_7_then_universal_2_and_are_read_from_env_and_file(tmp_path: Path) -> None:
    env = {"ZOOMSYMBL_TENANT_ID": "acme", "ZOOMSYMBL_TENANT_ZOOM_WEBHOOK_SECRET": "whsec-models-1"}
    default = load_tenants(env).get("acme")
    assert default is not None
    assert default.assemblyai_speech_models == ("assemblyai-stt-3-7", "universal-2")
    env["ZOOMSYMBL_TENANT_ASSEMBLYAI_SPEECH_MODELS"] = "universal-3-5-pro, universal-2"
    pinned = load_tenants(env).get("acme")
    assert pinned is not None and pinned.assemblyai_speech_models == ("universal-3-5-pro", "universal-2")
    path = tmp_path / "tenants.json"
    tenant = {"id": "beta", "zoom_webhook_secret": "s2-secret", "assemblyai_speech_models": ["assemblyai-stt-3-7"]}
    path.write_text(json.dumps({"tenants": [tenant]}))
    beta = load_tenants({"ZOOMSYMBL_TENANTS_FILE": str(path)}).get("beta")
    assert beta is not None and beta.assemblyai_speech_models == ("assemblyai-stt-3-7",)


@pytest.mark.parametrize(
    ("models", "problem"),
    [
        ([], "at least 1 item"),
        (
            ["universal2"],
            "Input should be 'assemblyai-stt-3-7', 'universal-3-5-pro', 'universal-3-pro' or 'universal-2'",
        ),
        (["best"], "literal_error"),
        (["universal-2", "universal-2"], "a model is listed twice"),
        (["assemblyai-stt-3-7", "universal-3-5-pro", "universal-3-pro", "universal-2", "universal-2"], "at most 4"),
        ("universal-2", "tuple_type"),
    ],
)
def test_speech_models_a_submission_would_fail_on_are_refused_when_the_tenants_load(
    tmp_path: Path, models: object, problem: str
) -> None:
    path = tmp_path / "tenants.json"
    tenant = {"id": "acme", "zoom_webhook_secret": "whsec-models-2", "assemblyai_speech_models": models}
    path.write_text(json.dumps({"tenants": [tenant]}))
    with pytest.raises(ConfigError) as info:
        load_tenants({"ZOOMSYMBL_TENANTS_FILE": str(path)})
    assert "tenants[0].assemblyai_speech_models" in str(info.value) and problem in str(info.value)
    assert "whsec-models-2" not in str(info.value)


def test_an_unknown_speech_model_in_the_env_form_names_the_variable() -> None:
    env = {
        "ZOOMSYMBL_TENANT_ZOOM_WEBHOOK_SECRET": "whsec-models-3",
        "ZOOMSYMBL_TENANT_ASSEMBLYAI_SPEECH_MODELS": "assemblyai-stt-3-7,universal-2,nano",
    }
    with pytest.raises(ConfigError) as info:
        load_tenants(env)
    assert "assemblyai_speech_models.2" in str(info.value) and "universal-2" in str(info.value)


def test_the_env_form_takes_the_reconciliation_settings() -> None:
    # Missing from the env form: an env-configured tenant never got its reconciliation digest.
    env = {
        "ZOOMSYMBL_TENANT_ZOOM_WEBHOOK_SECRET": "whsec-env-4",
        "ZOOMSYMBL_TENANT_ADMIN_EMAILS": "ops@example.com, it@example.com",
        "ZOOMSYMBL_TENANT_RECONCILE_EXPECT": "any",
    }
    (tenant,) = load_tenants(env).all()
    assert (tenant.admin_emails, tenant.reconcile_expect) == (("ops@example.com", "it@example.com"), "any")


def test_a_misspelt_tenant_variable_is_refused_by_its_name() -> None:
    env = {"ZOOMSYMBL_TENANT_ZOOM_WEBHOOK_SECRET": "whsec-env-5", "ZOOMSYMBL_TENANT_ADMIN_EMAIL": "ops@example.com"}
    with pytest.raises(ConfigError) as info:
        load_tenants(env)
    assert "admin_email" in str(info.value) and "whsec-env-5" not in str(info.value)
