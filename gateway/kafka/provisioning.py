"""Create and reconcile the contract topics with kafka-python's admin client, idempotently.

A second run changes nothing; a topic whose configs drifted from the contract is set back;
partitions only grow (Kafka cannot shrink them, and shrinking would remap keys).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic

from gateway.contract.topics import TopicKind, TopicSpec, contract_topics, internal_topic_specs
from gateway.errors import FaceGateError
from gateway.kafka.connection import kafka_python_config
from gateway.settings import Settings

TOPIC_ALREADY_EXISTS = 36


class ProvisioningError(FaceGateError, RuntimeError):
    """The cluster refused to create or change a topic."""


class Action(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class TopicState:
    name: str
    exists: bool
    partitions: int = 0
    replication_factor: int = 0
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicOutcome:
    spec: TopicSpec
    action: Action
    changes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def describe_topics(admin: KafkaAdminClient, specs: Sequence[TopicSpec]) -> list[TopicState]:
    """Partitions, replication and the contract-relevant configs of each topic as it is now."""
    names = [s.name for s in specs]
    existing = set(admin.list_topics())
    present = [n for n in names if n in existing]
    metadata: dict[str, dict[str, Any]] = {}
    configs: dict[str, dict[str, str]] = {}
    if present:
        for topic in admin.describe_topics(present):
            metadata[topic["name"]] = topic
        keys = sorted({k for s in specs for k in s.config} | {"retention.ms", "cleanup.policy"})
        resources = [ConfigResource(ConfigResourceType.TOPIC, n, configs=None) for n in present]
        described = admin.describe_configs(resources, config_filter="all")
        for name, values in _topic_configs(described).items():
            configs[name] = {k: str(values[k]) for k in keys if k in values}
    states = []
    for name in names:
        if name not in existing:
            states.append(TopicState(name, exists=False))
            continue
        partitions = metadata.get(name, {}).get("partitions", [])
        replicas = len(partitions[0]["replica_nodes"]) if partitions else 0
        states.append(TopicState(name, True, len(partitions), replicas, configs.get(name, {})))
    return states


def _topic_configs(described: Any) -> dict[str, dict[str, str]]:
    """Normalise describe_configs output to {topic: {key: value}}."""
    out: dict[str, dict[str, str]] = {}
    for name, entries in described.get("topic", {}).items():
        out[name] = {key: entry["value"] for key, entry in entries.items()}
    return out


def ensure_topics(admin: KafkaAdminClient, specs: Iterable[TopicSpec]) -> list[TopicOutcome]:
    specs = list(specs)
    before = {s.name: s for s in describe_topics(admin, specs)}
    missing = [spec for spec in specs if not before[spec.name].exists]
    created = set()
    if missing:
        response = admin.create_topics(
            [NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.config) for s in missing],
            raise_errors=False,
        )
        for topic in response["topics"]:
            if topic["error_code"] == 0:
                created.add(topic["name"])
            elif topic["error_code"] != TOPIC_ALREADY_EXISTS:  # lost a race: reconcile below
                reason = topic.get("error_message") or f"error code {topic['error_code']}"
                raise ProvisioningError(f"cannot create {topic['name']}: {reason}")
    if len(created) < len(missing):
        before = {s.name: s for s in describe_topics(admin, specs)}

    outcomes = []
    for spec in specs:
        if spec.name in created:
            outcomes.append(TopicOutcome(spec, Action.CREATED))
            continue
        outcomes.append(_reconcile(admin, spec, before[spec.name]))
    return outcomes


def _reconcile(admin: KafkaAdminClient, spec: TopicSpec, state: TopicState) -> TopicOutcome:
    changes: list[str] = []
    warnings: list[str] = []
    drift = {k: v for k, v in spec.config.items() if state.config.get(k) != v}
    if drift:
        # The broker validates the keys; kafka-python's own check races with new topics' metadata.
        result = admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, spec.name, configs=drift)],
            incremental=True,
            raise_on_unknown=False,
        )
        status = result.get("topic", {}).get(spec.name)
        if status != "OK":
            raise ProvisioningError(f"cannot set configs of {spec.name}: {status}")
        changes += [f"{k}: {state.config.get(k)} -> {v}" for k, v in sorted(drift.items())]
    if state.partitions < spec.partitions:
        admin.create_partitions({spec.name: spec.partitions})
        changes.append(f"partitions: {state.partitions} -> {spec.partitions}")
    elif state.partitions > spec.partitions:
        warnings.append(f"has {state.partitions} partitions, more than the {spec.partitions} configured; left as is")
    if state.replication_factor and state.replication_factor != spec.replication_factor:
        warnings.append(
            f"replication factor is {state.replication_factor}, configured {spec.replication_factor}; "
            "changing it needs a partition reassignment"
        )
    return TopicOutcome(spec, Action.UPDATED if changes else Action.UNCHANGED, tuple(changes), tuple(warnings))


def admin_client(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(request_timeout_ms=15000, bootstrap_timeout_ms=10000, **kafka_python_config(settings))


def ensure_gateway_topics(settings: Settings, tenants: list[str]) -> list[TopicOutcome]:
    """The contract topics, the given tenants' topics and the gateway's internal topics."""
    admin = admin_client(settings)
    try:
        return ensure_topics(admin, [*contract_topics(settings, tenants), *internal_topic_specs(settings)])
    finally:
        admin.close()


def ensure_tenant_topics(settings: Settings, tenants: list[str]) -> None:
    """Only the per-tenant topics (a tenant seen for the first time)."""
    admin = admin_client(settings)
    try:
        ensure_topics(admin, [s for s in contract_topics(settings, tenants) if s.kind is TopicKind.OUTPUT])
    finally:
        admin.close()
