"""The regulator's and the platform operator's audit commands under SCRAM with only their
role's ACLs (`facegate acl apply`): a regulator exports and follows the audit; `audit reconcile`
reads faces.raw, so a regulator is refused with a message naming the gateway role (exit 3) and
the gateway's principal runs it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient, ScramMechanism, UserScramCredentialUpsertion
from typer.testing import CliRunner, Result

from gateway.brokers.apache_kafka import KafkaBroker
from gateway.cli import app
from gateway.contract.topics import TopicNames
from gateway.kafka.provisioning import ensure_gateway_topics
from gateway.settings import SecurityProtocol, Settings
from tests.support.acls import produce_as_admin
from tests.support.kafka import Unique

pytestmark = pytest.mark.kafka
ROLES = "gateway: User:cli-gateway\nregulators: [User:cli-regulator]\n"


def test_audit_commands_with_only_their_roles_acls(kafka_sasl: KafkaBroker, unique: Unique, tmp_path: Path) -> None:
    base = {
        "FACEGATE_BOOTSTRAP_SERVERS": kafka_sasl.bootstrap_servers, "FACEGATE_TOPIC_PREFIX": unique.prefix,
        "FACEGATE_APP_ID": unique.group("gw"), "FACEGATE_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "FACEGATE_SASL_MECHANISM": "SCRAM-SHA-512", "FACEGATE_PARTITIONS": "1", "FACEGATE_VENDORS": '["lumen"]',
    }  # fmt: skip
    admin_env = {**base, "FACEGATE_SASL_USERNAME": "admin", "FACEGATE_SASL_PASSWORD": "admin-secret"}
    admin_settings = Settings(
        bootstrap_servers=kafka_sasl.bootstrap_servers, topic_prefix=unique.prefix, partitions=1,
        security_protocol=SecurityProtocol.SASL_PLAINTEXT, sasl_username="admin", sasl_password="admin-secret",
        vendors=["lumen"],
    )  # fmt: skip
    ensure_gateway_topics(admin_settings, [])
    admin = KafkaAdminClient(**kafka_sasl.admin_config())
    try:
        admin.alter_user_scram_credentials(
            [UserScramCredentialUpsertion(u, ScramMechanism.SCRAM_SHA_512, f"{u}-pw")
             for u in ("cli-gateway", "cli-regulator")]
        )  # fmt: skip
    finally:
        admin.close()
    roles = tmp_path / "roles.yaml"
    roles.write_text(ROLES)
    runner = CliRunner()
    applied = runner.invoke(app, ["acl", "apply", "--roles", str(roles)], env=admin_env)
    assert applied.exit_code == 0, applied.output

    def as_(user: str, *args: str) -> Result:
        env = {**base, "FACEGATE_SASL_USERNAME": user, "FACEGATE_SASL_PASSWORD": f"{user}-pw"}
        return runner.invoke(app, list(args), env=env)

    def until_ok(user: str, *args: str) -> Result:
        deadline = time.monotonic() + 30
        while (result := as_(user, *args)).exit_code != 0 and time.monotonic() < deadline:
            time.sleep(0.5)  # ACLs reach the authorizer asynchronously
        return result

    export = until_ok("cli-regulator", "audit", "export", "--out", str(tmp_path / "audit.jsonl"))
    assert export.exit_code == 0, export.output
    asyncio.run(produce_as_admin(kafka_sasl, TopicNames(unique.prefix).audit))
    tail = as_("cli-regulator", "audit", "tail", "--from-beginning", "--count", "1", "--format", "json")
    assert tail.exit_code == 0, tail.output  # the default group is one the regulator's ACLs allow
    assert "unreadable" in tail.stderr

    refused = as_("cli-regulator", "audit", "reconcile")
    assert refused.exit_code == 3, refused.output
    text = " ".join(refused.stderr.split())
    assert "not authorized" in text and "User:cli-regulator" in text and "gateway role" in text

    reconciled = until_ok("cli-gateway", "audit", "reconcile", "--format", "json")
    assert reconciled.exit_code == 0, reconciled.output
    assert '"checked": 0' in reconciled.stdout
