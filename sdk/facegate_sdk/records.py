"""The records producers send, as plain dataclasses: what camera vendors send (FaceCaptured,
CameraRegistration) and what tenants' systems send (ConsentRecord, Enrollment, ShareRequest).

Construction checks what the gateway checks after decoding, so a record it would dead-letter
(an empty id, a template that is not whole float32 values, a quality outside [0, 1]) fails here
instead. Timestamps are UTC: a naive datetime is taken as UTC, and precision is the millisecond
the wire carries. Templates and images never appear in a repr.

The enums hold the symbols a producer may write. Each schema's enum may also carry a default
symbol (UNKNOWN) that a reader substitutes for a symbol it does not know; producers never write it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from facegate_sdk.errors import InvalidRecord

MAX_ID_LENGTH = 256
MAX_TEMPLATE_BYTES = 4 * 4096
MAX_PURPOSES = 16  # purposes of a consent, allowed_purposes of a camera
MAX_RECIPIENTS = 16
MAX_CONSENT_BYTES = 4096  # a consent version, encoded: the gateway refuses a larger one (CONSENT_TOO_LARGE)

E = TypeVar("E", bound=StrEnum)


class Purpose(StrEnum):
    ACCESS_CONTROL = "ACCESS_CONTROL"
    PUBLIC_SECURITY = "PUBLIC_SECURITY"
    SECURITY = "SECURITY"
    ATTENDANCE = "ATTENDANCE"
    PAYMENT = "PAYMENT"
    REPEAT_VISITOR_RECOGNITION = "REPEAT_VISITOR_RECOGNITION"
    MARKETING = "MARKETING"
    PRICING = "PRICING"
    COMMISSION_ATTRIBUTION = "COMMISSION_ATTRIBUTION"
    PROFILING = "PROFILING"
    SALE = "SALE"


class Occlusion(StrEnum):
    NONE = "NONE"
    MASK = "MASK"
    OTHER = "OTHER"


class LocationType(StrEnum):
    SALES_OFFICE = "SALES_OFFICE"
    RETAIL = "RETAIL"
    RESIDENTIAL_ENTRANCE = "RESIDENTIAL_ENTRANCE"
    OFFICE = "OFFICE"
    TRANSPORT_HUB = "TRANSPORT_HUB"
    PUBLIC_PLACE = "PUBLIC_PLACE"
    HOTEL_ROOM = "HOTEL_ROOM"
    BATHROOM = "BATHROOM"
    CHANGING_ROOM = "CHANGING_ROOM"
    TOILET = "TOILET"
    OTHER = "OTHER"


class ConsentStatus(StrEnum):
    GRANTED = "GRANTED"
    WITHDRAWN = "WITHDRAWN"


class ConsentMethod(StrEnum):
    WRITTEN = "WRITTEN"
    ELECTRONIC = "ELECTRONIC"


class EnrollmentSource(StrEnum):
    """Where an enrolled face came from (Enrollment.source; R17)."""

    SUBJECT_PRESENT = "SUBJECT_PRESENT"
    SUBJECT_PROVIDED = "SUBJECT_PROVIDED"
    BULK_IMPORT = "BULK_IMPORT"
    PUBLIC_SOURCE = "PUBLIC_SOURCE"
    CCTV_FOOTAGE = "CCTV_FOOTAGE"


class DisclosureBasis(StrEnum):
    """The legal ground of a share (ShareRequest.disclosure_basis; R09)."""

    DISAPPEARANCE_OR_DEATH = "DISAPPEARANCE_OR_DEATH"
    FINANCIAL_TRANSACTION = "FINANCIAL_TRANSACTION"
    STATUTE = "STATUTE"
    LAW_ENFORCEMENT_WARRANT = "LAW_ENFORCEMENT_WARRANT"
    OTHER = "OTHER"


ENUMS: dict[str, type[StrEnum]] = {
    e.__name__: e for e in (Purpose, Occlusion, LocationType, ConsentStatus, ConsentMethod)
}


# -- field checks -----------------------------------------------------------------------------
def _identifier(name: str, value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID_LENGTH:
        raise InvalidRecord(f"{name} must be a string of 1-{MAX_ID_LENGTH} characters")
    return value


def _reference(name: str, value: object, *, empty: bool = True) -> str | None:
    """An optional free reference: None, or a string of at most MAX_ID_LENGTH characters."""
    if value is not None and (not isinstance(value, str) or len(value) > MAX_ID_LENGTH or not (empty or value)):
        raise InvalidRecord(f"{name} must be None or a string of {0 if empty else 1}-{MAX_ID_LENGTH} characters")
    return value


def _timestamp(name: str, value: object) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidRecord(f"{name} must be a datetime")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _optional_timestamp(name: str, value: object) -> datetime | None:
    return None if value is None else _timestamp(name, value)


def _template(name: str, value: object) -> bytes:
    if not isinstance(value, bytes) or not value or len(value) % 4 or len(value) > MAX_TEMPLATE_BYTES:
        raise InvalidRecord(
            f"{name} must be 4-{MAX_TEMPLATE_BYTES} bytes of little-endian float32 values (a multiple of 4)"
        )
    return value


def _symbol(enum: type[E], name: str, value: object) -> E:
    if isinstance(value, str) and value in enum.__members__:
        return enum(value)
    raise InvalidRecord(f"{name} must be one of {', '.join(enum)}")


def _symbols(enum: type[E], name: str, values: object, most: int) -> tuple[E, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence) or len(values) > most:
        raise InvalidRecord(f"{name} must be a sequence of at most {most} {enum.__name__}")
    return tuple(_symbol(enum, name, v) for v in values)


class _Record:
    """to_avro(): the dict the encoder writes (enums as their symbols, sequences as lists)."""

    avro_name: ClassVar[str]

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)  # normalising a frozen dataclass's field in __post_init__

    def to_avro(self) -> dict[str, Any]:
        datum: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = [str(v) if isinstance(v, StrEnum) else v for v in value]
            elif isinstance(value, StrEnum):
                value = str(value)
            datum[f.name] = value
        return datum


@dataclass(frozen=True, kw_only=True)
class FaceCaptured(_Record):
    """One face capture, from a camera vendor to faces.raw (keyed by event_id)."""

    avro_name: ClassVar[str] = "FaceCaptured"
    event_id: str
    camera_id: str
    tenant_id: str
    captured_at: datetime
    purpose: Purpose
    template: bytes = field(repr=False)
    template_model: str
    quality: float
    occlusion: Occlusion = Occlusion.NONE
    image: bytes | None = field(default=None, repr=False)
    age_estimate: int | None = None

    def __post_init__(self) -> None:
        for name in ("event_id", "camera_id", "tenant_id", "template_model"):
            _identifier(name, getattr(self, name))
        self._set("captured_at", _timestamp("captured_at", self.captured_at))
        self._set("purpose", _symbol(Purpose, "purpose", self.purpose))
        self._set("occlusion", _symbol(Occlusion, "occlusion", self.occlusion))
        _template("template", self.template)
        if isinstance(self.quality, bool) or not isinstance(self.quality, int | float) or not 0 <= self.quality <= 1:
            raise InvalidRecord("quality must be a number in [0, 1]")
        self._set("quality", float(self.quality))
        if self.image is not None and not isinstance(self.image, bytes):
            raise InvalidRecord("image must be bytes or None")
        age = self.age_estimate
        if age is not None and (isinstance(age, bool) or not isinstance(age, int) or not 0 <= age <= 150):
            raise InvalidRecord("age_estimate must be an integer in [0, 150] or None")


@dataclass(frozen=True, kw_only=True)
class CameraRegistration(_Record):
    """A camera in the registry (cameras, keyed by camera_id): where it is and what it may be used for."""

    avro_name: ClassVar[str] = "CameraRegistration"
    camera_id: str
    tenant_id: str
    site_id: str
    location_type: LocationType
    signage_posted: bool
    signage_evidence: str | None = None
    allowed_purposes: Sequence[Purpose]
    region: str
    vendor_id: str | None = None  # the vendor whose capture topic alone carries this camera's captures

    def __post_init__(self) -> None:
        for name in ("camera_id", "tenant_id", "site_id", "region"):
            _identifier(name, getattr(self, name))
        if self.vendor_id is not None:
            _identifier("vendor_id", self.vendor_id)
        self._set("location_type", _symbol(LocationType, "location_type", self.location_type))
        self._set("allowed_purposes", _symbols(Purpose, "allowed_purposes", self.allowed_purposes, MAX_PURPOSES))
        _reference("signage_evidence", self.signage_evidence)
        if not isinstance(self.signage_posted, bool):
            raise InvalidRecord("signage_posted must be a bool")


@dataclass(frozen=True, kw_only=True)
class ConsentRecord(_Record):
    """A subject's consent with a tenant (consent, keyed tenant_id/subject_id); the latest version counts."""

    avro_name: ClassVar[str] = "ConsentRecord"
    tenant_id: str
    subject_id: str
    status: ConsentStatus = ConsentStatus.GRANTED
    purposes: Sequence[Purpose]
    recipients: Sequence[str] = ()
    separate: bool
    method: ConsentMethod
    notice_version: str
    granted_at: datetime
    expires_at: datetime | None = None
    minor: bool = False
    guardian_consent: bool = False
    withdrawn_at: datetime | None = None
    image_retention_allowed: bool = False
    evidence_ref: str | None = None  # the tenant's reference to the signed form or recorded withdrawal

    def __post_init__(self) -> None:
        for name in ("tenant_id", "subject_id", "notice_version"):
            _identifier(name, getattr(self, name))
        self._set("status", _symbol(ConsentStatus, "status", self.status))
        self._set("purposes", _symbols(Purpose, "purposes", self.purposes, MAX_PURPOSES))
        recipients = self.recipients
        if isinstance(recipients, str) or not isinstance(recipients, Sequence) or len(recipients) > MAX_RECIPIENTS:
            raise InvalidRecord(f"recipients must be a sequence of at most {MAX_RECIPIENTS} tenant ids")
        self._set("recipients", tuple(_identifier("recipients", r) for r in self.recipients))
        _reference("evidence_ref", self.evidence_ref, empty=False)
        self._set("method", _symbol(ConsentMethod, "method", self.method))
        self._set("granted_at", _timestamp("granted_at", self.granted_at))
        self._set("expires_at", _optional_timestamp("expires_at", self.expires_at))
        self._set("withdrawn_at", _optional_timestamp("withdrawn_at", self.withdrawn_at))

    def withdrawn(self, at: datetime) -> ConsentRecord:
        """The version a consent system writes when the subject withdraws this consent at `at`."""
        return dataclasses.replace(self, status=ConsentStatus.WITHDRAWN, withdrawn_at=at)


