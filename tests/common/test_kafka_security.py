"""Kafka TLS and SASL: the settings, the one helper every client uses, and a real SASL_SSL broker.

The unit tests need nothing. The integration tests start a second, private Kafka (scripts/infra.py
secure-kafka, the cached jars) with a SASL_SSL listener (SCRAM) and a mutual-TLS listener, on free
ports, with its own TLS material, and stop it by its pid afterwards; the shared Kafka is not touched.
"""

from __future__ import annotations

import ast
import asyncio
import logging
import shlex
import ssl
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import TopicAuthorizationFailedError
from faststream.security import BaseSecurity, SASLScram256, SASLScram512
from pydantic import SecretStr
from zoomsymbl_common.errors import ConfigError, KafkaUnavailable
from zoomsymbl_common.events import (
    AudioMixed,
    DeadLetter,
    InsightsReady,
    JobStatusReported,
    JobSubmitted,
    MeetingFailed,
    ReconciliationCompleted,
    RecordingCompleted,
    stable_id,
)
from zoomsymbl_common.kafka import make_broker, publish_event, start_broker, topic_name
from zoomsymbl_common.kafka_security import (
    KafkaSecurityRefused,
    broker_security,
    check_connection,
    client_options,
)
from zoomsymbl_common.logs import REDACTED, redact
from zoomsymbl_common.ops.cli import main as zoomsymbl_main
from zoomsymbl_common.ops.replay import ReplayRequest
from zoomsymbl_common.ops.replay_source import retained
from zoomsymbl_common.settings import InfraSettings, load_settings
from zoomsymbl_common.topics import TopicPlan, base_topics, create_topics, topic_specs
from zoomsymbl_mixer.handlers import GROUP_ID as MIXER_GROUP
from zoomsymbl_notifier.handlers import DIGESTS_GROUP_ID as NOTIFIER_DIGESTS_GROUP
from zoomsymbl_notifier.handlers import FAILURES_GROUP_ID as NOTIFIER_FAILURES_GROUP
from zoomsymbl_notifier.handlers import GROUP_ID as NOTIFIER_GROUP
from zoomsymbl_submitter.handlers import GROUP_ID as SUBMITTER_GROUP
from zoomsymbl_transcriber.handlers import GROUP_ID as TRANSCRIBER_GROUP

from scripts import infra as infra_script
from scripts import secure_kafka
from tests.support.names import token

