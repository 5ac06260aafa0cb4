"""Pydantic models mirroring the Avro records (a test proves they agree).

The models are what the core works with; `to_avro()` gives the dict the codec writes.
Field constraints here are the contract's semantic checks that Avro cannot express
(quality in [0, 1], a template that is whole float32 values, identifier shapes).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import SchemaValidator

from gateway.contract.vocabulary import (
    ConsentMethod,
    ConsentStatus,
    Decision,
    DisclosureBasis,
    EnrollmentSource,
    LocationType,
    Occlusion,
    Purpose,
)

MAX_ID_LENGTH = 256
MAX_TEMPLATE_BYTES = 4 * 4096  # 4096 float32 dimensions is far above any face model
# Lists a tenant writes are bounded too: each item is checked (and an invalid one described) on
# its own, and a consent's lists are held in every worker, up to 32 versions per subject.
MAX_PURPOSES = 16  # more than the vocabulary has: a longer list repeats one
MAX_RECIPIENTS = 16
MAX_REASON_LENGTH = 512  # a dead letter's reason: describes input that may be hostile (records.bounded)


def _utc(value: datetime) -> datetime:
    # Avro timestamp-millis carries no zone; naive datetimes are taken as UTC, and
    # precision is cut to the millisecond so a model survives a round trip unchanged.
    if value.tzinfo is UTC and not value.microsecond % 1000:
        return value  # already so (a decoded or stamped time): most of a decision's timestamps
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _whole_float32(value: bytes) -> bytes:
    if len(value) == 0 or len(value) % 4:
        raise ValueError("must be a non-empty sequence of little-endian float32 values")
    return value


Identifier = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
Reference = Annotated[str, Field(max_length=MAX_ID_LENGTH)]  # a free reference, "" allowed as it always was
Purposes = Annotated[list[Purpose], Field(max_length=MAX_PURPOSES)]
Timestamp = Annotated[datetime, AfterValidator(_utc)]
TemplateBytes = Annotated[bytes, Field(max_length=MAX_TEMPLATE_BYTES), AfterValidator(_whole_float32)]


class AvroRecord(BaseModel):
    """Base of every contract record: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    avro_name: ClassVar[str]

    def to_avro(self) -> dict[str, Any]:
        return self.model_dump()

    @classmethod
    def validated_datum(cls, fields: Mapping[str, Any]) -> dict[str, Any]:
        """What `model_validate(fields).to_avro()` returns (or raises); for a flat record without
        building the model: its own field validators, in half the time. For the records the gateway
        writes per capture (its audit record and governed event); tests prove the two agree."""
        validator = _fields_validator(cls)
        if validator is None:
            return cls.model_validate(fields).to_avro()
        values: dict[str, Any] = validator.validate_python(fields)[0]
        return values

    def __repr_args__(self) -> Any:
        # Biometric bytes must never reach a log line through a repr.
        for name, value in super().__repr_args__():
            if isinstance(value, bytes):
                yield name, f"<{len(value)} bytes>"
            else:
                yield name, value


@cache
def _fields_validator(model: type[AvroRecord]) -> SchemaValidator | None:
    """The validator of a flat record's fields alone (pydantic's `model-fields` schema, under the
    model's config), which returns their values as a dict: the record's `model_dump()`. None for a
    record with records inside (their dump is a dict, the validator's a model) or its own `to_avro`."""
    schema = model.__pydantic_core_schema__
    fields = schema.get("schema", {})
    if schema["type"] != "model" or fields.get("type") != "model-fields" or model.to_avro is not AvroRecord.to_avro:
        return None
    if _holds_a_model(fields["fields"]):
        return None
    return SchemaValidator(fields, schema.get("config"))


def _holds_a_model(schema: Any) -> bool:
    if isinstance(schema, dict):
        return schema.get("type") in ("model", "definition-ref", "definitions") or any(
            map(_holds_a_model, schema.values())
        )
    return isinstance(schema, list) and any(map(_holds_a_model, schema))


class FaceCaptured(AvroRecord):
    avro_name: ClassVar[str] = "FaceCaptured"
    event_id: Identifier
    camera_id: Identifier
    tenant_id: Identifier
    captured_at: Timestamp
    purpose: Purpose
    template: TemplateBytes
    template_model: Identifier
    quality: Annotated[float, Field(ge=0.0, le=1.0)]
    occlusion: Occlusion
    image: bytes | None = None
    age_estimate: Annotated[int, Field(ge=0, le=150)] | None = None


class CameraRegistration(AvroRecord):
    avro_name: ClassVar[str] = "CameraRegistration"
    camera_id: Identifier
    tenant_id: Identifier
    site_id: Identifier
    location_type: LocationType
    signage_posted: bool
    signage_evidence: Reference | None = None
    allowed_purposes: Purposes
    region: Identifier
    vendor_id: Identifier | None = None  # the only vendor whose captures of this camera are accepted


class ConsentRecord(AvroRecord):
    avro_name: ClassVar[str] = "ConsentRecord"
    tenant_id: Identifier
    subject_id: Identifier
    status: ConsentStatus
    purposes: Purposes
    recipients: Annotated[list[Identifier], Field(max_length=MAX_RECIPIENTS)] = []
    separate: bool
    method: ConsentMethod
    notice_version: Identifier
    granted_at: Timestamp
    expires_at: Timestamp | None = None
    minor: bool = False
    guardian_consent: bool = False
    withdrawn_at: Timestamp | None = None
    image_retention_allowed: bool = False
    evidence_ref: Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)] | None = None


