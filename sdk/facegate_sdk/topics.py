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
    """The contract's topic names under one prefix (FACEGATE_TOPIC_PREFIX, default `facegate.`)."""

    prefix: str = "facegate."

    @property
    def raw(self) -> str:
        """FaceCaptured from camera vendors, keyed by event_id."""
        return f"{self.prefix}faces.raw"

    @property
    def cameras(self) -> str:
        """CameraRegistration (compacted), keyed by camera_id; a null value deregisters."""
        return f"{self.prefix}cameras"

    @property
    def consent(self) -> str:
        """ConsentRecord (compacted), keyed tenant_id/subject_id; a null value deletes."""
        return f"{self.prefix}consent"

    @property
    def enroll(self) -> str:
        """Enrollment, keyed tenant_id/subject_id."""
        return f"{self.prefix}enroll"

    @property
    def share_requests(self) -> str:
        """ShareRequest, keyed tenant_id/subject_id."""
        return f"{self.prefix}share.requests"

    @property
    def rejected(self) -> str:
        """The gateway's dead letters (RejectedEvent), with a reason code."""
        return f"{self.prefix}rejected"

    def governed(self, tenant_id: str) -> str:
        """What a tenant reads: its governed, pseudonymous events."""
        return f"{self.prefix}governed.{_checked(tenant_id)}"

    def erasure(self, tenant_id: str) -> str:
        return f"{self.prefix}erasure.{_checked(tenant_id)}"


def _checked(tenant_id: str) -> str:
    if not _TENANT_ID.match(tenant_id):
        raise ValueError("tenant id must be 1-64 characters of letters, digits, '_' or '-' (it names topics)")
    return tenant_id
