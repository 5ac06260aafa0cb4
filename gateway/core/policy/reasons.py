"""Why a decision went the way it did: the reason codes of audit records, governed events, dead
letters and erasure notices. The values are stable (consumers and regulators filter on them)."""

from __future__ import annotations

from enum import StrEnum

from gateway.contract.codec import DecodeErrorCode


class Reason(StrEnum):
    # Screening a capture (registry, tenant, place, purpose, quality)
    CAMERA_UNKNOWN = "CAMERA_UNKNOWN"
    VENDOR_MISMATCH = "VENDOR_MISMATCH"  # the camera is registered to another vendor (or none) than the topic's
    TENANT_MISMATCH = "TENANT_MISMATCH"  # a record names another tenant than the one whose topic it came on
    NO_TENANT_POLICY = "NO_TENANT_POLICY"
    IMPACT_ASSESSMENT_MISSING = "IMPACT_ASSESSMENT_MISSING"
    IMPACT_ASSESSMENT_AFTER_CAPTURE = "IMPACT_ASSESSMENT_AFTER_CAPTURE"
    PRIVATE_SPACE = "PRIVATE_SPACE"
    PUBLIC_PLACE_PURPOSE = "PUBLIC_PLACE_PURPOSE"
    NO_SIGNAGE = "NO_SIGNAGE"
    NO_AUTHORISATION = "NO_AUTHORISATION"  # public-place identification without the authorisation the law asks
    NO_ALTERNATIVE_METHOD = "NO_ALTERNATIVE_METHOD"  # face recognition as the only method where the law forbids it
    PURPOSE_FORBIDDEN = "PURPOSE_FORBIDDEN"
    PURPOSE_UNKNOWN = "PURPOSE_UNKNOWN"  # a purpose newer than this gateway's contract
    LOCATION_UNKNOWN = "LOCATION_UNKNOWN"  # a kind of place newer than this gateway's contract
    PURPOSE_NOT_ALLOWED_FOR_CAMERA = "PURPOSE_NOT_ALLOWED_FOR_CAMERA"
    MODEL_UNCALIBRATED = "MODEL_UNCALIBRATED"
    TEMPLATE_INVALID = "TEMPLATE_INVALID"
    LOW_QUALITY = "LOW_QUALITY"
    MASKED = "MASKED"
    OCCLUDED = "OCCLUDED"
    IMAGE_DISCARDED = "IMAGE_DISCARDED"
    NO_MATCH = "NO_MATCH"
    NOT_IDENTIFIED = "NOT_IDENTIFIED"  # the tenant's view of any capture stripped after identification
    FEEDS_BEHIND = "FEEDS_BEHIND"  # the worker's consent or enrollment feeds lag: stripped, not forwarded
    # Consent (R01-R03, R10, R11)
    NO_CONSENT = "NO_CONSENT"
    CONSENT_WITHDRAWN = "CONSENT_WITHDRAWN"
    CONSENT_AFTER_CAPTURE = "CONSENT_AFTER_CAPTURE"
    CONSENT_EXPIRED = "CONSENT_EXPIRED"
    CONSENT_BUNDLED = "CONSENT_BUNDLED"
    CONSENT_NOT_WRITTEN = "CONSENT_NOT_WRITTEN"
    PURPOSE_NOT_CONSENTED = "PURPOSE_NOT_CONSENTED"
    NOTICE_UNKNOWN = "NOTICE_UNKNOWN"
    MINOR_WITHOUT_GUARDIAN = "MINOR_WITHOUT_GUARDIAN"
    CONSENT_GRANTED = "CONSENT_GRANTED"  # a first version, or one after a withdrawal or deletion
    CONSENT_NARROWED = "CONSENT_NARROWED"  # fewer purposes or recipients, or an earlier end: binds at once
    CONSENT_UPDATED = "CONSENT_UPDATED"  # any other change
    # Enrollment
    ENROLLMENT_REFUSED = "ENROLLMENT_REFUSED"
    SOURCE_FORBIDDEN = "SOURCE_FORBIDDEN"  # scraped, footage or bulk-imported faces where the pack forbids them
    ENROLLED = "ENROLLED"  # a first enrollment of the subject
    RE_ENROLLED = "RE_ENROLLED"  # replaces the subject's enrolled template
    # Sharing (R09, R13)
    RECIPIENT_IS_SENDER = "RECIPIENT_IS_SENDER"
    RECIPIENT_NOT_CONSENTED = "RECIPIENT_NOT_CONSENTED"
    NO_AGREEMENT = "NO_AGREEMENT"
    DISCLOSURE_BASIS_MISSING = "DISCLOSURE_BASIS_MISSING"  # no ground the pack's law allows disclosure on
    NO_IMPACT_ASSESSMENT = "NO_IMPACT_ASSESSMENT"
    REGION_NOT_AGREED = "REGION_NOT_AGREED"
    NO_TRANSFER_MECHANISM = "NO_TRANSFER_MECHANISM"
    CROSS_BORDER_CONSENT_NOT_SEPARATE = "CROSS_BORDER_CONSENT_NOT_SEPARATE"
    NOT_ENROLLED = "NOT_ENROLLED"
    RECIPIENT_TEMPLATE_MISSING = "RECIPIENT_TEMPLATE_MISSING"
    CALIBRATION_CHANGED = "CALIBRATION_CHANGED"  # enrolled under another calibration of the model: re-enroll
    # Erasure (R08, R10, R11): why a template was erased
    WITHDRAWN = "WITHDRAWN"  # the subject withdrew, or the tenant deleted the consent
    EXPIRED = "EXPIRED"  # the consent (the purpose) ended
    RETENTION = "RETENTION"  # kept as long as the pack allows since enrollment
    KEY_REVOKED = "KEY_REVOKED"  # protected under a key version past its revocation cutoff: re-enroll
    # Input that cannot be decided (dead letters)
    BAD_KEY = "BAD_KEY"
    TIME_IN_FUTURE = "TIME_IN_FUTURE"  # a producer's time beyond the broker's append time plus the allowed skew
    CONSENT_REPLAYED = "CONSENT_REPLAYED"  # a grant not newer than a withdrawal the gateway saw: grants nothing
    CONSENT_TOO_LARGE = "CONSENT_TOO_LARGE"  # a consent version of more bytes than every worker keeps of one
    TENANT_NOT_PROVISIONED = "TENANT_NOT_PROVISIONED"  # the keyring holds no keys for the tenant a record names
    INTERNAL_ERROR = "INTERNAL_ERROR"  # deciding this record raised: a bug, confined to the record
    UNKNOWN_TOPIC = "UNKNOWN_TOPIC"
    KEY_MISMATCH = "KEY_MISMATCH"
    BAD_RECIPIENT = "BAD_RECIPIENT"
    DECODE_TOO_SHORT = "DECODE_TOO_SHORT"
    DECODE_BAD_MARKER = "DECODE_BAD_MARKER"
    DECODE_UNKNOWN_FINGERPRINT = "DECODE_UNKNOWN_FINGERPRINT"
    DECODE_WRONG_RECORD_TYPE = "DECODE_WRONG_RECORD_TYPE"
    DECODE_TRUNCATED = "DECODE_TRUNCATED"
    DECODE_CORRUPT = "DECODE_CORRUPT"
    DECODE_TRAILING_BYTES = "DECODE_TRAILING_BYTES"
    DECODE_INVALID_FIELD = "DECODE_INVALID_FIELD"

    @classmethod
    def undecodable(cls, code: DecodeErrorCode) -> Reason:
        """The reason for bytes that failed to decode with `code`."""
        return cls(f"DECODE_{code.value}")
