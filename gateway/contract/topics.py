"""The topic contract (docs/design.md): names, partitions and the configs that make each topic what it is."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import lru_cache
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


# The tenant's input topics (`<prefix><kind>.<tenant>`): the topic is the writer's identity, since
# a tenant's principal may write only its own (roles.py). Captures come the same way per vendor.
TENANT_INPUTS = ("consent", "enroll", "share.requests", "cameras")
TENANT_OUTPUTS = ("governed", "erasure")
VENDOR_INPUTS = ("faces.raw",)
# The shared input topics of 0.1 and 0.2, where any tenant could speak for any other: retired.
RETIRED = ("faces.raw", "consent", "enroll", "share.requests", "cameras")


@dataclass(frozen=True)
class TopicNames:
    """Contract topic names under one prefix."""

    prefix: str = "facegate."

    def cameras(self, tenant_id: str) -> str:
        """A tenant's camera registrations (compacted), keyed by camera_id."""
        return self._own("cameras", tenant_id)

    def consent(self, tenant_id: str) -> str:
        """A tenant's consent records (compacted), keyed tenant_id/subject_id."""
        return self._own("consent", tenant_id)

    def enroll(self, tenant_id: str) -> str:
        return self._own("enroll", tenant_id)

    def share_requests(self, tenant_id: str) -> str:
        return self._own("share.requests", tenant_id)

    def captures(self, vendor_id: str) -> str:
        """A camera vendor's raw captures, keyed by event_id."""
        return self._own("faces.raw", vendor_id)

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

    @property
    def retired(self) -> list[str]:
        """The shared input topics of earlier releases (`facegate topics describe` names any left)."""
        return [self.prefix + kind for kind in RETIRED]

    def governed(self, tenant_id: str) -> str:
        return self._own("governed", tenant_id)

    def erasure(self, tenant_id: str) -> str:
        return self._own("erasure", tenant_id)

    def tenant_inputs(self, tenant_id: str) -> list[str]:
        return [self._own(kind, tenant_id) for kind in TENANT_INPUTS]

    def owner(self, topic: str) -> tuple[str, str] | None:
        """(kind, tenant or vendor id) of a per-tenant or per-vendor topic, else None."""
        return _owner(self.prefix, topic)

    def tenant_of(self, topic: str) -> str | None:
        """The tenant a per-tenant topic is for, or None for a shared or vendor topic (or one not ours)."""
        found = self.owner(topic)
        return found[1] if found is not None and found[0] not in VENDOR_INPUTS else None

    def vendor_of(self, topic: str) -> str | None:
        """The vendor whose capture topic this is, or None."""
        found = self.owner(topic)
        return found[1] if found is not None and found[0] in VENDOR_INPUTS else None

    def kind_of(self, topic: str) -> str | None:
        found = self.owner(topic)
        return found[0] if found is not None else None

    def _own(self, kind: str, owner_id: str) -> str:
        return f"{self.prefix}{kind}.{check_tenant_id(owner_id)}"


@lru_cache(maxsize=4096)  # asked for every capture; a worker reads a few dozen topics
def _owner(prefix: str, topic: str) -> tuple[str, str] | None:
    for kind in (*TENANT_INPUTS, *TENANT_OUTPUTS, *VENDOR_INPUTS):
        head = f"{prefix}{kind}."
        if topic.startswith(head) and _TENANT_ID.match(owner := topic[len(head) :]):
            return kind, owner
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


def contract_topics(
    settings: Settings, tenants: list[str] | None = None, vendors: list[str] | None = None
) -> list[TopicSpec]:
    """Every topic the gateway needs, with per-tenant and per-vendor topics for the given (or
    configured) tenants and vendors."""
    names = TopicNames(settings.topic_prefix)
    specs = [
        _spec(settings, names.audit, TopicKind.AUDIT, deleting_after(settings.audit_retention_ms),
              "one signed record per decision"),
        _spec(settings, names.rejected, TopicKind.DEAD_LETTER, deleting_after(settings.rejected_retention_ms),
              "dead letters, biometrics removed"),
    ]  # fmt: skip
    for tenant in tenants if tenants is not None else settings.tenants:
        specs += tenant_topics(settings, tenant)
    for vendor in vendors if vendors is not None else settings.vendors:
        specs += vendor_topics(settings, vendor)
    return specs


# Inputs are stamped by the broker when appended: times the gateway trusts (a producer's own
# clock bounds nothing), and the same on a redo.
TIMESTAMP_TYPE, APPEND_TIME = "message.timestamp.type", "LogAppendTime"
_STAMPED = {TIMESTAMP_TYPE: APPEND_TIME}


def tenant_topics(settings: Settings, tenant: str) -> list[TopicSpec]:
    """A tenant's four input topics (only its principal writes them) and its two output topics."""
    names = TopicNames(settings.topic_prefix)
    compacted = compacting_within(settings.erased_bound_ms) | _STAMPED
    return [
        _spec(settings, names.cameras(tenant), TopicKind.REGISTRY, compacted,
              f"{tenant}'s camera registry, keyed by camera_id"),
        _spec(settings, names.consent(tenant), TopicKind.REGISTRY, compacted,
              f"{tenant}'s consent records, keyed {tenant}/subject"),
        _spec(settings, names.enroll(tenant), TopicKind.INBOX,
              deleting_after(settings.enroll_retention_ms) | _STAMPED, f"{tenant}'s raw enrollment templates"),
        _spec(settings, names.share_requests(tenant), TopicKind.INBOX,
              deleting_after(settings.governed_retention_ms) | _STAMPED, f"{tenant}'s cross-company share requests"),
        _spec(settings, names.governed(tenant), TopicKind.OUTPUT, deleting_after(settings.governed_retention_ms),
              f"governed events for {tenant}"),
        _spec(settings, names.erasure(tenant), TopicKind.OUTPUT, deleting_after(settings.audit_retention_ms),
              f"erasure notices for {tenant}"),
    ]  # fmt: skip


def vendor_topics(settings: Settings, vendor: str) -> list[TopicSpec]:
    """A camera vendor's raw capture topic (only its principal writes it)."""
    names = TopicNames(settings.topic_prefix)
    raw = deleting_after(settings.raw_retention_ms) | _STAMPED
    return [_spec(settings, names.captures(vendor), TopicKind.INBOX, raw, f"raw face captures from {vendor}")]


def _spec(settings: Settings, name: str, kind: TopicKind, config: dict[str, str], doc: str) -> TopicSpec:
    replicas, min_insync = durability(settings, kind)
    return TopicSpec(name, kind, settings.partitions, replicas, config, doc, min_insync)


def gateway_topics(
    settings: Settings, tenants: list[str] | None = None, vendors: list[str] | None = None
) -> list[TopicSpec]:
    """Every topic a worker needs before it starts: the contract's and the gateway's internal ones."""
    return [*contract_topics(settings, tenants, vendors), *internal_topic_specs(settings)]


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
