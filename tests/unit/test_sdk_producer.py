"""The SDK producer's ordering promise: an enrollment or share request is sent only once the
consents sent before it are acknowledged (Kafka orders records only within a partition)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from gateway.contract.models import ShareRequest
from gateway.contract.vocabulary import Purpose
from gateway.sdk.producer import FaceGateProducer
from gateway.sdk.scenario import build_world
from gateway.settings import Settings
from tests.support.producers import HeldProducer


def producer_with(held: HeldProducer) -> FaceGateProducer:
    producer = FaceGateProducer(Settings())
    real, producer._producer = producer._producer, held  # no broker needed: the ordering is the SDK's own
    real._closed = True  # never started, so nothing to close (silences aiokafka's unclosed warning)
    return producer


def test_an_enrollment_waits_for_the_consents_before_it() -> None:
    world = build_world(seed=7, subjects_per_tenant=2)

    async def main() -> tuple[list[str], list[str]]:
        held = HeldProducer()
        producer = producer_with(held)
        for consent in world.consents:
            await producer.record_consent(consent)
        enrolling = asyncio.create_task(producer.enroll(world.enrollments[0]))
        await held.blocked_or_done(enrolling)
        before_acks = held.kinds()
        for ack in held.acks:
            ack.set_result(None)
        await asyncio.wait_for(enrolling, 5)
        await producer.enroll(world.enrollments[1])  # no consent since: sent at once, unacknowledged
        return before_acks, held.kinds()

    before_acks, sent = asyncio.run(main())
    assert before_acks == ["consent"] * len(world.consents)
    assert sent == ["consent"] * len(world.consents) + ["enroll", "enroll"]


def test_a_share_request_waits_for_a_withdrawal_before_it() -> None:
    world = build_world(seed=7, subjects_per_tenant=2)
    granted = world.consents[0]

    async def main() -> list[str]:
        held = HeldProducer()
        producer = producer_with(held)
        await producer.withdraw_consent(granted, datetime(2026, 11, 26, tzinfo=UTC))
        request = ShareRequest(
            request_id="share-1", tenant_id=granted.tenant_id, subject_id=granted.subject_id,
            recipient_tenant_id="beta", recipient_region="CN", purpose=Purpose.ACCESS_CONTROL,
            requested_at=datetime(2026, 11, 26, tzinfo=UTC),
        )  # fmt: skip
        sharing = asyncio.create_task(producer.request_share(request))
        await held.blocked_or_done(sharing)
        sent_before = held.kinds()
        held.acks[0].set_result(None)
        await asyncio.wait_for(sharing, 5)
        return sent_before

    assert asyncio.run(main()) == ["consent"]
