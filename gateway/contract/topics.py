"""The topic contract of DESIGN.md: names, partitions and the configs that make each topic what it is."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
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


def check_tenant_id(tenant_id: str) -> str:
    """Tenant ids become topic names, so they are restricted to what Kafka and ACLs handle plainly."""
    if not _TENANT_ID.match(tenant_id):
        raise ValueError("tenant id must be 1-64 characters of letters, digits, '_' or '-' (it names topics)")
    return tenant_id


@dataclass(frozen=True)
class TopicSpec:
    name: str
    kind: TopicKind
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)
    doc: str = ""


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


def contract_topics(settings: Settings, tenants: list[str] | None = None) -> list[TopicSpec]:
    """Every topic the gateway needs, with per-tenant topics for the given (or configured) tenants."""
    names = TopicNames(settings.topic_prefix)
    n, rf = settings.partitions, settings.replication_factor
    compacted = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}

    def delete_after(ms: int) -> dict[str, str]:
        return {"cleanup.policy": "delete", "retention.ms": str(ms)}

    specs = [
        TopicSpec(names.cameras, TopicKind.REGISTRY, n, rf, compacted, "camera registry, keyed by camera_id"),
        TopicSpec(names.consent, TopicKind.REGISTRY, n, rf, compacted, "consent, keyed by tenant/subject"),
        TopicSpec(
            names.enroll,
            TopicKind.INBOX,
            n,
            rf,
            delete_after(settings.enroll_retention_ms),
            "raw enrollment templates",
        ),
        TopicSpec(
            names.raw,
            TopicKind.INBOX,
            n,
            rf,
            delete_after(settings.raw_retention_ms),
            "raw face captures from vendors",
        ),
        TopicSpec(
            names.share_requests,
            TopicKind.INBOX,
            n,
            rf,
            delete_after(settings.governed_retention_ms),
            "cross-company share requests",
        ),
        TopicSpec(
            names.audit,
            TopicKind.AUDIT,
            n,
            rf,
            delete_after(settings.audit_retention_ms),
            "one signed record per decision",
        ),
        TopicSpec(
            names.rejected,
            TopicKind.DEAD_LETTER,
            n,
            rf,
            delete_after(settings.rejected_retention_ms),
            "dead letters, biometrics removed",
        ),
    ]
    for tenant in tenants if tenants is not None else settings.tenants:
        specs.append(
            TopicSpec(
                names.governed(tenant),
                TopicKind.OUTPUT,
                n,
                rf,
                delete_after(settings.governed_retention_ms),
                f"governed events for {tenant}",
            )
        )
        specs.append(
            TopicSpec(
                names.erasure(tenant),
                TopicKind.OUTPUT,
                n,
                rf,
                delete_after(settings.audit_retention_ms),
                f"erasure notices for {tenant}",
            )
        )
    return specs


def internal_topic_specs(settings: Settings) -> list[TopicSpec]:
    """Gateway-internal topics: protected enrollments (compacted; a tombstone erases one)."""
    return [
        TopicSpec(
            TopicNames(settings.topic_prefix).enrolled,
            TopicKind.STATE,
            settings.partitions,
            settings.replication_factor,
            {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"},
            "protected enrollment templates, keyed tenant/subject",
        )
    ]
