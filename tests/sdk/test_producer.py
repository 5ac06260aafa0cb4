"""The SDK's producer on its own (no gateway import in what is tested): topics, keys, values and
the ordering rule, with a stand-in for aiokafka's producer; connection settings from FACEGATE_*."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import UTC, datetime

import numpy as np
import pytest
from facegate_sdk import (
    CameraRegistration,
    Connection,
    ConsentMethod,
    ConsentRecord,
    ConsentStatus,
    Enrollment,
    FaceCaptured,
    FaceGateProducer,
    InvalidRecord,
    LocationType,
    Purpose,
    ShareRequest,
    Topics,
    default_contract,
)
from facegate_sdk.producer import PRUNE_AT
from facegate_sdk.records import MAX_CONSENT_BYTES

from tests.support.leaks import LeakFinder
from tests.support.producers import HeldProducer

AT = datetime(2026, 11, 26, 9, tzinfo=UTC)
TEMPLATE = bytes(4 * 8)


def producer_with(held: HeldProducer, prefix: str = "p.") -> FaceGateProducer:
    producer = FaceGateProducer(Connection(topic_prefix=prefix), vendor_id="lumen")
    real, producer._producer = producer._producer, held
    real._closed = True  # never started, so nothing to close
    return producer


def consent(subject: str) -> ConsentRecord:
    return ConsentRecord(
        tenant_id="acme", subject_id=subject, purposes=[Purpose.ACCESS_CONTROL], separate=True,
        method=ConsentMethod.WRITTEN, notice_version="notice-v1", granted_at=AT,
    )  # fmt: skip


def test_each_record_goes_to_its_topic_under_its_key() -> None:
    camera = CameraRegistration(
        camera_id="acme-gate", tenant_id="acme", site_id="acme-hq", location_type=LocationType.OFFICE,
        signage_posted=True, allowed_purposes=[Purpose.ACCESS_CONTROL], region="CN-ZJ",
    )  # fmt: skip
    capture = FaceCaptured(
        event_id="evt-1", camera_id="acme-gate", tenant_id="acme", captured_at=AT,
        purpose=Purpose.ACCESS_CONTROL, template=TEMPLATE, template_model="synthetic-512", quality=0.9,
    )  # fmt: skip
    enrollment = Enrollment(tenant_id="acme", subject_id="s-1", template=TEMPLATE, template_model="synthetic-512")
    share = ShareRequest(
        request_id="r-1", tenant_id="acme", subject_id="s-1", recipient_tenant_id="beta",
        recipient_region="CN", purpose=Purpose.ACCESS_CONTROL, requested_at=AT,
    )  # fmt: skip

    async def main() -> list[tuple[str, bytes | None, bytes | None]]:
        held = HeldProducer(acknowledged=True)
        producer = producer_with(held)
        await producer.register_camera(camera)
        await producer.capture(capture)
        await producer.record_consent(consent("s-1"))
        await producer.enroll(enrollment)
        await producer.request_share(share)
        await producer.withdraw_consent(consent("s-1"), AT)
        await producer.delete_consent("acme", "s-1")
        await producer.deregister_camera("acme", "acme-gate")
        await producer.flush()
        return held.sent

    sent = asyncio.run(main())
    contract = default_contract()
    assert [(topic, key) for topic, key, _ in sent] == [
        ("p.cameras.acme", b"acme-gate"),
        ("p.faces.raw.lumen", b"evt-1"),
        ("p.consent.acme", b"acme/s-1"),
        ("p.enroll.acme", b"acme/s-1"),
        ("p.share.requests.acme", b"acme/s-1"),
        ("p.consent.acme", b"acme/s-1"),
        ("p.consent.acme", b"acme/s-1"),
        ("p.cameras.acme", b"acme-gate"),
    ]
    values = [value for _, _, value in sent]
    assert values[:5] == [contract.encode(r) for r in (camera, capture, consent("s-1"), enrollment, share)]
    name, withdrawn = contract.decode(values[5] or b"")
    assert (
        name == "ConsentRecord" and withdrawn["status"] == ConsentStatus.WITHDRAWN and withdrawn["withdrawn_at"] == AT
    )
    assert values[6:] == [None, None]  # tombstones


def test_an_enrollment_waits_for_the_consents_before_it() -> None:
    enrollment = Enrollment(tenant_id="acme", subject_id="s-0", template=TEMPLATE, template_model="synthetic-512")

    async def main() -> tuple[list[str], list[str]]:
        held = HeldProducer()
        producer = producer_with(held)
        for n in range(3):
            await producer.record_consent(consent(f"s-{n}"))
        enrolling = asyncio.create_task(producer.enroll(enrollment))
        waiting = asyncio.create_task(held.waited_on.wait())
        await asyncio.wait([enrolling, waiting], timeout=5, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        before = [topic for topic, _, _ in held.sent]
        for ack in held.acks:
            ack.set_result(None)
        await asyncio.wait_for(enrolling, 5)
        await producer.enroll(enrollment)  # no consent since: sent at once
        return before, [topic for topic, _, _ in held.sent]

    before, after = asyncio.run(main())
    assert before == ["p.consent.acme"] * 3
    assert after == ["p.consent.acme"] * 3 + ["p.enroll.acme"] * 2


def test_a_record_of_the_wrong_kind_is_refused() -> None:
    async def main() -> None:
        producer = producer_with(HeldProducer(acknowledged=True))
        with pytest.raises(TypeError, match="expected a Enrollment, got a ConsentRecord"):
            await producer.enroll(consent("s-1"))  # structurally a subject record, but not an Enrollment

    asyncio.run(main())


def test_a_consent_version_over_4_kib_is_refused_before_it_is_sent() -> None:
    """The gateway keeps 32 versions of each subject's consent in every worker, and refuses
    (CONSENT_TOO_LARGE) a version over 4 KiB: ids and recipients at their longest in 4-byte UTF-8."""
    held = HeldProducer(acknowledged=True)
    large = dataclasses.replace(consent("s-1"), recipients=[f"{n:x}" + "\U0001f600" * 255 for n in range(16)])

    async def main() -> None:
        producer = producer_with(held)
        with pytest.raises(InvalidRecord, match="at most 4,096 bytes"):
            await producer.record_consent(large)
        await producer.record_consent(dataclasses.replace(large, recipients=large.recipients[:3]))

    asyncio.run(main())
    assert [topic for topic, _, _ in held.sent] == ["p.consent.acme"]


def test_a_grant_at_the_bound_can_be_withdrawn() -> None:
    """A withdrawal is its grant and a withdrawn_at, a few bytes more: it goes whatever its size
    (the gateway erases on a withdrawal it refuses as too large)."""
    held, contract, base = HeldProducer(acknowledged=True), default_contract(), consent("s-1")

    def grant_of(last: int) -> ConsentRecord:  # 15 recipients of 255 characters and one of `last`
        return dataclasses.replace(base, recipients=[f"{n:x}" + "r" * 254 for n in range(15)] + ["z" * last])

    # The longest grant the bound allows: one more character in a recipient is a byte more.
    grant = grant_of(next(n for n in range(256, 0, -1) if len(contract.encode(grant_of(n))) <= MAX_CONSENT_BYTES))
    assert len(contract.encode(grant)) == MAX_CONSENT_BYTES
    assert len(contract.encode(grant.withdrawn(AT))) > MAX_CONSENT_BYTES

    async def main() -> None:
        producer = producer_with(held)
        await producer.record_consent(grant)
        await producer.withdraw_consent(grant, AT)

    asyncio.run(main())
    assert len(held.sent) == 2


def test_connection_from_the_gateways_variables() -> None:
    env = {
        "FACEGATE_BOOTSTRAP_SERVERS": "k1:9093,k2:9093",
        "FACEGATE_TOPIC_PREFIX": "prod.",
        "FACEGATE_SECURITY_PROTOCOL": "SASL_SSL",
        "FACEGATE_SASL_USERNAME": "vendor-hik",
        "FACEGATE_SASL_PASSWORD": "s3cret",
    }
    connection = Connection.from_env(env)
    assert connection.topic_prefix == "prod." and "s3cret" not in repr(connection)
    config = connection.client_config()
    assert config["bootstrap_servers"] == "k1:9093,k2:9093"
    assert config["sasl_mechanism"] == "SCRAM-SHA-512" and config["sasl_plain_username"] == "vendor-hik"
    assert "ssl_context" in config
    assert Connection.from_env({}).client_config() == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "PLAINTEXT",
    }
    with pytest.raises(ValueError, match="SASL username and password"):
        Connection(security_protocol="SASL_PLAINTEXT")


def test_the_gateways_alias_takes_its_settings() -> None:
    from pydantic import SecretStr

    from gateway.sdk.producer import FaceGateProducer as GatewayProducer
    from gateway.settings import SecurityProtocol, Settings

    settings = Settings(
        topic_prefix="g.", security_protocol=SecurityProtocol.SASL_PLAINTEXT,
        sasl_username="acme", sasl_password=SecretStr("pw"),
    )  # fmt: skip

    async def main() -> None:
        producer = GatewayProducer(settings)
        producer._producer._closed = True  # never started
        assert producer.names.captures("lumen") == "g.faces.raw.lumen" and producer.settings is settings
        with pytest.raises(ValueError, match="vendor_id"):  # captures go to a vendor's own topic
            await producer.send_raw_capture(b"k", b"v")
        client = producer._producer.client
        assert (client._sasl_plain_username, client._security_protocol) == ("acme", "SASL_PLAINTEXT")

    asyncio.run(main())


def test_the_producer_is_idempotent_unless_told_otherwise() -> None:
    """A retry after a lost answer or a leader change is not written twice (a malformed record
    written twice would be dead-lettered twice); off only for brokers without idempotent producers."""
    from gateway.sdk.producer import FaceGateProducer as GatewayProducer
    from gateway.settings import Settings

    async def idempotent(producer: FaceGateProducer) -> bool:
        producer._producer._closed = True  # never started
        idempotent = producer._producer._txn_manager is not None  # a producer id and sequence numbers
        assert producer._idempotent == idempotent, "start() names the refusal by what the client does"
        return idempotent

    async def main() -> None:
        assert await idempotent(FaceGateProducer(Connection()))
        assert not await idempotent(FaceGateProducer(Connection(), enable_idempotence=False))
        assert await idempotent(GatewayProducer(Settings()))
        assert not await idempotent(GatewayProducer(Settings(producer_idempotence=False)))  # the Tansu demo
        assert not await idempotent(GatewayProducer(Settings(), enable_idempotence=False))
        assert await idempotent(FaceGateProducer(Connection(), enable_idempotence=False, transactional_id="t"))

    asyncio.run(main())


def test_a_producer_that_never_flushes_holds_only_what_is_in_flight_and_keeps_its_first_failure() -> None:
    """A camera's producer runs for months: every send was held until a flush, one future each."""
    capture = FaceCaptured(
        event_id="evt-1", camera_id="acme-gate", tenant_id="acme", captured_at=AT,
        purpose=Purpose.ACCESS_CONTROL, template=TEMPLATE, template_model="synthetic-512", quality=0.9,
    )  # fmt: skip

    async def main() -> None:
        held = HeldProducer(acknowledged=True)
        producer = producer_with(held)
        first = await producer.capture(capture)
        assert first.done() and first.exception() is None  # the caller's own acknowledgement
        for _ in range(3 * PRUNE_AT):
            await producer.capture(capture)
        assert len(producer._pending) < PRUNE_AT  # acknowledged sends let go
        held.acknowledged = False
        late = await producer.capture(capture)  # in flight: kept until acknowledged
        refused = await producer.capture(capture)
        refused.set_exception(RuntimeError("a broker refused it"))
        also = await producer.capture(capture)
        also.set_exception(RuntimeError("and this one"))  # kept as the first's company: one raised
        for _ in range(2 * PRUNE_AT):
            await producer.capture(capture)
        assert late in producer._pending
        for ack in held.acks:
            if not ack.done():
                ack.set_result(None)
        with pytest.raises(RuntimeError, match="a broker refused it"):  # kept though its send was let go
            await producer.flush()
        await producer.flush()  # raised once
        assert producer._pending == []

    asyncio.run(main())


