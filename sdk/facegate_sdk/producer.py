"""A producer that speaks FaceGate's contract, for camera vendors and tenants' systems.

    async with FaceGateProducer(Connection.from_env(), vendor_id="lumen") as producer:
        await producer.capture(FaceCaptured(...))            # vendors: to faces.raw.<vendor>, keyed by event_id
    async with FaceGateProducer(Connection.from_env()) as producer:  # a tenant's systems: to its own topics
        await producer.register_camera(CameraRegistration(...))
        await producer.record_consent(ConsentRecord(...))     # tenants' consent systems: grant or update
        await producer.withdraw_consent(granted, at)          # withdrawal, enforced at once
        await producer.enroll(Enrollment(...))
        await producer.request_share(ShareRequest(...))       # to another company

Every record goes to the topic of the vendor or tenant it is from (`<prefix>faces.raw.<vendor>`,
`<prefix>consent.<tenant>`, ...), Avro single-object encoded; keys follow the topic contract (cameras by
camera_id; consent, enrollments and share requests by tenant_id/subject_id; captures by
event_id, so a repeated capture lands where the gateway remembers its id).

Ordering: an enrollment or share request is decided against the consent in force when the
gateway reads it, and Kafka orders records only within a partition. So an enrollment or share
request is sent only once the consents sent before it are acknowledged.

Logging: aiokafka's producer logs each key and value it sends at DEBUG ("Sending (key=%s value=%s)
to %s"), so an application logging at DEBUG would write raw templates and images. The SDK leaves
its users' logging as it is, but drops the DEBUG records of aiokafka's producer logger written
during its own sends (a filter on that logger, and a context variable set around each send: other
producers' lines, and every other line, are written as before).

Retries: the producer is idempotent (a producer id and per-partition sequence numbers, checked by
the broker; the Java client's default since Kafka 3.0). A send retried after a lost answer or a
change of leader is not written twice: without it a malformed record retried during a rolling
restart lands twice and is dead-lettered twice. Pass `enable_idempotence=False` only for a broker
without idempotent producers (the embedded Tansu demo broker).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError

from facegate_sdk.contract import Contract, Record, default_contract
from facegate_sdk.errors import IdempotenceRefused, InvalidRecord
from facegate_sdk.records import MAX_CONSENT_BYTES, ConsentRecord
from facegate_sdk.topics import Topics, subject_key

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
PRUNE_AT = 4096  # sends held before the acknowledged ones are let go
# Where aiokafka (0.14) logs each value sent, at DEBUG: aiokafka/producer/producer.py, send().
AIOKAFKA_PRODUCER_LOGGER = "aiokafka.producer.producer"
_SENDING: ContextVar[bool] = ContextVar("facegate_sdk_sending", default=False)  # each task its own


class _WithoutSentValues(logging.Filter):
    """Drops the DEBUG records aiokafka's producer writes during one of the SDK's sends."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG or not _SENDING.get()


_WITHOUT_SENT_VALUES = _WithoutSentValues()


@dataclass(frozen=True)
class Connection:
    """Where and as whom to produce. `from_env()` reads the FACEGATE_* variables the gateway uses."""

    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = "facegate."
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None

    def __post_init__(self) -> None:
        if self.security_protocol not in SECURITY_PROTOCOLS:
            raise ValueError(f"security_protocol must be one of {', '.join(SECURITY_PROTOCOLS)}")
        if self.security_protocol.startswith("SASL_") and (not self.sasl_username or self.sasl_password is None):
            raise ValueError(f"security_protocol {self.security_protocol} needs a SASL username and password")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Connection:
        env = os.environ if environ is None else environ
        defaults = cls()

        def get(name: str, default: str | None) -> str | None:
            return env.get(f"FACEGATE_{name.upper()}", default)

        return cls(
            bootstrap_servers=get("bootstrap_servers", defaults.bootstrap_servers) or defaults.bootstrap_servers,
            topic_prefix=get("topic_prefix", defaults.topic_prefix) or defaults.topic_prefix,
            security_protocol=get("security_protocol", defaults.security_protocol) or defaults.security_protocol,
            sasl_mechanism=get("sasl_mechanism", defaults.sasl_mechanism) or defaults.sasl_mechanism,
            sasl_username=get("sasl_username", None),
            sasl_password=get("sasl_password", None),
            ssl_cafile=get("ssl_cafile", None),
        )

    def client_config(self) -> dict[str, Any]:
        """aiokafka's client options for this connection."""
        config: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol.startswith("SASL_"):
            config.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password,
            )
        if self.security_protocol in ("SSL", "SASL_SSL"):
            config["ssl_context"] = ssl.create_default_context(cafile=self.ssl_cafile)
        return config


