"""The topic contract of DESIGN.md: names, partitions and the configs that make each topic what it is."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.settings import Settings

_TENANT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class TopicKind(StrEnum):
    REGISTRY = "registry"  # compacted, latest value per key
    INBOX = "input"  # short retention: raw biometrics live here only briefly
    OUTPUT = "output"
    AUDIT = "audit"  # kept at least 3 years (R19)
    DEAD_LETTER = "dead-letter"
    STATE = "state"  # gateway-internal, compacted


# Topics whose partition p belongs to one worker together (inputs, their audit partition, the
# keyed state): their partition counts must be equal and must never grow, or a key's records land
# on two partitions (a withdrawal on one, the grant it withdraws on another; a tombstone missing
# the template it should erase) and audit partition p no longer follows input partition p.
FIXED_PARTITIONS = frozenset({TopicKind.REGISTRY, TopicKind.INBOX, TopicKind.AUDIT, TopicKind.STATE})


def check_tenant_id(tenant_id: str) -> str:
    """Tenant ids become topic names, so they are restricted to what Kafka and ACLs handle plainly."""
    if not _TENANT_ID.match(tenant_id):
        raise ValueError("tenant id must be 1-64 characters of letters, digits, '_' or '-' (it names topics)")
    return tenant_id


# The kinds whose records cannot be recomputed once lost: decisions and their audit trail, the
# registries decisions depend on (consent, cameras), protected enrollments, what tenants receive
# (governed events, erasure notices) and dead letters (after the raw input expired, the only copy
# of what was refused). They get at least Settings.durable_replication_factor replicas. The inputs
# are written by vendors and tenants, kept an hour, and lost before a decision they lose none:
# they get Settings.replication_factor (docs/operations.md, "Production topology").
DURABLE_KINDS = frozenset(
    {TopicKind.AUDIT, TopicKind.REGISTRY, TopicKind.STATE, TopicKind.OUTPUT, TopicKind.DEAD_LETTER}
)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    kind: TopicKind
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)
    doc: str = ""
    # With acks=all, a write is acknowledged once this many replicas have it; fewer in sync and
    # writes fail (NOT_ENOUGH_REPLICAS) instead of being kept by fewer copies.
    min_insync_replicas: int = 1

    @property
    def topic_config(self) -> dict[str, str]:
        """Every config the topic is created with: its kind's and the durability ones. An
        out-of-sync replica never becomes leader (it would drop acknowledged records)."""
        return {
            **self.config,
            "min.insync.replicas": str(self.min_insync_replicas),
            "unclean.leader.election.enable": "false",
        }

    def on_cluster(self, brokers: int) -> TopicSpec:
        """The spec a cluster of `brokers` brokers can hold: replication capped at the brokers,
        min.insync.replicas at the replication (a one-broker development cluster gets 1 and 1)."""
        replicas = max(1, min(self.replication_factor, brokers))
        return replace(self, replication_factor=replicas, min_insync_replicas=min(self.min_insync_replicas, replicas))


def durability(settings: Settings, kind: TopicKind) -> tuple[int, int]:
    """Replication factor and min.insync.replicas a topic of this kind is configured with."""
    replicas = settings.replication_factor
    if kind in DURABLE_KINDS:
        replicas = max(replicas, settings.durable_replication_factor)
    return replicas, min(settings.min_insync_replicas, replicas)


@dataclass(frozen=True)
class TopicNames:
    """Contract topic names under one prefix."""

    prefix: str = "facegate."

    @property
    def cameras(self) -> str:
        return f"{self.prefix}cameras"

    @property
    def consent(self) -> str:
        return f"{self.prefix}consent"

    @property
    def enroll(self) -> str:
        return f"{self.prefix}enroll"

    @property
    def raw(self) -> str:
        return f"{self.prefix}faces.raw"

    @property
    def share_requests(self) -> str:
        return f"{self.prefix}share.requests"

    @property
    def audit(self) -> str:
        return f"{self.prefix}audit"

    @property
    def rejected(self) -> str:
        return f"{self.prefix}rejected"

    @property
    def enrolled(self) -> str:
        """Gateway-internal: protected enrollments."""
        return f"{self.prefix}enrolled"

    @property
    def withdrawals(self) -> str:
        """Gateway-internal: the withdrawals the gateway has seen, which no replayed grant undoes."""
        return f"{self.prefix}withdrawals"

    def governed(self, tenant_id: str) -> str:
        return f"{self.prefix}governed.{check_tenant_id(tenant_id)}"

    def erasure(self, tenant_id: str) -> str:
        return f"{self.prefix}erasure.{check_tenant_id(tenant_id)}"

    def tenant_of(self, topic: str) -> str | None:
        """The tenant a per-tenant topic is for, or None for a shared topic (or one not ours)."""
        for kind in ("governed.", "erasure."):
            head = self.prefix + kind
            if topic.startswith(head) and _TENANT_ID.match(tenant := topic[len(head) :]):
                return tenant
        return None


WEEK_MS = 7 * 24 * 3_600_000  # Kafka's default segment.ms


def deleting_after(ms: int) -> dict[str, str]:
    """A topic whose records must be gone from the brokers' disks about `ms` after they were written.

    Kafka deletes only closed segments, once their newest record is older than retention.ms, so a
    record lives until its segment rolls (segment.ms, a week by default: "one hour" of raw captures
    could stay for days), then until the broker's next retention check
    (log.retention.check.interval.ms, 5 minutes by default) and file.delete.delay.ms. Segments roll
    every tenth of the retention (at most weekly) and files go a tenth later at most, so a record is
    gone within retention.ms x 1.2 + the check interval. Kept for good (-1): weekly segments."""
    tenth = max(1000, min(ms // 10, WEEK_MS)) if ms >= 0 else WEEK_MS
    return {
        "cleanup.policy": "delete", "retention.ms": str(ms), "segment.ms": str(tenth),
        "file.delete.delay.ms": str(min(60_000, tenth)),
    }  # fmt: skip


def compacting_within(ms: int) -> dict[str, str]:
    """A compacted topic whose overwritten values and tombstones (an erased template, a withdrawn
    consent's older versions) must be gone from disk within about `ms`: the active segment rolls
    and is compacted at the latest max.compaction.lag.ms after a record arrived, whatever the dirty
    ratio (min.cleanable.dirty.ratio lowered so small topics compact too); the tombstone itself
    stays delete.retention.ms, long enough for a worker reading from the start to see it."""
    half = max(1000, ms // 2)
    return {
        "cleanup.policy": "compact", "min.compaction.lag.ms": "0", "max.compaction.lag.ms": str(half),
        "segment.ms": str(half), "min.cleanable.dirty.ratio": "0.1", "delete.retention.ms": str(half),
        "file.delete.delay.ms": str(min(60_000, half)),
    }  # fmt: skip


def contract_topics(settings: Settings, tenants: list[str] | None = None) -> list[TopicSpec]:
    """Every topic the gateway needs, with per-tenant topics for the given (or configured) tenants."""
    names = TopicNames(settings.topic_prefix)
    compacted = compacting_within(settings.erased_bound_ms)
    delete_after = deleting_after

    def spec(name: str, kind: TopicKind, config: dict[str, str], doc: str) -> TopicSpec:
        return _spec(settings, name, kind, config, doc)

    # Inputs are stamped by the broker when appended: times the gateway trusts (a producer's own
    # clock bounds nothing), and the same on a redo.
    stamped = {"message.timestamp.type": "LogAppendTime"}
    specs = [
        spec(names.cameras, TopicKind.REGISTRY, compacted | stamped, "camera registry, keyed by camera_id"),
        spec(names.consent, TopicKind.REGISTRY, compacted | stamped, "consent, keyed by tenant/subject"),
        spec(
            names.enroll,
            TopicKind.INBOX,
            delete_after(settings.enroll_retention_ms) | stamped,
            "raw enrollment templates",
        ),
        spec(
            names.raw,
            TopicKind.INBOX,
            delete_after(settings.raw_retention_ms) | stamped,
            "raw face captures from vendors",
        ),
        spec(
            names.share_requests,
            TopicKind.INBOX,
            delete_after(settings.governed_retention_ms) | stamped,
            "cross-company share requests",
        ),
        spec(names.audit, TopicKind.AUDIT, delete_after(settings.audit_retention_ms), "one signed record per decision"),
        spec(
            names.rejected,
            TopicKind.DEAD_LETTER,
            delete_after(settings.rejected_retention_ms),
            "dead letters, biometrics removed",
        ),
    ]
    for tenant in tenants if tenants is not None else settings.tenants:
        specs.append(
            spec(
                names.governed(tenant),
                TopicKind.OUTPUT,
                delete_after(settings.governed_retention_ms),
                f"governed events for {tenant}",
            )
        )
        specs.append(
            spec(
                names.erasure(tenant),
                TopicKind.OUTPUT,
                delete_after(settings.audit_retention_ms),
                f"erasure notices for {tenant}",
            )
        )
    return specs


def _spec(settings: Settings, name: str, kind: TopicKind, config: dict[str, str], doc: str) -> TopicSpec:
    replicas, min_insync = durability(settings, kind)
    return TopicSpec(name, kind, settings.partitions, replicas, config, doc, min_insync)


def internal_topic_specs(settings: Settings) -> list[TopicSpec]:
    """Gateway-internal topics, compacted: protected enrollments (a tombstone erases one) and the
    withdrawals the gateway has seen (kept for good: no replayed grant restores a consent)."""
    names = TopicNames(settings.topic_prefix)
    compacted = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}
    return [
        _spec(
            settings,
            names.enrolled,
            TopicKind.STATE,
            compacting_within(settings.erased_bound_ms),
            "protected enrollment templates, keyed tenant/subject",
        ),
        _spec(
            settings, names.withdrawals, TopicKind.STATE, compacted, "withdrawals the gateway saw, keyed tenant/subject"
        ),
    ]