def test_aiokafka_logs_no_value_the_sdk_sends_even_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    # aiokafka's producer logs each key and value it sends at DEBUG: an application logging at DEBUG
    # wrote raw templates and images. Another producer's sends are logged as before.
    rng = np.random.default_rng(5)
    template = (rng.standard_normal(512) / 22.6).astype("<f4").tobytes()
    image = b"\x89PNG\r\n\x1a\n" + rng.bytes(64)
    capture = FaceCaptured(
        event_id="evt-1", camera_id="acme-gate", tenant_id="acme", captured_at=AT, purpose=Purpose.ACCESS_CONTROL,
        template=template, template_model="synthetic-512", quality=0.9, image=image,
    )  # fmt: skip

    async def main() -> None:
        producer = FaceGateProducer(Connection(), vendor_id="lumen")
        kafka = producer._producer  # aiokafka's own send(), without a broker: no metadata, one partition, no batch

        async def no_metadata(topic: str) -> None:
            return None

        async def added(*args: object, **kwargs: object) -> asyncio.Future[None]:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done

        kafka.client._wait_on_metadata, kafka._partition = no_metadata, lambda *args: 0
        kafka._message_accumulator.add_message = added
        await producer.capture(capture)
        await kafka.send("elsewhere", value=b"another producer's value", key=b"k")
        kafka._closed = True  # never started

    with caplog.at_level(logging.DEBUG, logger="aiokafka"):
        asyncio.run(main())
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Sending (key=b'k' value=b\"another producer's value\")" in logged
    assert LeakFinder([template], [image]).leaks({"aiokafka's log": logged.encode()}) == []


def test_an_id_that_cannot_name_a_topic_is_refused_naming_what_it_is() -> None:
    with pytest.raises(ValueError, match=r"^vendor id must be"):
        Topics().captures("lumen optics")
    with pytest.raises(ValueError, match=r"^tenant id must be"):
        Topics().consent("acme/corp")
