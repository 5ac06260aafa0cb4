"""Fail closed: a worker decides nothing before it has read the feeds (cameras, consent,
enrollments) up to where they stood when it started. A withdrawal written while no worker ran,
followed by captures of that person, must strip every one of them on the next start."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.brokers.apache_kafka import KafkaBroker
from gateway.contract.models import AuditRecord
from gateway.contract.vocabulary import Decision
from gateway.sdk.producer import FaceGateProducer
from gateway.sdk.scenario import Traffic
from tests.support.deployment import CODEC, Deployment
from tests.support.kafka import Unique

pytestmark = pytest.mark.kafka


def test_a_fresh_worker_applies_every_withdrawal_before_deciding(
    kafka: KafkaBroker, unique: Unique, tmp_path: Path
) -> None:
    d = Deployment(kafka, unique, tmp_path)
    first = d.start_worker()
    asyncio.run(d.publish_world(first))
    assert first.stop() == 0

    customers = [c for c in Traffic(d.world, seed=61).take(600) if c.kind == "consenting-customer" and c.subject]
    withdrawn = customers[0].subject
    theirs = [c for c in customers if c.subject == withdrawn]
    others = [c for c in customers if c.subject != withdrawn][:40]
    consent = next(c for c in d.world.consents if c.subject_id == withdrawn)

    async def while_no_worker_runs() -> None:
        async with FaceGateProducer(d.settings) as producer:
            await producer.withdraw_consent(consent, datetime.now(UTC))
            for item in theirs + others:
                assert item.capture is not None
                await producer.capture(item.capture, vendor_id=item.vendor)

    asyncio.run(while_no_worker_runs())
    d.start_worker()
    records = d.audit_records(at_least_events=len(theirs) + len(others))
    decided = {a.event_id: a for r in records if isinstance(a := CODEC.decode_any(r.value or b""), AuditRecord)}
    for item in theirs:
        assert item.capture is not None
        audit = decided[item.capture.event_id]
        # Stripped: for the withdrawal itself, or because its erasure already removed the template.
        assert audit.decision is Decision.STRIPPED and audit.reason_codes[0] in ("CONSENT_WITHDRAWN", "NO_MATCH")
    # Everyone else was recognised: the worker decided with the feeds read, not with empty state.
    assert sum(decided[c.capture.event_id].decision is Decision.FORWARDED for c in others if c.capture) == len(others)
    assert d.stop_all()[-1] == 0