class _Capture(Record, Protocol):
    @property
    def event_id(self) -> str: ...


class _Camera(Record, Protocol):
    @property
    def camera_id(self) -> str: ...

    @property
    def tenant_id(self) -> str: ...


class _SubjectRecord(Record, Protocol):
    @property
    def tenant_id(self) -> str: ...

    @property
    def subject_id(self) -> str: ...


def _expect(record: Record, name: str) -> None:
    if record.avro_name != name:
        raise TypeError(f"expected a {name}, got a {record.avro_name}")


class FaceGateProducer:
    """Sends contract records with acks=all and idempotence. `producer` options go to aiokafka's
    producer as they are (and win over these defaults)."""

    def __init__(
        self,
        connection: Connection | None = None,
        *,
        vendor_id: str | None = None,
        contract: Contract | None = None,
        **producer: Any,
    ) -> None:
        self.connection = connection or Connection.from_env()
        self.vendor_id = vendor_id  # whose capture topic capture() writes
        self.names = Topics(self.connection.topic_prefix)
        self.contract = contract or default_contract()
        options: dict[str, Any] = {
            "linger_ms": 5,
            "acks": "all",
            "enable_idempotence": True,
            **self.connection.client_config(),
            **producer,
        }
        self._producer = AIOKafkaProducer(**options)
        aiokafka_log = logging.getLogger(AIOKAFKA_PRODUCER_LOGGER)
        if _WITHOUT_SENT_VALUES not in aiokafka_log.filters:
            aiokafka_log.addFilter(_WITHOUT_SENT_VALUES)
        # a transactional id makes aiokafka's producer idempotent too
        self._idempotent = bool(options["enable_idempotence"]) or options.get("transactional_id") is not None
        # Sends not yet awaited, and the first failure not yet raised (by the next flush). Acknowledged
        # sends are let go now and then (`_prune`): a producer that runs for months without flushing
        # holds what is in flight, and one failure however many sends fail in an outage.
        self._pending: list[asyncio.Future[Any]] = []
        self._failed: BaseException | None = None
        self._prune_at = PRUNE_AT
        self._consent_unacknowledged = False

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        try:
            await self._producer.start()
        except BaseException as exc:
            with contextlib.suppress(Exception):  # what start opened closes again; its error is the one to see
                await self._producer.stop()
            if not self._idempotent or not isinstance(exc, KafkaError) or isinstance(exc, KafkaConnectionError):
                raise
            raise IdempotenceRefused(
                f"the broker refused an idempotent producer ({type(exc).__name__}: {exc}). If it has no "
                "idempotent producers (the embedded Tansu demo broker), pass enable_idempotence=False "
                "(FACEGATE_PRODUCER_IDEMPOTENCE=false for the facegate CLI)"
            ) from exc

    async def stop(self) -> None:
        try:
            await self.flush()
        finally:
            await self._producer.stop()

    async def flush(self) -> None:
        """Wait until Kafka acknowledged everything sent so far; raises the first failure since the
        last flush (each send's own future, from `capture` or `send_record`, says which failed)."""
        pending, self._pending = self._pending, []
        results = await asyncio.gather(*pending, return_exceptions=True) if pending else []
        failed = [*filter(None, [self._failed]), *(r for r in results if isinstance(r, BaseException))]
        self._failed, self._prune_at = None, PRUNE_AT
        if failed:
            raise failed[0]

    def _prune(self) -> None:
        """Let go of the sends Kafka acknowledged, keeping the first failure for the next flush."""
        waiting = []
        for future in self._pending:
            if not future.done():
                waiting.append(future)
                continue
            # Asked of every failed send, so that none is reported as never retrieved.
            error = asyncio.CancelledError() if future.cancelled() else future.exception()
            if error is not None and self._failed is None:
                self._failed = error
        self._pending = waiting
        self._prune_at = max(PRUNE_AT, 2 * len(waiting))  # amortised: each send looked at a few times

    async def _send(self, topic: str, key: str | bytes, value: bytes | None) -> asyncio.Future[Any]:
        encoded_key = key.encode() if isinstance(key, str) else key
        sending = _SENDING.set(True)  # aiokafka would log the value (the module's docstring)
        try:
            future: asyncio.Future[Any] = await self._producer.send(topic, value=value, key=encoded_key)
        finally:
            _SENDING.reset(sending)
        self._pending.append(future)
        if len(self._pending) >= self._prune_at:
            self._prune()
        return future

    async def send_record(self, topic: str, key: str, record: Record) -> asyncio.Future[Any]:
        """Queue a record; the future it returns resolves when Kafka acknowledged it (or failed)."""
        return await self._send(topic, key, self.contract.encode(record))

    # -- camera vendors -------------------------------------------------------------------------
    async def capture(self, capture: _Capture, *, vendor_id: str | None = None) -> asyncio.Future[Any]:
        """To the vendor's capture topic (the producer's vendor_id unless given here). The future
        it returns resolves when Kafka acknowledged the capture: a failure names this event id."""
        _expect(capture, "FaceCaptured")
        return await self.send_record(self._captures(vendor_id), capture.event_id, capture)

    async def send_raw_capture(
        self, key: bytes, payload: bytes, *, vendor_id: str | None = None
    ) -> asyncio.Future[Any]:
        """Bytes as they are (for testing how the gateway treats malformed input)."""
        return await self._send(self._captures(vendor_id), key, payload)

    def _captures(self, vendor_id: str | None) -> str:
        vendor = vendor_id or self.vendor_id
        if vendor is None:
            raise ValueError("captures go to a vendor's own topic: give the producer a vendor_id")
        return self.names.captures(vendor)

    async def register_camera(self, camera: _Camera) -> None:
        """To the camera's tenant's registry; name the vendor whose captures it accepts (vendor_id)."""
        _expect(camera, "CameraRegistration")
        await self.send_record(self.names.cameras(camera.tenant_id), camera.camera_id, camera)

    async def deregister_camera(self, tenant_id: str, camera_id: str) -> None:
        await self._send(self.names.cameras(tenant_id), camera_id, None)

    # -- tenants ----------------------------------------------------------------------------------
    async def record_consent(self, consent: _SubjectRecord) -> None:
        _expect(consent, "ConsentRecord")
        value = self.contract.encode(consent)
        # Every worker keeps 32 versions of each subject's. A withdrawal goes whatever its size: the
        # gateway erases on one it refuses, and a grant near the bound grows by its withdrawn_at.
        if len(value) > MAX_CONSENT_BYTES and getattr(consent, "status", None) != "WITHDRAWN":
            raise InvalidRecord(f"a consent version is at most {MAX_CONSENT_BYTES:,} bytes encoded, not {len(value):,}")
        key = subject_key(consent.tenant_id, consent.subject_id)
        await self._send(self.names.consent(consent.tenant_id), key, value)
        self._consent_unacknowledged = True

    async def withdraw_consent(self, granted: ConsentRecord, at: datetime) -> None:
        await self.record_consent(granted.withdrawn(at))

    async def delete_consent(self, tenant_id: str, subject_id: str) -> None:
        """A tombstone: the consent is gone, and with it the enrollment (erased like a withdrawal)."""
        await self._send(self.names.consent(tenant_id), subject_key(tenant_id, subject_id), None)
        self._consent_unacknowledged = True

    async def enroll(self, enrollment: _SubjectRecord) -> None:
        _expect(enrollment, "Enrollment")
        await self._after_consents()
        key = subject_key(enrollment.tenant_id, enrollment.subject_id)
        await self.send_record(self.names.enroll(enrollment.tenant_id), key, enrollment)

    async def request_share(self, request: _SubjectRecord) -> None:
        _expect(request, "ShareRequest")
        await self._after_consents()
        key = subject_key(request.tenant_id, request.subject_id)
        await self.send_record(self.names.share_requests(request.tenant_id), key, request)

    async def _after_consents(self) -> None:
        """Consents sent since the last acknowledgement are acknowledged first (one wait per run
        of consents, not per request): a consent sent just before could otherwise land after the
        request on another partition, and the request be refused."""
        if self._consent_unacknowledged:
            await self.flush()
            self._consent_unacknowledged = False
