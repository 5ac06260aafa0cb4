"""A producer that speaks FaceGate's contract, for camera vendors and tenants' systems.

    async with FaceGateProducer() as producer:          # FACEGATE_BOOTSTRAP_SERVERS
        await producer.capture(FaceCaptured(...))        # vendors: to faces.raw, keyed by event_id
        await producer.register_camera(CameraRegistration(...))
        await producer.record_consent(ConsentRecord(...))  # tenants' consent systems: grant or update
        await producer.withdraw_consent(granted, at)         # withdrawal, enforced at once (R10)
        await producer.enroll(Enrollment(...))
        await producer.request_share(ShareRequest(...))      # to another company (R09, R13)

Every record is Avro single-object encoded; keys follow the topic contract (cameras by
camera_id; consent and enrollments by tenant/subject; captures by event_id, so a repeated
capture lands where the gateway remembers its id).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer

from gateway.contract.codec import Codec, default_codec
from gateway.contract.models import (
    AvroRecord,
    CameraRegistration,
    ConsentRecord,
    Enrollment,
    FaceCaptured,
    ShareRequest,
)
from gateway.contract.topics import TopicNames
from gateway.core.consent import withdrawal
from gateway.core.state import consent_key
from gateway.kafka.connection import aiokafka_config
from gateway.settings import Settings


class FaceGateProducer:
    def __init__(self, settings: Settings | None = None, codec: Codec | None = None, **producer: Any) -> None:
        self.settings = settings or Settings()
        self.names = TopicNames(self.settings.topic_prefix)
        self.codec = codec or default_codec()
        options: dict[str, Any] = {"linger_ms": 5, "acks": "all", **producer}
        self._producer = AIOKafkaProducer(**aiokafka_config(self.settings), **options)
        self._pending: list[asyncio.Future[Any]] = []
        self._consent_unacknowledged = False

    async def __aenter__(self) -> FaceGateProducer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        try:
            await self.flush()
        finally:
            await self._producer.stop()

    async def flush(self) -> None:
        """Wait until Kafka acknowledged everything sent so far (raises the first failure)."""
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)

    async def _send(self, topic: str, key: str | bytes, value: bytes | None) -> None:
        encoded_key = key.encode() if isinstance(key, str) else key
        self._pending.append(await self._producer.send(topic, value=value, key=encoded_key))

    async def send_record(self, topic: str, key: str, record: AvroRecord) -> None:
        await self._send(topic, key, self.codec.encode(record))

    async def capture(self, capture: FaceCaptured) -> None:
        await self.send_record(self.names.raw, capture.event_id, capture)

    async def send_raw_capture(self, key: bytes, payload: bytes) -> None:
        """Bytes as they are (for testing how the gateway treats malformed input)."""
        await self._send(self.names.raw, key, payload)

    async def register_camera(self, camera: CameraRegistration) -> None:
        await self.send_record(self.names.cameras, camera.camera_id, camera)

    async def deregister_camera(self, camera_id: str) -> None:
        await self._send(self.names.cameras, camera_id, None)

    async def record_consent(self, consent: ConsentRecord) -> None:
        await self.send_record(self.names.consent, consent_key(consent.tenant_id, consent.subject_id), consent)
        self._consent_unacknowledged = True

    async def withdraw_consent(self, granted: ConsentRecord, at: datetime) -> None:
        await self.record_consent(withdrawal(granted, at))

    async def delete_consent(self, tenant_id: str, subject_id: str) -> None:
        """A tombstone: the consent is gone, and with it the enrollment (erased like a withdrawal)."""
        await self._send(self.names.consent, consent_key(tenant_id, subject_id), None)
        self._consent_unacknowledged = True

    async def request_share(self, request: ShareRequest) -> None:
        await self._after_consents()
        await self.send_record(self.names.share_requests, consent_key(request.tenant_id, request.subject_id), request)

    async def enroll(self, enrollment: Enrollment) -> None:
        await self._after_consents()
        await self.send_record(self.names.enroll, consent_key(enrollment.tenant_id, enrollment.subject_id), enrollment)

    async def _after_consents(self) -> None:
        """An enrollment or share request is decided against the consent in force when the
        gateway reads it, and Kafka orders records only within a partition: a consent sent just
        before could land after it and the request be refused. So consents sent since the last
        acknowledgement are acknowledged first (one wait per run of consents, not per request)."""
        if self._consent_unacknowledged:
            await self.flush()
            self._consent_unacknowledged = False
