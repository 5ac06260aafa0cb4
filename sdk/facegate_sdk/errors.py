"""The SDK's errors: one root, so an application can catch everything the SDK raises."""

from __future__ import annotations


class FaceGateSDKError(Exception):
    """Root of every error the SDK raises."""


class ContractError(FaceGateSDKError):
    """The schemas are missing or inconsistent, or bytes are not a record of the contract."""


class EncodeError(FaceGateSDKError, ValueError):
    """A record that does not fit its schema."""


class InvalidRecord(FaceGateSDKError, ValueError):
    """A field value the gateway would refuse (it would dead-letter the record)."""


class IdempotenceRefused(FaceGateSDKError):
    """The broker would not give the producer an id for idempotent writes (InitProducerId)."""
