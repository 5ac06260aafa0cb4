"""Where records go and under which key (docs/vendors.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TENANT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def subject_key(tenant_id: str, subject_id: str) -> str:
    """Key of the consent, enrollment and share-request topics: `tenant_id/subject_id`."""
    return f"{tenant_id}/{subject_id}"


@dataclass(frozen=True)
class Topics:
    """The contract's topic names under one prefix (FACEGATE_TOPIC_PREFIX, default `facegate.`).

    Each vendor and each tenant writes only its own topics (the broker's ACLs enforce it, and the
    gateway takes the writer from the topic: a record naming another tenant is rejected)."""

    prefix: str = "facegate."

    def captures(self, vendor_id: str) -> str:
        """FaceCaptured from one camera vendor, keyed by event_id."""
        return f"{self.prefix}faces.raw.{_checked(vendor_id, 'vendor')}"

    def cameras(self, tenant_id: str) -> str:
        """The tenant's CameraRegistration (compacted), keyed by camera_id; a null value deregisters."""
        return f"{self.prefix}cameras.{_checked(tenant_id)}"

    def consent(self, tenant_id: str) -> str:
        """The tenant's ConsentRecord (compacted), keyed tenant_id/subject_id; a null value deletes."""
        return f"{self.prefix}consent.{_checked(tenant_id)}"

    def enroll(self, tenant_id: str) -> str:
        """The tenant's Enrollment, keyed tenant_id/subject_id."""
        return f"{self.prefix}enroll.{_checked(tenant_id)}"

    def share_requests(self, tenant_id: str) -> str:
        """The tenant's ShareRequest, keyed tenant_id/subject_id."""
        return f"{self.prefix}share.requests.{_checked(tenant_id)}"

    @property
    def rejected(self) -> str:
        """The gateway's dead letters (RejectedEvent), with a reason code."""
        return f"{self.prefix}rejected"

    def governed(self, tenant_id: str) -> str:
        """What a tenant reads: its governed, pseudonymous events."""
        return f"{self.prefix}governed.{_checked(tenant_id)}"

    def erasure(self, tenant_id: str) -> str:
        return f"{self.prefix}erasure.{_checked(tenant_id)}"


def _checked(name: str, what: str = "tenant") -> str:
    if not _TENANT_ID.match(name):
        raise ValueError(f"{what} id must be 1-64 characters of letters, digits, '_' or '-' (it names topics)")
    return name
