"""The worker as a deployment runs it: SCRAM-SHA-512 with the StandardAuthorizer, every client
under its own principal with only the ACLs `facegate acl apply` gives its role, and the
credentials read from mounted files (FACEGATE_SECRETS_DIR), as the Helm chart mounts them."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient, ScramMechanism, UserScramCredentialUpsertion
from typer.testing import CliRunner

from gateway.brokers.apache_kafka import KafkaBroker
from gateway.cli import app
from gateway.contract.codec import default_codec
from gateway.contract.models import AuditRecord
from gateway.contract.topics import TopicNames
from gateway.contract.vocabulary import Decision
from gateway.core.records import decided_a_capture
from gateway.kafka.connection import aiokafka_config
from gateway.kafka.provisioning import ensure_gateway_topics
from gateway.kafka.reading import read_topic
from gateway.keyring import Keyring
from gateway.sdk.producer import FaceGateProducer
from gateway.sdk.scenario import VENDORS, Traffic, World, build_world
from gateway.sdk.simulator import publish_world, send_capture
from gateway.settings import SecurityProtocol, Settings
from gateway.shell.local import LocalWorker
from tests.support.kafka import Unique

pytestmark = pytest.mark.kafka
TENANTS = ["acme", "beta"]
ROLES = """
gateway: User:gateway
vendors: {lumen: User:vendor, optix: User:vendor}
tenants: {acme: User:acme, beta: User:beta}
regulators: [User:regulator]
"""


def only(world: World, tenant: str) -> World:
    """The part of the world one tenant's systems write."""
    return replace(
        world, cameras=[c for c in world.cameras if c.tenant_id == tenant],
        consents=[c for c in world.consents if c.tenant_id == tenant],
        enrollments=[e for e in world.enrollments if e.tenant_id == tenant],
    )  # fmt: skip


def as_user(broker: KafkaBroker, prefix: str, user: str, password: str | None = None) -> Settings:
    return Settings(
        bootstrap_servers=broker.bootstrap_servers, topic_prefix=prefix, partitions=2, tenants=TENANTS, vendors=list(VENDORS),
        security_protocol=SecurityProtocol.SASL_PLAINTEXT, sasl_username=user, sasl_password=password or f"{user}-pw",
    )  # fmt: skip


def test_the_worker_decides_under_its_own_principal_and_acls(
    kafka_sasl: KafkaBroker, unique: Unique, tmp_path: Path
) -> None:
    admin_settings = as_user(kafka_sasl, unique.prefix, "admin").model_copy(update={"sasl_password": None})
    admin_settings = Settings(
        **{**admin_settings.model_dump(exclude={"sasl_password"}), "sasl_password": "admin-secret"}
    )
    ensure_gateway_topics(admin_settings, TENANTS)
    admin = KafkaAdminClient(**kafka_sasl.admin_config())
    try:
        admin.alter_user_scram_credentials(
            [UserScramCredentialUpsertion(u, ScramMechanism.SCRAM_SHA_512, f"{u}-pw")
             for u in ("gateway", "vendor", "acme", "beta", "regulator")]
        )  # fmt: skip
    finally:
        admin.close()
    app_id = unique.group("gw")
    (tmp_path / "roles.yaml").write_text(ROLES)
    applied = CliRunner().invoke(
        app, ["acl", "apply", "--roles", str(tmp_path / "roles.yaml")],
        env={"FACEGATE_BOOTSTRAP_SERVERS": kafka_sasl.bootstrap_servers, "FACEGATE_TOPIC_PREFIX": unique.prefix,
             "FACEGATE_APP_ID": app_id, "FACEGATE_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
             "FACEGATE_SASL_USERNAME": "admin", "FACEGATE_SASL_PASSWORD": "admin-secret"},
    )  # fmt: skip
    assert applied.exit_code == 0, applied.output

    secrets = tmp_path / "kafka-credentials"
    secrets.mkdir()
    (secrets / "facegate_sasl_username").write_text("gateway")
    (secrets / "facegate_sasl_password").write_text("gateway-pw")
    worker = LocalWorker(tmp_path / "worker.log", {
        "FACEGATE_BOOTSTRAP_SERVERS": kafka_sasl.bootstrap_servers, "FACEGATE_TOPIC_PREFIX": unique.prefix,
        "FACEGATE_APP_ID": app_id, "FACEGATE_PARTITIONS": "2", "FACEGATE_TENANTS": '["acme", "beta"]', "FACEGATE_VENDORS": json.dumps(VENDORS),
        "FACEGATE_CACHE_DIR": str(tmp_path / "cache"), "FACEGATE_KEYRING": Keyring.generate(TENANTS).export(),
        "FACEGATE_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "FACEGATE_SECRETS_DIR": str(secrets),
    })  # fmt: skip
    worker.start()
    try:
        world = build_world(seed=31, tenants=tuple(TENANTS), subjects_per_tenant=6)
        items = Traffic(world, seed=32).take(60)

        async def traffic() -> None:
            for name in TENANTS:  # each tenant's systems, under its own principal, to its own topics
                async with FaceGateProducer(as_user(kafka_sasl, unique.prefix, name)) as tenant:
                    await publish_world(tenant, only(world, name))
            await asyncio.to_thread(worker.wait_for_enrolled, len(world.enrollments))
            async with FaceGateProducer(as_user(kafka_sasl, unique.prefix, "vendor")) as vendor:
                for item in items:
                    await send_capture(vendor, item)

        asyncio.run(traffic())
        codec = default_codec()

        def decided(records: list) -> set[str]:  # type: ignore[type-arg]
            return {
                a.event_id
                for r in records
                if isinstance(a := codec.decode_any(r.value or b""), AuditRecord) and decided_a_capture(a.event_id)
            }

        regulator = aiokafka_config(as_user(kafka_sasl, unique.prefix, "regulator"))
        audit = asyncio.run(
            read_topic(regulator, TopicNames(unique.prefix).audit, lambda rs: len(decided(rs)) >= 60, 120)
        )
        decisions = Counter(a.decision for r in audit if isinstance(a := codec.decode_any(r.value or b""), AuditRecord))
        assert decisions[Decision.FORWARDED] > 0 and sum(decisions.values()) >= 60
        assert "TopicAuthorizationFailed" not in (tmp_path / "worker.log").read_text()
    finally:
        worker.stop()
