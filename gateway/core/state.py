"""What the decision needs to know, held in memory: cameras, consents, policies, calibrations,
keys and each tenant's enrolled protected templates. The shell feeds it from Kafka (every worker
follows the compacted topics from the beginning); tests feed it directly.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TypeVar

import numpy as np

from gateway.contract.codec import Codec, DecodeError, DecodeErrorCode, default_codec
from gateway.contract.models import (
    MAX_ID_LENGTH,
    AvroRecord,
    CameraRegistration,
    ConsentRecord,
    EnrolledRecipient,
    EnrolledTemplate,
    Withdrawal,
)
from gateway.core.anomaly import IdentificationRates
from gateway.core.biometrics.calibration import Calibration
from gateway.core.biometrics.matching import EnrolledIndex
from gateway.core.biometrics.protection import Codes, Protector
from gateway.core.consent import ConsentHistory, ConsentLedger, too_large
from gateway.core.messages import ahead_of_broker
from gateway.core.policy.reasons import Reason
from gateway.core.policy.tenant import EffectivePolicy
from gateway.core.pseudonyms import former_tenant_pseudonym, regulator_pseudonym, shared_pseudonym, tenant_pseudonym
from gateway.keyring import Keyring, MissingKeyError

Record = TypeVar("Record", bound=AvroRecord)


def consent_key(tenant_id: str, subject_id: str) -> str:
    """Key of the consent and enrollment topics: tenant/subject (docs/vendors.md)."""
    return f"{tenant_id}/{subject_id}"


# What a tenant's record may speak for, judged once for both readers of its topics: the lifecycle
# agent rejects (and audits) what these refuse, the feeds leave the state as it was.
def key_refusal(tenant_id: str, key: str) -> Reason | None:
    """Why a key on the tenant's consent, enrollment or share-request topic names none of its
    subjects (BAD_KEY: not tenant/subject; TENANT_MISMATCH: another tenant's), or None."""
    key_tenant, _, subject = key.partition("/")
    if not key_tenant or not subject or len(subject) > MAX_ID_LENGTH:
        return Reason.BAD_KEY
    return Reason.TENANT_MISMATCH if key_tenant != tenant_id else None


class Standing(StrEnum):
    """What the gateway makes of one record on a subject's consent key."""

    APPLIED = "APPLIED"  # a version of the consent
    DELETED = "DELETED"  # a tombstone: the tenant deleted the consent (no consent from then on)
    VOID = "VOID"  # undecodable, too large or dated ahead of the broker: no consent from then on (fail closed)
    IGNORED = "IGNORED"  # its key or body speaks for another tenant or subject: changes nothing


@dataclass(frozen=True)
class ConsentVersion:
    """One record on a consent topic as the gateway judges it. `consent` is None for a tombstone,
    an undecodable record and one IGNORED (that body is another subject's: never shown)."""

    standing: Standing
    consent: ConsentRecord | None = None
    reason: Reason | None = None  # why VOID or IGNORED: the reason the lifecycle agent audits it with


def judge_consent(
    tenant_id: str, key: str, value: bytes | None, timestamp_ms: int, skew: timedelta, codec: Codec
) -> ConsentVersion:
    """One record of `tenant_id`'s consent topic: what the feeds apply (`GatewayState.apply_consent`)
    and what the CLI shows and acts on, one judgement for both. A record that does not decode, is
    larger than a version may be, or is dated ahead of the broker (the agent rejects all three, so
    nothing may rely on it once its date comes) may have been a withdrawal: it voids the consent
    until a valid version follows."""
    if (refused := key_refusal(tenant_id, key)) is not None:
        return ConsentVersion(Standing.IGNORED, reason=refused)
    if value is None:
        return ConsentVersion(Standing.DELETED)
    try:
        consent = codec.decode(value, ConsentRecord)
    except DecodeError as exc:
        return ConsentVersion(Standing.VOID, reason=Reason.undecodable(exc.code))
    if consent_key(consent.tenant_id, consent.subject_id) != key:
        return ConsentVersion(Standing.IGNORED, reason=Reason.KEY_MISMATCH)  # as the agent audits it
    if too_large(value):
        return ConsentVersion(Standing.VOID, consent, Reason.CONSENT_TOO_LARGE)
    if ahead_of_broker(timestamp_ms, skew, consent.granted_at, consent.withdrawn_at):
        return ConsentVersion(Standing.VOID, consent, Reason.TIME_IN_FUTURE)
    return ConsentVersion(Standing.APPLIED, consent)


def camera_refusal(camera: CameraRegistration, tenant_id: str, key: str) -> Reason | None:
    """Why a registration on the tenant's camera topic, keyed `key`, is not that camera's of that tenant."""
    if camera.tenant_id != tenant_id:
        return Reason.TENANT_MISMATCH
    return Reason.KEY_MISMATCH if camera.camera_id != key else None


@dataclass(frozen=True)
class RecipientTemplate:
    """The subject's template protected with a recipient's key, for sharing the consent allows (R09).

    Made at enrollment, from the raw template, for each recipient the consent names: protected
    templates cannot be converted between keys, and the raw one is never kept.
    """

    key_version: int
    code: bytes = field(repr=False)  # a protected template: never in a repr


def decode_enrolled(codec: Codec, value: bytes) -> EnrolledTemplate:
    """A value of the enrolled topic: the contract's EnrolledTemplate, or the JSON that workers
    before 0.2.0 wrote (read during a rolling upgrade, until compaction replaces it).
    Raises DecodeError."""
    if value[:1] != b"{":
        return codec.decode(value, EnrolledTemplate)
    try:
        raw = json.loads(value)
        return EnrolledTemplate(
            tenant_id=raw["tenant_id"],
            subject_id=raw["subject_id"],
            template_model=raw["template_model"],
            key_version=raw["key_version"],
            code=base64.b64decode(raw["code"]),
            enrolled_at=datetime.fromtimestamp(int(raw["enrolled_at"]) / 1000, UTC),
            recipients=[
                EnrolledRecipient(tenant_id=name, key_version=r["key_version"], code=base64.b64decode(r["code"]))
                for name, r in sorted(raw.get("recipients", {}).items())
            ],
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise DecodeError(DecodeErrorCode.CORRUPT, "enrolled value is neither Avro nor the 0.1 JSON form") from None


@dataclass(frozen=True)
class EnrollmentEntry:
    """What the state keeps of an enrollment besides its code in the index: for sweeps and sharing."""

    template_model: str
    key_version: int
    enrolled_at: datetime
    partition: int  # of the enrolled topic: the worker owning it sweeps it
    recipients: dict[str, RecipientTemplate]
    # Protected under this worker's calibration of the model? If not, it is kept for the sweeps
    # (retention, erasure) but never matched or shared: the subject must re-enroll.
    current: bool = True


@dataclass
class GatewayState:
    keyring: Keyring
    policies: dict[str, EffectivePolicy] = field(default_factory=dict)
    fallback_policy: Callable[[str], EffectivePolicy] | None = None  # development mode only
    calibrations: dict[str, Calibration] = field(default_factory=dict)  # by template model
    codec: Codec = field(default_factory=default_codec)
    cameras: dict[tuple[str, str], CameraRegistration] = field(default_factory=dict)  # by tenant, camera
    consents: ConsentLedger = field(default_factory=ConsentLedger)
    indexes: dict[tuple[str, str, int], EnrolledIndex] = field(default_factory=dict)
    enrollments: dict[str, EnrollmentEntry] = field(default_factory=dict)  # by tenant/subject
    # Entries not current, per template model, kept as enrollments change: the gauge that reports
    # them ran every 5 s and walked every entry (0.4 s at 2M, a pause for every capture in flight).
    stale: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    # Enrollments per tenant, kept as they change: a sweep learns which tenants it must walk in full
    # without walking every entry to find out (erasure.sweep_slices).
    per_tenant: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    ignored_records: int = 0  # registry records that did not decode
    withdrawals: dict[str, datetime] = field(default_factory=dict)  # the gateway's own record, by tenant/subject
    # Enrollments held though the gateway recorded a withdrawal at or after them: an `enrolled`
    # topic restored from an older backup brings erased templates back; the sweep erases them.
    withdrawn_enrolled: set[str] = field(default_factory=set)
    identifications: IdentificationRates = field(default_factory=IdentificationRates)  # R18 baselines
    clock_skew: timedelta = timedelta(minutes=5)  # how far ahead of the broker's time a tenant's time may be
    _labels: dict[str, tuple[Calibration, str]] = field(default_factory=dict, init=False, repr=False)

    # -- lookups ------------------------------------------------------------------------------
    def policy(self, tenant_id: str) -> EffectivePolicy | None:
        found = self.policies.get(tenant_id)
        if found is None and self.fallback_policy is not None:
            found = self.policies[tenant_id] = self.fallback_policy(tenant_id)
        return found

    def camera(self, tenant_id: str, camera_id: str) -> CameraRegistration | None:
        return self.cameras.get((tenant_id, camera_id))

    def unconfigured(self, tenants: Collection[str]) -> dict[str, int]:
        """Templates held per tenant not among `tenants`: no decision uses them and no sweep erases
        them (no policy), so they stay until the tenant is configured again and its consents deleted."""
        return {t: n for t, n in sorted(self.per_tenant.items()) if n and t not in tenants}

    def consent(self, tenant_id: str, subject_id: str) -> ConsentHistory | None:
        key = consent_key(tenant_id, subject_id)
        history, withdrawn = self.consents.get(key), self.withdrawals.get(key)
        return history if history is None or withdrawn is None else replace(history, withdrawn_at=withdrawn)

    def tenant_pseudonym(self, tenant_id: str, subject_id: str) -> str:
        version, key = self.keyring.pseudonym_key(tenant_id)
        return tenant_pseudonym(key, version, tenant_id, subject_id)

    def former_tenant_pseudonym(self, tenant_id: str, subject_id: str) -> str | None:
        version, key = self.keyring.pseudonym_key(tenant_id)
        return former_tenant_pseudonym(key, version, tenant_id, subject_id)

    def recipient_pseudonym(self, recipient_tenant_id: str, tenant_id: str, subject_id: str) -> str:
        """What a company that received a share calls the subject: its own key, the sender's subject."""
        version, key = self.keyring.pseudonym_key(recipient_tenant_id)
        return shared_pseudonym(key, version, recipient_tenant_id, tenant_id, subject_id)

    def pseudonyms_held(self, company: str, tenant_id: str, subject_id: str) -> list[tuple[int, str]]:
        """Every name `company` may hold the subject of `tenant_id` under, with its key version: its
        own subject's, or one shared with it, under each version the keyring still holds (current first);
        none for a company without keys. What an erasure notice names: data held under a version
        before a rotation must be found and erased too."""
        names = []
        for version in self.keyring.pseudonym_versions(company):
            _, key = self.keyring.pseudonym_key(company, version)
            if company == tenant_id:
                names.append((version, tenant_pseudonym(key, version, tenant_id, subject_id)))
            else:
                names.append((version, shared_pseudonym(key, version, company, tenant_id, subject_id)))
        return names

    def regulator_pseudonym(self, tenant_id: str, subject_id: str, version: int | None = None) -> str:
        version, key = self.keyring.regulator_key(version)
        return regulator_pseudonym(key, version, tenant_id, subject_id)

    def regulator_pseudonyms(self, tenant_id: str, subject_id: str) -> list[str]:
        """What the audit has called the subject under each regulator key version the keyring holds."""
        return [self.regulator_pseudonym(tenant_id, subject_id, v) for v in self.keyring.regulator_versions()]

    def calibration_label(self, calibration: Calibration) -> str:
        """`calibration.label`, once per calibration object: it hashes the centring vector (~12 µs),
        and a worker loading a million enrolled templates asks for it for each."""
        held = self._labels.get(calibration.template_model)
        if held is None or held[0] is not calibration:
            held = self._labels[calibration.template_model] = (calibration, calibration.label)
        return held[1]

    def protector(self, tenant_id: str, calibration: Calibration, version: int | None = None) -> Protector:
        chosen, key = self.keyring.protection_key(tenant_id, version)
        return calibration.protector(key, chosen)

    def enrolled_versions(self, tenant_id: str, template_model: str, at: datetime | None = None) -> list[int]:
        """Key versions with enrolled templates; at a time, only those not revoked by then."""
        return sorted(
            v
            for (t, m, v), index in self.indexes.items()
            if t == tenant_id and m == template_model and len(index)
            and (at is None or not self.keyring.protection_revoked(t, v, at))
        )  # fmt: skip

    def enrolled_count(self, tenant_id: str) -> int:
        return sum(len(index) for (t, _, _), index in self.indexes.items() if t == tenant_id)

    def enrolled_counts(self) -> dict[str, int]:
        """`enrolled_count` of every tenant with an index, in one pass."""
        counts: dict[str, int] = {}
        for (tenant, _, _), index in self.indexes.items():
            counts[tenant] = counts.get(tenant, 0) + len(index)
        return counts

    # -- updates from the compacted topics ----------------------------------------------------
    # A compacted-topic record (key, value, partition, offset and the broker's time): a tombstone
    # deletes, an undecodable value is counted and skipped.
    # Each tenant's records come from its own topics: one naming another tenant changes nothing
    # (counted; the lifecycle agent rejects and audits it).
    def apply_camera(
        self, tenant_id: str, camera_id: str, value: bytes | None, partition: int = 0, offset: int | None = None,
        timestamp_ms: int = 0,
    ) -> None:  # fmt: skip
        camera = self._decode(value, CameraRegistration) if value is not None else None
        if camera is not None and camera_refusal(camera, tenant_id, camera_id) is not None:
            self.ignored_records += 1
            camera = None
        if camera is None:
            # A deregistration, or a refused record (undecodable, another tenant's, another camera's):
            # either is the key's latest record, all a worker started after compaction reads of it.
            # Holding the registration before it would accept the camera on some workers only.
            self.cameras.pop((tenant_id, camera_id), None)
        else:
            self.cameras[(tenant_id, camera_id)] = camera

    def apply_consent(
        self, tenant_id: str, key: str, value: bytes | None, partition: int = 0, offset: int | None = None,
        timestamp_ms: int = 0,
    ) -> None:  # fmt: skip
        version = judge_consent(tenant_id, key, value, timestamp_ms, self.clock_skew, self.codec)
        if version.standing in (Standing.IGNORED, Standing.VOID):
            self.ignored_records += 1  # the lifecycle agent rejects and audits it
        if version.standing is Standing.VOID:
            self.consents.void(key, offset)
        elif version.standing is not Standing.IGNORED:
            self.consents.record(key, version.consent, offset)

    def apply_withdrawal(
        self, key: str, value: bytes | None, partition: int = 0, offset: int | None = None, timestamp_ms: int = 0
    ) -> None:
        """The gateway's own record of a withdrawal (it writes them; nothing deletes them)."""
        if value is not None and (withdrawal := self._decode(value, Withdrawal)) is not None:
            self.withdrawals[key] = max(withdrawal.withdrawn_at, self.withdrawals.get(key, withdrawal.withdrawn_at))
            self._check_withdrawn(key)

    def _check_withdrawn(self, key: str) -> None:
        entry, withdrawn = self.enrollments.get(key), self.withdrawals.get(key)
        if entry is not None and withdrawn is not None and entry.enrolled_at <= withdrawn:
            self.withdrawn_enrolled.add(key)
        else:
            self.withdrawn_enrolled.discard(key)

    def _decode(self, value: bytes, model: type[Record]) -> Record | None:
        try:
            return self.codec.decode(value, model)
        except DecodeError:
            self.ignored_records += 1
            return None

    def apply_enrollment(
        self, key: str, value: bytes | None, partition: int = 0, offset: int | None = None, timestamp_ms: int = 0
    ) -> None:
        previous = self.enrollments.pop(key, None)
        if previous is not None and not previous.current:
            self.stale[previous.template_model] -= 1
        if previous is not None:
            tenant_id, subject_id = key.split("/", 1)
            self.per_tenant[tenant_id] -= 1
            index = self.indexes.get((tenant_id, previous.template_model, previous.key_version))
            if index is not None:
                index.remove(subject_id)
        self.withdrawn_enrolled.discard(key)
        if value is None:
            return
        try:
            enrolled = decode_enrolled(self.codec, value)
        except DecodeError:
            self.ignored_records += 1
            return
        # A model this worker has no calibration for (a file removed, a model retired) is kept like
        # one made under another calibration: never matched or shared, but erased on schedule.
        calibration = self.calibrations.get(enrolled.template_model)
        current = False
        if calibration is not None:
            # Written before calibrations had versions: made under the first (shipped) one.
            label = self.calibration_label(calibration)
            made_under = enrolled.calibration_version or label.replace(f"{calibration.version}-", "1-", 1)
            current = made_under == label
        if current and calibration is not None:
            slot = (enrolled.tenant_id, enrolled.template_model, enrolled.key_version)
            index = self.indexes.get(slot)
            if index is None:  # not setdefault: it would build an empty index for every record
                index = self.indexes[slot] = EnrolledIndex(calibration.scheme)
            index.add(enrolled.subject_id, np.frombuffer(enrolled.code, dtype=np.uint8))
        recipients = {r.tenant_id: RecipientTemplate(r.key_version, r.code) for r in enrolled.recipients}
        self.enrollments[key] = EnrollmentEntry(
            enrolled.template_model, enrolled.key_version, enrolled.enrolled_at, partition, recipients, current
        )
        tenant_id = key.split("/", 1)[0]
        self.per_tenant[tenant_id] = self.per_tenant.get(tenant_id, 0) + 1
        if not current:
            self.stale[enrolled.template_model] = self.stale.get(enrolled.template_model, 0) + 1
        self._check_withdrawn(key)

    def needing_reenrollment(self) -> dict[str, int]:
        """Enrolled templates made under another calibration of their model than this worker's (or
        of a model it has none for), per model: not matched, not shared, erased on schedule; their
        subjects must re-enroll."""
        return {model: count for model, count in self.stale.items() if count}

    def protect_enrollment(
        self,
        tenant_id: str,
        subject_id: str,
        template: bytes,
        template_model: str,
        enrolled_at: datetime,
        recipients: Iterable[str] = (),
    ) -> EnrolledTemplate:
        """Protect a raw enrollment template at once with the tenant's current key (R08), and
        with each named recipient's key that the keyring holds; the raw template goes no further."""
        calibration = self.calibrations.get(template_model)
        if calibration is None:
            raise LookupError(f"template model {template_model!r} has no calibration")
        vector = calibration.template(template)
        protector = self.protector(tenant_id, calibration)
        code: Codes = protector.protect(vector)
        shared = []
        for recipient in sorted(set(recipients) - {tenant_id}):
            try:
                theirs = self.protector(recipient, calibration)
            except MissingKeyError:  # not provisioned (or offboarded): nothing can be shared with it
                continue
            shared.append(
                EnrolledRecipient(
                    tenant_id=recipient, key_version=theirs.version, code=theirs.protect(vector)[0].tobytes()
                )
            )
        return EnrolledTemplate(
            tenant_id=tenant_id, subject_id=subject_id, template_model=template_model, key_version=protector.version,
            code=code[0].tobytes(), enrolled_at=enrolled_at, calibration_version=self.calibration_label(calibration),
            recipients=shared,
        )  # fmt: skip
