"""The vendor SDK as the gateway uses it, and the synthetic world its demo and tests drive.

- `gateway.sdk.producer`: the `facegate-sdk` distribution's producer (package facegate_sdk, in
  sdk/ of the repository), configured from the gateway's Settings; this package re-exports the
  SDK's API so `from gateway.sdk import ...` keeps working.
- `gateway.sdk.scenario` and `gateway.sdk.simulator`: synthetic tenants, cameras, consents and
  captures with their expected decisions. They need the gateway's synthetic biometrics, so they
  are the gateway's demo tooling, not part of the vendor SDK.
"""

from facegate_sdk import (
    CameraRegistration,
    Connection,
    ConsentMethod,
    ConsentRecord,
    ConsentStatus,
    Contract,
    Enrollment,
    FaceCaptured,
    LocationType,
    Occlusion,
    Purpose,
    ShareRequest,
    Topics,
    subject_key,
)

from gateway.sdk.producer import FaceGateProducer

__all__ = [
    "CameraRegistration",
    "Connection",
    "ConsentMethod",
    "ConsentRecord",
    "ConsentStatus",
    "Contract",
    "Enrollment",
    "FaceCaptured",
    "FaceGateProducer",
    "LocationType",
    "Occlusion",
    "Purpose",
    "ShareRequest",
    "Topics",
    "subject_key",
]