SECRET = "Sw0rdfish-never-printed"  # a password that must appear in no message and no log line
ROOT = Path(__file__).resolve().parents[2]


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> InfraSettings:
    """InfraSettings from exactly these ZOOMSYMBL_KAFKA_* variables (the others cleared)."""
    for name in InfraSettings.model_fields:
        if name.startswith("kafka_"):
            monkeypatch.delenv(f"ZOOMSYMBL_{name.upper()}", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(f"ZOOMSYMBL_KAFKA_{name.upper()}", value)
    return load_settings(InfraSettings)


# ---------------------------------------------------------------- settings


def test_plaintext_by_default_and_no_security_options(monkeypatch: pytest.MonkeyPatch) -> None:
    infra = settings(monkeypatch)
    assert infra.kafka_security_protocol == "PLAINTEXT"
    assert infra.kafka_sasl_mechanism == "SCRAM-SHA-512" and infra.kafka_ssl_check_hostname is True
    assert client_options(infra) == {} and broker_security(infra) is None


def test_sasl_plaintext_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(monkeypatch, security_protocol="SASL_PLAINTEXT", sasl_username="u", sasl_password=SECRET)
    assert caught.value.variables == ("ZOOMSYMBL_KAFKA_SECURITY_PROTOCOL",)
    assert "use SASL_SSL" in str(caught.value) and SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"security_protocol": "SASL_SSL", "sasl_username": "zoomsymbl"}, {"ZOOMSYMBL_KAFKA_SASL_PASSWORD"}),
        ({"security_protocol": "SASL_SSL", "sasl_password": SECRET}, {"ZOOMSYMBL_KAFKA_SASL_USERNAME"}),
        (
            {"sasl_username": "zoomsymbl", "sasl_password": SECRET},
            {"ZOOMSYMBL_KAFKA_SASL_USERNAME", "ZOOMSYMBL_KAFKA_SASL_PASSWORD", "ZOOMSYMBL_KAFKA_SECURITY_PROTOCOL"},
        ),
        (
            {"security_protocol": "SSL", "sasl_password": SECRET},
            {"ZOOMSYMBL_KAFKA_SASL_PASSWORD", "ZOOMSYMBL_KAFKA_SECURITY_PROTOCOL"},
        ),
        ({"ssl_ca_file": "/ca.pem"}, {"ZOOMSYMBL_KAFKA_SSL_CA_FILE", "ZOOMSYMBL_KAFKA_SECURITY_PROTOCOL"}),
        (
            {"security_protocol": "SSL", "ssl_cert_file": "/client.pem"},
            {"ZOOMSYMBL_KAFKA_SSL_CERT_FILE", "ZOOMSYMBL_KAFKA_SSL_KEY_FILE"},
        ),
    ],
    ids=["no-password", "no-username", "sasl-without-protocol", "sasl-on-ssl", "ca-on-plaintext", "cert-no-key"],
)
def test_incomplete_or_contradictory_sets_name_their_variables(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: set[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(monkeypatch, **env)
    assert set(caught.value.variables) == named
    assert all(name in str(caught.value) for name in named)
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)


def test_the_password_is_redacted_from_logs_once_read(monkeypatch: pytest.MonkeyPatch) -> None:
    password = f"{SECRET}-{uuid.uuid4().hex[:6]}"
    infra = settings(monkeypatch, security_protocol="SASL_SSL", sasl_username="zoomsymbl", sasl_password=password)
    assert password not in repr(infra)
    assert redact(f"login with {password}") == f"login with {REDACTED}"


def test_sasl_ssl_gives_scram_with_a_verifying_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    infra = settings(monkeypatch, security_protocol="sasl_ssl", sasl_username="zoomsymbl", sasl_password=SECRET)
    options = client_options(infra)
    assert options["security_protocol"] == "SASL_SSL" and options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("zoomsymbl", SECRET)
    context = options["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    security = broker_security(infra)
    assert isinstance(security, SASLScram512) and security.use_ssl and security.ssl_context is not None
    sha256 = infra.model_copy(update={"kafka_sasl_mechanism": "SCRAM-SHA-256"})
    assert isinstance(broker_security(sha256), SASLScram256)
    assert client_options(sha256)["sasl_mechanism"] == "SCRAM-SHA-256"


def test_ssl_without_hostname_check_still_verifies_the_certificate(monkeypatch: pytest.MonkeyPatch) -> None:
    infra = settings(monkeypatch, security_protocol="SSL", ssl_check_hostname="false")
    security = broker_security(infra)
    assert type(security) is BaseSecurity and security.use_ssl and security.ssl_context is not None
    assert not security.ssl_context.check_hostname and security.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert set(client_options(infra)) == {"security_protocol", "ssl_context"}


def test_unreadable_tls_files_are_a_config_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-ca.pem"
    infra = settings(monkeypatch, security_protocol="SSL", ssl_ca_file=str(missing))
    with pytest.raises(ConfigError) as caught:
        client_options(infra)
    assert caught.value.variables == ("ZOOMSYMBL_KAFKA_SSL_CA_FILE",) and str(missing) in str(caught.value)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    broken = infra.model_copy(update={"kafka_ssl_ca_file": "", "kafka_ssl_cert_file": str(garbage)})
    with pytest.raises(ConfigError) as caught:
        broker_security(broken.model_copy(update={"kafka_ssl_key_file": str(garbage)}))
    assert "ZOOMSYMBL_KAFKA_SSL_CERT_FILE" in caught.value.variables and "not a certificate" not in str(caught.value)


KAFKA_CLIENTS = {"AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient", "AIOKafkaClient", "KafkaBroker"}


def kafka_client_calls() -> list[tuple[str, str]]:
    """(where, source) of every construction of a Kafka client in the shipped code (libs and services)."""
    calls: list[tuple[str, str]] = []
    for path in sorted([*ROOT.glob("libs/*/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]):
        text = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Call):
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                if name in KAFKA_CLIENTS:
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    calls.append((where, ast.get_source_segment(text, node) or ""))
    return calls


def test_every_kafka_client_in_the_code_gets_the_security_options() -> None:
    # A client built without them would talk PLAINTEXT to a SASL_SSL cluster (and fail, or worse, succeed).
    calls = kafka_client_calls()
    assert len(calls) >= 5, "make_broker, the topics admin client and the replay consumers/producer at least"
    unsecured = [
        where
        for where, source in calls
        if "client_options(" not in source
        and "broker_security(" not in source
        and "**security" not in source
        and "**broker._connection_kwargs" not in source  # what broker_security made (test_kafka_producer.py)
    ]
    assert unsecured == [], f"Kafka clients without zoomsymbl_common.kafka_security options: {unsecured}"


# ---------------------------------------------------------------- a real SASL_SSL broker


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[secure_kafka.SecureKafkaInfo]:
    """A private Kafka with SASL_SSL (SCRAM) and mutual-TLS listeners, stopped by its pid afterwards."""
    jar = infra_script.load_config({}).kafka_libs / f"kafka_2.13-{infra_script.KAFKA_VERSION}.jar"
    if not jar.is_file():
        pytest.skip(f"{jar} is missing: `make infra-up` (scripts/infra.py build) resolves the Kafka jars")
    work_dir = tmp_path_factory.mktemp("secure-kafka")
    try:
        info = secure_kafka.up(work_dir)
    except infra_script.InfraError:
        secure_kafka.down(work_dir)
        raise
    try:
        yield info
    finally:
        assert secure_kafka.down(work_dir), f"the secured Kafka under {work_dir} survived SIGKILL"


def sasl_settings(info: secure_kafka.SecureKafkaInfo, user: str = "zoomsymbl", **update: object) -> InfraSettings:
    spec = info.users[user]
    base = InfraSettings(
        kafka_bootstrap=info.sasl_bootstrap,
        kafka_topic_prefix=f"sec-{token(10)}-",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism=spec["mechanism"],
        kafka_sasl_username=user,
        kafka_sasl_password=spec["password"],
        kafka_ssl_ca_file=info.ca_file,
    )
    return base.model_copy(update=update)


@pytest.mark.integration
@pytest.mark.slow
async def test_topics_broker_admin_and_replay_work_over_sasl_ssl(secured: secure_kafka.SecureKafkaInfo) -> None:
    infra = sasl_settings(secured)
    specs = topic_specs(TopicPlan(partitions=1, replication=1, prefix=infra.kafka_topic_prefix))
    outcomes = await create_topics(infra.kafka_bootstrap, specs, timeout_s=30, security=client_options(infra))
    assert set(outcomes.values()) == {"created"} and len(outcomes) == len(specs)

    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap, **client_options(infra))
    await admin.start()
    try:
        assert {s.name for s in specs} <= set(await admin.list_topics())
    finally:
        await admin.close()

    topic = topic_name(infra, RecordingCompleted.topic)
    event = RecordingCompleted(event_id=stable_id("acme", "m1", "sasl"), tenant="acme", meeting_uuid="m1")
    received: asyncio.Queue[RecordingCompleted] = asyncio.Queue()
    broker = make_broker(infra, "test")

    @broker.subscriber(topic, group_id=topic_name(infra, "security-test"), auto_offset_reset="earliest")
    async def on_recording_completed(body: RecordingCompleted) -> None:
        await received.put(body)

    await start_broker(broker, timeout=30)
    try:
        await publish_event(broker, infra, event, timeout=30)
        assert (await asyncio.wait_for(received.get(), timeout=60)).event_id == event.event_id
    finally:
        await broker.stop()

    replayed = [value async for _, value in retained(infra, topic, ReplayRequest(topic=RecordingCompleted.topic))]
    assert [RecordingCompleted.model_validate_json(v).event_id for v in replayed] == [event.event_id]


@pytest.mark.integration
def test_the_topics_job_command_takes_tls_and_sasl_from_the_environment(
    secured: secure_kafka.SecureKafkaInfo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # What the chart's topics Job runs, with the variables the chart sets on it.
    prefix = f"job-{uuid.uuid4().hex[:10]}-"
    env = {
        "BOOTSTRAP": secured.sasl_bootstrap,
        "TOPIC_PREFIX": prefix,
        "SECURITY_PROTOCOL": "SASL_SSL",
        "SASL_USERNAME": "zoomsymbl",
        "SASL_PASSWORD": secured.users["zoomsymbl"]["password"],
        "SSL_CA_FILE": secured.ca_file,
    }
    for name, value in env.items():
        monkeypatch.setenv(f"ZOOMSYMBL_KAFKA_{name}", value)
    create = ["topics", "create", "--partitions", "1", "--replication", "1", "--timeout-s", "30"]
    assert zoomsymbl_main(create) == 0
    assert capsys.readouterr().out.count(f"created  {prefix}") == len(base_topics())
    monkeypatch.setenv("ZOOMSYMBL_KAFKA_SASL_PASSWORD", SECRET)
    assert zoomsymbl_main([*create[:-1], "1"]) != 0
    printed = capsys.readouterr()
    assert SECRET not in printed.out + printed.err


@pytest.mark.integration
async def test_scram_sha_256_users_log_in_too(secured: secure_kafka.SecureKafkaInfo) -> None:
    await check_connection(sasl_settings(secured, "zoomsymbl256"))


@pytest.mark.integration
async def test_wrong_password_is_refused_clearly_without_printing_it(
    secured: secure_kafka.SecureKafkaInfo, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = sasl_settings(secured, kafka_sasl_password=SecretStr(SECRET))
    with pytest.raises(KafkaSecurityRefused) as caught:
        await check_connection(wrong)
    message = str(caught.value)
    assert "refused the SASL login of ZOOMSYMBL_KAFKA_SASL_USERNAME='zoomsymbl'" in message
    assert "ZOOMSYMBL_KAFKA_SASL_PASSWORD" in message
    broker = make_broker(wrong, "test")
    with pytest.raises(KafkaSecurityRefused) as from_broker:
        await start_broker(broker, timeout=10)
    with pytest.raises(KafkaUnavailable) as from_topics:
        await create_topics(wrong.kafka_bootstrap, [], timeout_s=1, security=client_options(wrong))
    for text in (message, repr(caught.value), str(from_broker.value), str(from_topics.value), caplog.text):
        assert SECRET not in text


@pytest.mark.integration
async def test_plaintext_client_is_refused_by_the_sasl_listener(secured: secure_kafka.SecureKafkaInfo) -> None:
    plaintext = InfraSettings(kafka_bootstrap=secured.sasl_bootstrap)
    with pytest.raises(KafkaSecurityRefused, match="ZOOMSYMBL_KAFKA_SECURITY_PROTOCOL='PLAINTEXT'"):
        await check_connection(plaintext)
    with pytest.raises(KafkaUnavailable):
        await start_broker(make_broker(plaintext, "test"), timeout=10)


@pytest.mark.integration
async def test_a_ca_that_did_not_sign_the_broker_is_refused(secured: secure_kafka.SecureKafkaInfo) -> None:
    other = sasl_settings(secured, kafka_ssl_ca_file=secured.other_ca_file)
    with pytest.raises(KafkaSecurityRefused, match=r"certificate of .* is not trusted") as caught:
        await check_connection(other)
    assert "ZOOMSYMBL_KAFKA_SSL_CA_FILE" in str(caught.value)
    # The system CAs do not know a private CA either: no accidental trust-everything default.
    with pytest.raises(KafkaSecurityRefused):
        await check_connection(sasl_settings(secured, kafka_ssl_ca_file=""))


@pytest.mark.integration
async def test_mutual_tls_needs_the_client_certificate(secured: secure_kafka.SecureKafkaInfo) -> None:
    tls = InfraSettings(
        kafka_bootstrap=secured.ssl_bootstrap,
        kafka_security_protocol="SSL",
        kafka_ssl_ca_file=secured.ca_file,
        kafka_ssl_cert_file=secured.client_cert_file,
        kafka_ssl_key_file=secured.client_key_file,
    )
    await check_connection(tls)
    admin = AIOKafkaAdminClient(bootstrap_servers=tls.kafka_bootstrap, **client_options(tls))
    await admin.start()
    try:
        await admin.list_topics()
    finally:
        await admin.close()
    without = tls.model_copy(update={"kafka_ssl_cert_file": "", "kafka_ssl_key_file": ""})
    with pytest.raises(KafkaSecurityRefused, match="ZOOMSYMBL_KAFKA_SSL_CERT_FILE"):
        await check_connection(without)


# ---------------------------------------------------------------- the ACL table of docs/kafka-security.md


@dataclass(frozen=True)
class KafkaUse:
    """What one service does with Kafka, taken from its code: (topic, group) it consumes, topics it publishes to."""

    reads: tuple[tuple[str, str], ...]
    writes: tuple[str, ...]


def dlq(topic: str) -> str:
    return DeadLetter.topic_for(topic)


# Unprefixed names (the private broker has no other tenants): the groups as each service's handlers build them.
USES = {
    "zoomsymbl-mixer": KafkaUse(
        ((RecordingCompleted.topic, MIXER_GROUP),),
        (AudioMixed.topic, MeetingFailed.topic, dlq(RecordingCompleted.topic)),
    ),
    "zoomsymbl-submitter": KafkaUse(
        ((AudioMixed.topic, SUBMITTER_GROUP),),
        (JobSubmitted.topic, JobStatusReported.topic, MeetingFailed.topic, dlq(AudioMixed.topic)),
    ),
    "zoomsymbl-transcriber": KafkaUse(
        ((JobSubmitted.topic, TRANSCRIBER_GROUP),), (JobStatusReported.topic, dlq(JobSubmitted.topic))
    ),
    "zoomsymbl-notifier": KafkaUse(
        (
            (JobStatusReported.topic, NOTIFIER_GROUP),
            (MeetingFailed.topic, NOTIFIER_FAILURES_GROUP),
            (ReconciliationCompleted.topic, NOTIFIER_DIGESTS_GROUP),
        ),
        (
            JobStatusReported.topic,
            InsightsReady.topic,
            dlq(JobStatusReported.topic),
            dlq(MeetingFailed.topic),
            dlq(ReconciliationCompleted.topic),
        ),
    ),
}


def documented_acl_commands() -> list[list[str]]:
    """The `$ACL ...` commands of docs/kafka-security.md, as kafka-acls arguments (after --add)."""
    text = (ROOT / "docs" / "kafka-security.md").read_text(encoding="utf-8")
    block = text.split("```sh\nACL=", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    topics = " ".join(f"--topic {name}" for name in base_topics())
    return [
        ["--add", *shlex.split(line.strip().removeprefix("$ACL ").replace("$TOPICS", topics))]
        for line in block.splitlines()
        if line.strip().startswith("$ACL ")
    ]


def as_user(info: secure_kafka.SecureKafkaInfo, user: str) -> InfraSettings:
    return sasl_settings(info, user, kafka_topic_prefix="")


async def exercise(infra: InfraSettings, use: KafkaUse, admin: InfraSettings) -> None:
    """Consume one message of each input with the service's group (offsets committed) and publish to each output."""
    for topic, group in use.reads:
        feeder = AIOKafkaProducer(bootstrap_servers=admin.kafka_bootstrap, acks="all", **client_options(admin))
        await feeder.start()
        try:
            await feeder.send_and_wait(topic, b"{}")
        finally:
            await feeder.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=infra.kafka_bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            **client_options(infra),
        )
        await consumer.start()
        try:
            await asyncio.wait_for(consumer.getone(), timeout=60)
            await consumer.commit()
        finally:
            await consumer.stop()
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap, acks="all", enable_idempotence=True, **client_options(infra)
    )
    await producer.start()
    try:
        for topic in use.writes:
            await producer.send_and_wait(topic, b"{}")
    finally:
        await producer.stop()


@pytest.mark.integration
@pytest.mark.slow
async def test_the_documented_acls_are_enough_for_each_service_and_no_more(
    secured: secure_kafka.SecureKafkaInfo, tmp_path_factory: pytest.TempPathFactory
) -> None:
    commands = documented_acl_commands()
    assert len(commands) == 10, "docs/kafka-security.md: Write for ingest, Read and Write for 4 services, topics"
    work_dir = Path(secured.ca_file).parents[1]
    with ThreadPoolExecutor(max_workers=3) as pool:  # one JVM per command; three at a time on a small machine
        list(pool.map(lambda args: secure_kafka.kafka_acls(work_dir, args), commands))

    # The topics Job with its own user: creates every topic, then finds them all existing.
    topics_user = as_user(secured, "zoomsymbl-topics")
    specs = topic_specs(TopicPlan(partitions=1, replication=1))
    security = client_options(topics_user)
    assert set((await create_topics(topics_user.kafka_bootstrap, specs, 30, security)).values()) == {"created"}
    assert set((await create_topics(topics_user.kafka_bootstrap, specs, 30, security)).values()) == {"exists"}

    # ingest through the project's own broker, as the service publishes.
    ingest = as_user(secured, "zoomsymbl-ingest")
    broker = make_broker(ingest, "ingest")
    await start_broker(broker, timeout=30)
    try:
        event = RecordingCompleted(event_id=stable_id("acme", "acl", "1"), tenant="acme", meeting_uuid="acl")
        await publish_event(broker, ingest, event, timeout=30)
        window = date(2026, 12, 1)
        digest = ReconciliationCompleted(
            event_id=stable_id("acme", "acl", "2"),
            tenant="acme",
            meeting_uuid=ReconciliationCompleted.window_key(window, window),
            window_from=window,
            window_to=window,
        )
        await publish_event(broker, ingest, digest, timeout=30)
    finally:
        await broker.stop()

    admin = as_user(secured, "admin")
    await asyncio.gather(*(exercise(as_user(secured, user), use, admin) for user, use in USES.items()))

    # No more than that: the mixer may not publish what the notifier publishes.
    mixer = as_user(secured, "zoomsymbl-mixer")
    producer = AIOKafkaProducer(bootstrap_servers=mixer.kafka_bootstrap, acks="all", **client_options(mixer))
    await producer.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(InsightsReady.topic, b"{}")
    finally:
        await producer.stop()
