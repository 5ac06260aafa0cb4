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
# Identifications are counted in the minute the broker took them. A backlog's partitions are read
# in turn, so one may reach the present while another's older captures are still to come: a minute
# is folded into the baseline only this many minutes after a later one was seen, and counts are
# kept this long for the late ones, each judged in its own minute (counted in the present one, a
# backlog made a burst of it; counted nowhere, a burst inside a backlog went unseen).
LATENESS = 5
KEEP = 60


@dataclass
class _Tenant:
    newest: int  # the latest minute seen (seconds since the epoch // 60)
    closed: int  # minutes up to this one are folded into the baseline
    counts: dict[int, int] = field(default_factory=dict)  # identifications per minute, the last KEEP
    baseline: float = 0.0  # identifications per minute, exponentially weighted over closed minutes
    minutes: int = 0  # minutes folded into the baseline


@dataclass
class IdentificationRates:
    """Per tenant: identifications per minute against the tenant's own baseline."""

    factor: float = 5.0  # a burst is more than this many times the baseline ...
    floor: int = 20  # ... and more than this many identifications in a minute
    warmup: int = 10  # minutes of history before a baseline is trusted
    weight: float = 0.1  # of the latest minute in the baseline
    tenants: dict[str, _Tenant] = field(default_factory=dict)

    def observe(self, tenant_id: str, at: datetime) -> bool:
        """Count one identification at `at`; True when its minute lies beyond the tenant's baseline."""
        minute = int(at.timestamp()) // MINUTE_S
        tenant = self.tenants.setdefault(tenant_id, _Tenant(newest=minute, closed=minute - 1))
        if minute <= tenant.newest - KEEP:
            return False  # older than any minute still counted
        if minute > tenant.newest:
            tenant.newest = minute
            self._close(tenant, minute - LATENESS)
        count = tenant.counts[minute] = tenant.counts.get(minute, 0) + 1
        return tenant.minutes >= self.warmup and count > max(self.floor, self.factor * tenant.baseline)

    def baseline(self, tenant_id: str) -> float:
        tenant = self.tenants.get(tenant_id)
        return tenant.baseline if tenant is not None else 0.0

    def _close(self, tenant: _Tenant, through: int) -> None:
        """Fold the minutes after `closed` up to `through` into the baseline, quiet ones as zero,
        and forget the counts older than KEEP."""
        if through <= tenant.closed:
            return
        keep = 1.0 - self.weight
        at = tenant.closed + 1  # the first minute not folded yet
        for minute in sorted(m for m in tenant.counts if at <= m <= through):
            tenant.baseline *= keep ** min(minute - at, 10_000)  # quiet minutes before it
            tenant.baseline = tenant.baseline * keep + self.weight * tenant.counts[minute]
            at = minute + 1
        tenant.baseline *= keep ** min(through + 1 - at, 10_000)
        tenant.minutes += through - tenant.closed
        tenant.closed = through
        for minute in [m for m in tenant.counts if m <= tenant.newest - KEEP]:
            del tenant.counts[minute]
