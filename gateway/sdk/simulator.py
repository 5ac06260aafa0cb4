"""Drive a synthetic world into Kafka: registries first, then captures at a steady rate."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator

from gateway.sdk.producer import FaceGateProducer
from gateway.sdk.scenario import Capture, World


async def publish_world(producer: FaceGateProducer, world: World) -> None:
    """Cameras, consents and enrollments, as the tenants' systems would send them."""
    for camera in world.cameras:
        await producer.register_camera(camera)
    for consent in world.consents:
        await producer.record_consent(consent)
    for enrollment in world.enrollments:
        await producer.enroll(enrollment)
    await producer.flush()


async def send_capture(producer: FaceGateProducer, item: Capture) -> None:
    if item.capture is not None:
        await producer.capture(item.capture, vendor_id=item.vendor)
    else:
        await producer.send_raw_capture(
            f"malformed-{time.monotonic_ns()}".encode(), item.raw or b"", vendor_id=item.vendor
        )


async def run_traffic(
    producer: FaceGateProducer,
    traffic: Iterator[Capture],
    rate: float,
    duration: float | None = None,
    count: int | None = None,
    on_sent: Callable[[Capture], None] | None = None,
) -> Counter[str]:
    """Send captures at `rate` per second until `duration` seconds or `count` captures."""
    sent: Counter[str] = Counter()
    started = time.monotonic()
    n = 0
    while (count is None or n < count) and (duration is None or time.monotonic() - started < duration):
        item = next(traffic)
        await send_capture(producer, item)
        sent[item.kind] += 1
        n += 1
        if on_sent:
            on_sent(item)
        ahead = n / rate - (time.monotonic() - started)
        if ahead > 0:
            await asyncio.sleep(ahead)  # pacing to the requested rate
    await producer.flush()
    return sent
