"""Create and reconcile the contract topics with kafka-python's admin client, idempotently.

A second run changes nothing; a topic whose configs drifted from the contract is set back;
partitions of the co-partitioned and keyed topics never change (growing them would split a key's
records over two partitions and break the input-to-audit partition pairing): a mismatch is refused
with an error that says how to migrate; output and dead-letter topics may grow.

Durability: each topic gets the replication factor and min.insync.replicas of its kind
(gateway.contract.topics.durability). On a cluster with fewer brokers than that, development caps
both at the brokers there are (a one-broker cluster gets 1 and 1, and says so); production
(`strict`) refuses to create the topic. min.insync.replicas is never set above the replicas an
existing topic has: acks=all writes to it would all fail.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic

from gateway.contract.topics import (
    APPEND_TIME,
    FIXED_PARTITIONS,
    TIMESTAMP_TYPE,
    TopicKind,
    TopicSpec,
    contract_topics,
    gateway_topics,
)
from gateway.errors import FaceGateError
from gateway.kafka.connection import kafka_python_config
from gateway.settings import Environment, Settings

TOPIC_ALREADY_EXISTS = 36
MIN_INSYNC = "min.insync.replicas"

log = logging.getLogger("facegate.provisioning")


class ProvisioningError(FaceGateError, RuntimeError):
    """The cluster refused to create or change a topic."""


class SettingsMismatch(ProvisioningError):
    """The settings ask for what the cluster cannot be given: other partition counts than its
    topics have, or more replicas than it has brokers (production)."""


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


def cluster_brokers(admin: KafkaAdminClient) -> int:
    """Brokers the cluster lists now (registered and not fenced)."""
    return len(admin.describe_cluster()["brokers"])


def describe_topics(admin: KafkaAdminClient, specs: Sequence[TopicSpec]) -> list[TopicState]:
    """Partitions, replication (of the least replicated partition) and the contract-relevant
    configs (durability included) of each topic as it is now."""
    names = [s.name for s in specs]
    existing = set(admin.list_topics())
    present = [n for n in names if n in existing]
    metadata: dict[str, dict[str, Any]] = {}
    configs: dict[str, dict[str, str]] = {}
    if present:
        for topic in admin.describe_topics(present):
            metadata[topic["name"]] = topic
        keys = sorted({k for s in specs for k in s.topic_config} | {"retention.ms", "cleanup.policy"})
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
        replicas = min((len(p["replica_nodes"]) for p in partitions), default=0)
        states.append(TopicState(name, True, len(partitions), replicas, configs.get(name, {})))
    return states


def _topic_configs(described: Any) -> dict[str, dict[str, str]]:
    """Normalise describe_configs output to {topic: {key: value}}."""
    out: dict[str, dict[str, str]] = {}
    for name, entries in described.get("topic", {}).items():
        out[name] = {key: entry["value"] for key, entry in entries.items()}
    return out


def expected_config(spec: TopicSpec, state: TopicState) -> dict[str, str]:
    """The configs an existing topic should have: its spec's, with min.insync.replicas no higher
    than the replicas the topic has (every acks=all write would fail)."""
    config = spec.topic_config
    if 0 < state.replication_factor < spec.min_insync_replicas:
        config[MIN_INSYNC] = str(state.replication_factor)
    return config


def drift(spec: TopicSpec, state: TopicState, brokers: int) -> tuple[str, ...]:
    """How an existing topic falls short of its spec on a cluster of `brokers` brokers: configs
    that differ (durability included), fewer partitions, fewer replicas than the cluster can hold."""
    found = [
        f"{key}: {state.config.get(key)}, configured {value}"
        for key, value in expected_config(spec, state).items()
        if state.config.get(key) != value
    ]
    if state.partitions < spec.partitions:
        found.append(f"partitions: {state.partitions}, configured {spec.partitions}")
    if state.replication_factor < spec.on_cluster(brokers).replication_factor:
        found.append(f"replication factor: {state.replication_factor}, configured {spec.replication_factor}")
    return tuple(found)


def capped(spec: TopicSpec, brokers: int) -> tuple[TopicSpec, str | None]:
    """The spec a new topic gets on a cluster of `brokers` brokers and, if less than configured, why."""
    target = spec.on_cluster(brokers)
    if target.replication_factor == spec.replication_factor:
        return target, None
    return target, (
        f"replication factor {spec.replication_factor} and min.insync.replicas {spec.min_insync_replicas} "
        f"capped at {target.replication_factor} and {target.min_insync_replicas}: "
        f"the cluster has {brokers} broker(s)"
    )


def ensure_topics(admin: KafkaAdminClient, specs: Iterable[TopicSpec], strict: bool = False) -> list[TopicOutcome]:
    """Create what is missing, reconcile what exists. A missing topic gets the replicas the cluster
    has if it has fewer brokers than configured, or with `strict` (production) is refused."""
    specs = list(specs)
    before = {s.name: s for s in describe_topics(admin, specs)}
    missing = [spec for spec in specs if not before[spec.name].exists]
    created: dict[str, TopicOutcome] = {}
    brokers = cluster_brokers(admin)
    if missing:
        targets = {spec.name: capped(spec, brokers) for spec in missing}
        notes = {name: note for name, (_, note) in targets.items() if note}
        if notes and strict:
            raise SettingsMismatch(
                f"the cluster has {brokers} broker(s), fewer than the replicas of {', '.join(sorted(notes))}"
            )
        if notes:
            log.warning("creating %d topic(s) with fewer replicas than configured: %s", len(notes), ", ".join(notes))
        response = admin.create_topics(
            [
                NewTopic(t.name, t.partitions, t.replication_factor, topic_configs=t.topic_config)
                for t, _ in targets.values()
            ],
            raise_errors=False,
        )
        for topic in response["topics"]:
            name = topic["name"]
            if topic["error_code"] == 0:
                note = notes.get(name)
                created[name] = TopicOutcome(targets[name][0], Action.CREATED, warnings=(note,) if note else ())
            elif topic["error_code"] != TOPIC_ALREADY_EXISTS:  # lost a race: reconcile below
                reason = topic.get("error_message") or f"error code {topic['error_code']}"
                raise ProvisioningError(f"cannot create {name}: {reason}")
        _warn_recreated(specs, before, created)
        if len(created) < len(missing):
            before = {s.name: s for s in describe_topics(admin, specs)}
    return [created.get(spec.name) or _reconcile(admin, spec, before[spec.name], brokers) for spec in specs]


# What nothing rebuilds and every deployment has from its first start: the audit log, the
# protected templates and the gateway's own record of every withdrawal. (A tenant's consent and
# camera topics are created when it is added: a lost one looks like a new tenant's.)
_STATE_KINDS = frozenset({TopicKind.AUDIT, TopicKind.STATE})


def _warn_recreated(specs: list[TopicSpec], before: dict[str, TopicState], created: Iterable[str]) -> None:
    """A topic of the gateway's state created while others of them exist was most likely lost (a
    first deployment creates them all): say so, since it starts empty."""
    state = [spec for spec in specs if spec.kind in _STATE_KINDS]
    lost = sorted(spec.name for spec in state if spec.name in created)
    if lost and any(before[spec.name].exists for spec in state):
        log.warning(
            "topic(s) %s were missing and are created again, empty, beside the deployment's other topics: if "
            'they held records, those are lost (docs/operations.md, "Backups and restores")',
            ", ".join(lost),
        )


def _reconcile(admin: KafkaAdminClient, spec: TopicSpec, state: TopicState, brokers: int) -> TopicOutcome:
    changes: list[str] = []
    warnings: list[str] = []
    differ = {k: v for k, v in expected_config(spec, state).items() if state.config.get(k) != v}
    if differ:
        # The broker validates the keys; kafka-python's own check races with new topics' metadata.
        result = admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, spec.name, configs=differ)],
            incremental=True,
            raise_on_unknown=False,
        )
        status = result.get("topic", {}).get(spec.name)
        if status != "OK":
            raise ProvisioningError(f"cannot set configs of {spec.name}: {status}")
        changes += [f"{k}: {state.config.get(k)} -> {v}" for k, v in sorted(differ.items())]
    if state.partitions != spec.partitions and spec.kind in FIXED_PARTITIONS:
        raise SettingsMismatch(partition_mismatch([(spec.name, state.partitions)], spec.partitions))
    if state.partitions < spec.partitions:
        admin.create_partitions({spec.name: spec.partitions})
        changes.append(f"partitions: {state.partitions} -> {spec.partitions}")
    elif state.partitions > spec.partitions:
        warnings.append(f"has {state.partitions} partitions, more than the {spec.partitions} configured; left as is")
    if state.replication_factor < spec.on_cluster(brokers).replication_factor:
        warnings.append(
            f"replication factor is {state.replication_factor}, configured {spec.replication_factor}; "
            "raising it needs a partition reassignment"
        )
    elif state.replication_factor < spec.replication_factor:
        warnings.append(f"replication factor {state.replication_factor}: the cluster has {brokers} broker(s)")
    return TopicOutcome(spec, Action.UPDATED if changes else Action.UNCHANGED, tuple(changes), tuple(warnings))


def partition_mismatch(found: Sequence[tuple[str, int]], configured: int) -> str:
    listed = ", ".join(f"{name} has {count}" for name, count in found)
    return (
        f"partitions differ from FACEGATE_PARTITIONS={configured}: {listed}. The inputs, the audit and the keyed "
        "state topics are co-partitioned and keyed: they must have equal counts and can never grow (a key's "
        "records would land on two partitions). Set FACEGATE_PARTITIONS to the existing count, or migrate to a "
        "new FACEGATE_TOPIC_PREFIX sized up front (docs/operations.md, 'Partitions')."
    )


def check_topics(settings: Settings, tenants: list[str]) -> list[str]:
    """Refuse to run on co-partitioned topics whose counts differ from the configured one, and in
    production on inputs the broker does not stamp; returns the topics a worker needs that do not
    exist (to refuse a worker started without provisioning)."""
    specs = gateway_topics(settings, tenants)
    admin = admin_client(settings)
    try:
        existing = set(admin.list_topics())
        asked = [s for s in specs if s.name in existing and (s.kind in FIXED_PARTITIONS or _stamped(settings, s))]
        described = describe_topics(admin, asked)
    finally:
        admin.close()
    fixed = {s.name for s in asked if s.kind in FIXED_PARTITIONS}
    wrong = [(t.name, t.partitions) for t in described if t.name in fixed and t.partitions != settings.partitions]
    if wrong:
        raise SettingsMismatch(partition_mismatch(wrong, settings.partitions))
    stamped = {s.name for s in asked if _stamped(settings, s)}
    # A producer's own stamps would be the times the gateway trusts: clock checks, retention and
    # when a consent was deleted. (Tansu, a development broker, stamps nothing: not asked there.)
    unstamped = [t.name for t in described if t.name in stamped and t.config.get(TIMESTAMP_TYPE) != APPEND_TIME]
    if unstamped:
        raise SettingsMismatch(
            f"input topic(s) not stamped by the broker: {', '.join(unstamped)}. The gateway trusts the broker's "
            f"append time; set {TIMESTAMP_TYPE}={APPEND_TIME} on them (`facegate topics create` does)"
        )
    return [s.name for s in specs if s.name not in existing]


def _stamped(settings: Settings, spec: TopicSpec) -> bool:
    return strict(settings) and spec.topic_config.get(TIMESTAMP_TYPE) == APPEND_TIME


def admin_client(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(request_timeout_ms=15000, bootstrap_timeout_ms=10000, **kafka_python_config(settings))


def strict(settings: Settings) -> bool:
    """Production refuses under-replicated topics; development caps replication at its brokers."""
    return settings.env is Environment.PRODUCTION


def ensure_gateway_topics(settings: Settings, tenants: list[str]) -> list[TopicOutcome]:
    """The contract topics, the given tenants' topics and the gateway's internal topics."""
    admin = admin_client(settings)
    try:
        return ensure_topics(admin, gateway_topics(settings, tenants), strict(settings))
    finally:
        admin.close()


def ensure_tenant_topics(settings: Settings, tenants: list[str]) -> None:
    """Only the per-tenant topics (a tenant seen for the first time)."""
    admin = admin_client(settings)
    try:
        specs = [s for s in contract_topics(settings, tenants) if s.kind is TopicKind.OUTPUT]
        ensure_topics(admin, specs, strict(settings))
    finally:
        admin.close()
