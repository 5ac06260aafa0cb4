"""R18 anomaly: bursts of identifications beyond a tenant's own baseline, raised as an audit alert.

Monitoring for abnormal use is part of the security measures PIPL art. 51 and the CAC measures
(art. 14: security auditing, intrusion detection) ask of a face-recognition processor; a tenant
suddenly identifying many more people than it usually does is what a stolen credential, a
misconfigured camera or covert surveillance looks like. Each tenant is compared with itself:
identifications are counted per minute, the baseline is an exponentially weighted mean of past
minutes (quiet minutes count as zero), and a minute whose count exceeds both `factor` times the
baseline and `floor` raises R18 on every identification beyond that, once the tenant has
`warmup` minutes of history. Pure: the caller gives the time; the state lives in GatewayState.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

MINUTE_S = 60


@dataclass
class _Tenant:
    minute: int  # the minute being counted (seconds since the epoch // 60)
    count: int = 0  # identifications in that minute
    baseline: float = 0.0  # identifications per minute, exponentially weighted over past minutes
    minutes: int = 0  # past minutes folded into the baseline


@dataclass
class IdentificationRates:
    """Per tenant: identifications per minute against the tenant's own baseline."""

    factor: float = 5.0  # a burst is more than this many times the baseline ...
    floor: int = 20  # ... and more than this many identifications in a minute
    warmup: int = 10  # minutes of history before a baseline is trusted
    weight: float = 0.1  # of the latest minute in the baseline
    tenants: dict[str, _Tenant] = field(default_factory=dict)

    def observe(self, tenant_id: str, at: datetime) -> bool:
        """Count one identification at `at`; True when it lies beyond the tenant's baseline."""
        minute = int(at.timestamp()) // MINUTE_S
        tenant = self.tenants.setdefault(tenant_id, _Tenant(minute))
        if minute < tenant.minute:
            # A minute already closed: a backlog's partitions are decided one after the other, so
            # once one has reached the present the others' older captures come; counted in the
            # present minute, they made a burst of it.
            return False
        if minute > tenant.minute:
            self._fold(tenant, minute)
        tenant.count += 1
        return tenant.minutes >= self.warmup and tenant.count > max(self.floor, self.factor * tenant.baseline)

    def baseline(self, tenant_id: str) -> float:
        tenant = self.tenants.get(tenant_id)
        return tenant.baseline if tenant is not None else 0.0

    def _fold(self, tenant: _Tenant, minute: int) -> None:
        """Close the counted minute and the quiet ones after it into the baseline."""
        gap = minute - tenant.minute
        keep = 1.0 - self.weight
        tenant.baseline = tenant.baseline * keep + self.weight * tenant.count
        tenant.baseline *= keep ** min(gap - 1, 10_000)  # quiet minutes in between
        tenant.minutes += gap
        tenant.minute, tenant.count = minute, 0