@dataclass(frozen=True, kw_only=True)
class Enrollment(_Record):
    """A consented subject's reference template (enroll, keyed tenant_id/subject_id)."""

    avro_name: ClassVar[str] = "Enrollment"
    tenant_id: str
    subject_id: str
    template: bytes = field(repr=False)
    template_model: str
    enrolled_at: datetime | None = None
    source: EnrollmentSource | None = None

    def __post_init__(self) -> None:
        for name in ("tenant_id", "subject_id", "template_model"):
            _identifier(name, getattr(self, name))
        _template("template", self.template)
        self._set("enrolled_at", _optional_timestamp("enrolled_at", self.enrolled_at))
        if self.source is not None:
            self._set("source", _symbol(EnrollmentSource, "source", self.source))


@dataclass(frozen=True, kw_only=True)
class ShareRequest(_Record):
    """A request to share a subject with another company (share.requests, keyed tenant_id/subject_id)."""

    avro_name: ClassVar[str] = "ShareRequest"
    request_id: str
    tenant_id: str
    subject_id: str
    recipient_tenant_id: str
    recipient_region: str
    purpose: Purpose
    agreement_id: str | None = None
    requested_at: datetime
    disclosure_basis: DisclosureBasis | None = None

    def __post_init__(self) -> None:
        for name in ("request_id", "tenant_id", "subject_id", "recipient_tenant_id", "recipient_region"):
            _identifier(name, getattr(self, name))
        self._set("purpose", _symbol(Purpose, "purpose", self.purpose))
        _reference("agreement_id", self.agreement_id)
        self._set("requested_at", _timestamp("requested_at", self.requested_at))
        if self.disclosure_basis is not None:
            self._set("disclosure_basis", _symbol(DisclosureBasis, "disclosure_basis", self.disclosure_basis))
