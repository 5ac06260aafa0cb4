"""FaceGate's vendor SDK: produce face captures, camera registrations, consents, enrollments and
share requests in the gateway's contract (Avro single-object encoding; docs/vendors.md).

Depends on fastavro and aiokafka only; imports nothing from the gateway.
"""

from __future__ import annotations

from facegate_sdk.contract import MARKER, NAMESPACE, PRODUCED, Contract, Record, RecordSchema, default_contract
from facegate_sdk.errors import ContractError, EncodeError, FaceGateSDKError, IdempotenceRefused, InvalidRecord
from facegate_sdk.producer import Connection, FaceGateProducer
from facegate_sdk.records import (
    CameraRegistration,
    ConsentMethod,
    ConsentRecord,
    ConsentStatus,
    Enrollment,
    FaceCaptured,
    LocationType,
    Occlusion,
    Purpose,
    ShareRequest,
)
from facegate_sdk.topics import Topics, subject_key

__version__ = "0.3.0"

__all__ = [
    "MARKER",
    "NAMESPACE",
    "PRODUCED",
    "CameraRegistration",
    "Connection",
    "ConsentMethod",
    "ConsentRecord",
    "ConsentStatus",
    "Contract",
    "ContractError",
    "EncodeError",
    "Enrollment",
    "FaceCaptured",
    "FaceGateProducer",
    "FaceGateSDKError",
    "IdempotenceRefused",
    "InvalidRecord",
    "LocationType",
    "Occlusion",
    "Purpose",
    "Record",
    "RecordSchema",
    "ShareRequest",
    "Topics",
    "default_contract",
    "subject_key",
]
