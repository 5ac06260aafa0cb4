"""The enum-like vocabularies of the contract. Symbols match schemas/*.avsc (tested); each enum's
Avro default is the symbol a reader makes of a value added after its release, chosen to be
refused or treated as the strictest case (never GRANTED, never a permissive purpose)."""

from __future__ import annotations

from enum import StrEnum


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
    UNKNOWN = "UNKNOWN"  # a purpose newer than this release: nothing may allow it


class Decision(StrEnum):
    FORWARDED = "FORWARDED"
    STRIPPED = "STRIPPED"
    BLOCKED = "BLOCKED"
    REJECTED = "REJECTED"
    SHARED = "SHARED"
    SHARE_BLOCKED = "SHARE_BLOCKED"
    ERASED = "ERASED"
    ENROLLED = "ENROLLED"  # an enrollment accepted (its template protected and kept)
    CONSENT_RECORDED = "CONSENT_RECORDED"  # a consent version granted or changed


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
    UNKNOWN = "UNKNOWN"  # a kind of place newer than this release: captures are blocked


class ConsentStatus(StrEnum):
    GRANTED = "GRANTED"
    WITHDRAWN = "WITHDRAWN"


class ConsentMethod(StrEnum):
    WRITTEN = "WRITTEN"
    ELECTRONIC = "ELECTRONIC"


class EnrollmentSource(StrEnum):
    """Where an enrollment's face came from (R17; Enrollment.source, defined inline there)."""

    SUBJECT_PRESENT = "SUBJECT_PRESENT"  # captured from the subject in person at enrollment
    SUBJECT_PROVIDED = "SUBJECT_PROVIDED"  # supplied by the subject (an uploaded photo)
    BULK_IMPORT = "BULK_IMPORT"  # imported in bulk from another database or system
    PUBLIC_SOURCE = "PUBLIC_SOURCE"  # taken from the internet or another public source (scraped)
    CCTV_FOOTAGE = "CCTV_FOOTAGE"  # extracted from video-surveillance footage
    UNKNOWN = "UNKNOWN"  # a source newer than this release: refused under every pack


class DisclosureBasis(StrEnum):
    """The ground a share request states for the disclosure (R09; ShareRequest.disclosure_basis):
    Tex. Bus. & Com. Code 503.001(c)(1)(A)-(D) allows disclosure only on these."""

    DISAPPEARANCE_OR_DEATH = "DISAPPEARANCE_OR_DEATH"  # (A) identification if the individual disappears or dies
    FINANCIAL_TRANSACTION = "FINANCIAL_TRANSACTION"  # (B) completes a transaction the individual asked for
    STATUTE = "STATUTE"  # (C) required or permitted by a federal or state statute
    LAW_ENFORCEMENT_WARRANT = "LAW_ENFORCEMENT_WARRANT"  # (D) to law enforcement, in response to a warrant
    OTHER = "OTHER"  # any other ground, or one newer than this release: refused where the law lists grounds
