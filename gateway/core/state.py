"""What the decision needs to know, held in memory: cameras, consents, policies, calibrations,
keys and each tenant's enrolled protected templates. The shell feeds it from Kafka (every worker
follows the compacted topics from the beginning); tests feed it directly.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gateway.contract.codec import Codec, DecodeError, default_codec
from gateway.contract.models import AvroRecord, CameraRegistration, ConsentRecord
from gateway.core.biometrics.calibration import Calibration, shipped
from gateway.core.biometrics.embeddings import from_bytes
from gateway.core.biometrics.matching import EnrolledIndex
from gateway.core.biometrics.protection import Codes, Protector
from gateway.core.policy.tenant import EffectivePolicy
from gateway.keyring import Keyring


def consent_key(tenant_id: str, subject_id: str) -> str:
    """Key of the consent and enrollment topics: tenant/subject (DESIGN.md)."""
    return f"{tenant_id}/{subject_id}"


@dataclass(frozen=True)
class ProtectedEnrollment:
    """A subject's enrolled template after protection: all that is kept of an enrollment."""

    tenant_id: str
    subject_id: str
    template_model: str
    key_version: int
    code: bytes

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "tenant_id": self.tenant_id,
                "subject_id": self.subject_id,
                "template_model": self.template_model,
                "key_version": self.key_version,
                "code": base64.b64encode(self.code).decode(),
            }
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ProtectedEnrollment:
        raw = json.loads(data)
        return cls(
            str(raw["tenant_id"]),
            str(raw["subject_id"]),
            str(raw["template_model"]),
            int(raw["key_version"]),
            base64.b64decode(raw["code"]),
        )


@dataclass
class GatewayState:
    keyring: Keyring
    policies: dict[str, EffectivePolicy] = field(default_factory=dict)
    fallback_policy: Callable[[str], EffectivePolicy] | None = None  # development mode only
    calibrations: dict[str, Calibration] = field(default_factory=shipped)
    codec: Codec = field(default_factory=default_codec)
    cameras: dict[str, CameraRegistration] = field(default_factory=dict)
    consents: dict[str, ConsentRecord] = field(default_factory=dict)
    indexes: dict[tuple[str, str, int], EnrolledIndex] = field(default_factory=dict)
    enrolled_at: dict[str, tuple[str, int]] = field(default_factory=dict)  # tenant/subject -> (model, version)
    ignored_records: int = 0  # registry records that did not decode

    # -- lookups ------------------------------------------------------------------------------
    def policy(self, tenant_id: str) -> EffectivePolicy | None:
        found = self.policies.get(tenant_id)
        if found is None and self.fallback_policy is not None:
            found = self.policies[tenant_id] = self.fallback_policy(tenant_id)
        return found

    def consent(self, tenant_id: str, subject_id: str) -> ConsentRecord | None:
        return self.consents.get(consent_key(tenant_id, subject_id))

    def protector(self, tenant_id: str, calibration: Calibration, version: int | None = None) -> Protector:
        chosen, key = self.keyring.protection_key(tenant_id, version)
        return calibration.protector(key, chosen)

    def enrolled_versions(self, tenant_id: str, template_model: str) -> list[int]:
        return sorted(
            v for (t, m, v), index in self.indexes.items() if t == tenant_id and m == template_model and len(index)
        )

    def enrolled_count(self, tenant_id: str) -> int:
        return sum(len(index) for (t, _, _), index in self.indexes.items() if t == tenant_id)

    # -- updates from the compacted topics ----------------------------------------------------
    def apply_camera(self, camera_id: str, value: bytes | None) -> None:
        self._apply(self.cameras, CameraRegistration, camera_id, value)

    def apply_consent(self, key: str, value: bytes | None) -> None:
        self._apply(self.consents, ConsentRecord, key, value)

    def _apply(self, registry: dict[str, Any], model: type[AvroRecord], key: str, value: bytes | None) -> None:
        """A compacted-topic record: a tombstone deletes, an undecodable value is counted and skipped."""
        if value is None:
            registry.pop(key, None)
            return
        try:
            registry[key] = self.codec.decode(value, model)
        except DecodeError:
            self.ignored_records += 1

    def apply_enrollment(self, key: str, value: bytes | None) -> None:
        previous = self.enrolled_at.pop(key, None)
        if previous is not None:
            tenant_id, subject_id = key.split("/", 1)
            self.indexes[(tenant_id, *previous)].remove(subject_id)
        if value is None:
            return
        try:
            enrollment = ProtectedEnrollment.from_json(value)
        except (ValueError, KeyError, TypeError):
            self.ignored_records += 1
            return
        calibration = self.calibrations.get(enrollment.template_model)
        if calibration is None:
            self.ignored_records += 1
            return
        slot = (enrollment.tenant_id, enrollment.template_model, enrollment.key_version)
        index = self.indexes.setdefault(slot, EnrolledIndex(calibration.scheme))
        index.add(enrollment.subject_id, np.frombuffer(enrollment.code, dtype=np.uint8))
        self.enrolled_at[key] = (enrollment.template_model, enrollment.key_version)

    def protect_enrollment(
        self, tenant_id: str, subject_id: str, template: bytes, template_model: str
    ) -> ProtectedEnrollment:
        """Protect a raw enrollment template at once with the tenant's current key (R08)."""
        calibration = self.calibrations.get(template_model)
        if calibration is None:
            raise LookupError(f"template model {template_model!r} has no calibration")
        protector = self.protector(tenant_id, calibration)
        code: Codes = protector.protect(from_bytes(template, calibration.dim))
        return ProtectedEnrollment(tenant_id, subject_id, template_model, protector.version, code[0].tobytes())