class Enrollment(AvroRecord):
    avro_name: ClassVar[str] = "Enrollment"
    tenant_id: Identifier
    subject_id: Identifier
    template: TemplateBytes
    template_model: Identifier
    enrolled_at: Timestamp | None = None
    source: EnrollmentSource | None = None


class GovernedFace(AvroRecord):
    avro_name: ClassVar[str] = "GovernedFace"
    event_id: Identifier
    audit_id: Identifier
    tenant_id: Identifier
    camera_id: Identifier
    site_id: Identifier
    captured_at: Timestamp
    purpose: Purpose
    decision: Decision
    pseudonym: str | None = None
    protected_template: bytes | None = None
    template_key_version: int | None = None
    rule_ids: list[str]
    reason_codes: list[str] = []
    policy_version: str


class AuditRecord(AvroRecord):
    avro_name: ClassVar[str] = "AuditRecord"
    audit_id: Identifier
    event_id: Identifier
    tenant_id: Identifier
    camera_id: str | None = None
    site_id: str | None = None
    decision: Decision
    rule_ids: list[str]
    reason_codes: list[str] = []
    legal_sources: list[str] = []
    alerts: list[str] = []
    purpose: Purpose | None = None
    policy_version: str
    consent_ref: str | None = None
    consent_method: ConsentMethod | None = None
    evidence_ref: str | None = None
    subject_pseudonym: str | None = None
    match_score_band: str | None = None
    event_time: Timestamp | None = None
    reference_database: str | None = None
    use_started_at: Timestamp | None = None
    use_ended_at: Timestamp | None = None
    verified_by: str | None = None
    recipient_tenant_id: str | None = None
    pack_id: str | None = None
    pack_version: str | None = None
    recorded_at: Timestamp
    seq: Annotated[int, Field(ge=0)]
    prev_hash: str
    hash: str
    signature: bytes | None = None
    key_id: str | None = None


class AuditCheckpoint(AvroRecord):
    avro_name: ClassVar[str] = "AuditCheckpoint"
    checkpoint_id: Identifier
    audit_partition: Annotated[int, Field(ge=0)]
    seq: Annotated[int, Field(ge=-1)]
    head_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    signed_at: Timestamp
    key_id: Identifier
    signature: bytes
    note: str = ""  # the v1 signed note: this partition's checkpoint, or the completeness note
    frontier: list[bytes] = Field(default_factory=list)  # the tree's frontier at the checkpoint's size


class RejectedEvent(AvroRecord):
    avro_name: ClassVar[str] = "RejectedEvent"
    rejected_id: Identifier
    source_topic: Identifier
    source_partition: Annotated[int, Field(ge=0)]
    source_offset: Annotated[int, Field(ge=0)]
    reason_code: Identifier
    reason: Annotated[str, Field(max_length=MAX_REASON_LENGTH)]
    event_id: str | None = None
    tenant_id: str | None = None
    camera_id: str | None = None
    payload_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    payload_size: Annotated[int, Field(ge=0)]
    rejected_at: Timestamp


class ShareRequest(AvroRecord):
    avro_name: ClassVar[str] = "ShareRequest"
    request_id: Identifier
    tenant_id: Identifier
    subject_id: Identifier
    recipient_tenant_id: Identifier
    recipient_region: Identifier
    purpose: Purpose
    agreement_id: Reference | None = None
    requested_at: Timestamp
    disclosure_basis: DisclosureBasis | None = None


class ErasureNotice(AvroRecord):
    avro_name: ClassVar[str] = "ErasureNotice"
    notice_id: Identifier
    tenant_id: Identifier
    pseudonym: Identifier
    reason_code: Identifier
    rule_ids: list[str]
    consent_ref: str | None = None
    erased_at: Timestamp


class SharedSubject(AvroRecord):
    avro_name: ClassVar[str] = "SharedSubject"
    share_id: Identifier
    audit_id: Identifier
    sender_tenant_id: Identifier
    recipient_tenant_id: Identifier
    pseudonym: Identifier
    protected_template: bytes | None = None
    template_model: str | None = None
    template_key_version: int | None = None
    purpose: Purpose
    agreement_id: Identifier
    rule_ids: list[str]
    policy_version: str
    shared_at: Timestamp


class EnrolledRecipient(BaseModel):
    """A nested record of EnrolledTemplate: the template protected with one recipient's key."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    tenant_id: Identifier
    key_version: int
    code: bytes = Field(repr=False)


class EnrolledTemplate(AvroRecord):
    avro_name: ClassVar[str] = "EnrolledTemplate"
    tenant_id: Identifier
    subject_id: Identifier
    template_model: Identifier
    key_version: int
    code: bytes
    enrolled_at: Timestamp
    calibration_version: str | None = None
    recipients: list[EnrolledRecipient] = []


class Withdrawal(AvroRecord):
    avro_name: ClassVar[str] = "Withdrawal"
    tenant_id: Identifier
    subject_id: Identifier
    withdrawn_at: Timestamp
    consent_ref: str | None = None


RECORD_MODELS: dict[str, type[AvroRecord]] = {
    model.avro_name: model
    for model in (
        FaceCaptured,
        CameraRegistration,
        ConsentRecord,
        Enrollment,
        GovernedFace,
        AuditRecord,
        AuditCheckpoint,
        RejectedEvent,
        ShareRequest,
        ErasureNotice,
        SharedSubject,
        EnrolledTemplate,
        Withdrawal,
    )
}
