"""The vendor SDK's producer, configured from the gateway's Settings.

The producer itself is the `facegate-sdk` distribution's (facegate_sdk, in sdk/): the contract's
encoding, keys and the ordering rule live there, and it imports nothing from the gateway. This
module keeps `gateway.sdk.producer.FaceGateProducer(settings)` working for the gateway's own
tools (demo, simulate, consent, the benchmarks and tests): it takes the connection from FACEGATE_*
Settings (SCRAM, TLS) and accepts the gateway's pydantic records as well as the SDK's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import facegate_sdk
from facegate_sdk import Connection

from gateway.contract.models import ConsentRecord
from gateway.core.consent import withdrawal
from gateway.kafka.connection import aiokafka_config
from gateway.settings import Settings


class FaceGateProducer(facegate_sdk.FaceGateProducer):
    def __init__(self, settings: Settings | None = None, *, vendor_id: str | None = None, **producer: Any) -> None:
        self.settings = settings or Settings()
        # The gateway's client configuration (SCRAM credentials from files, TLS) wins over the SDK's defaults.
        connection = Connection(topic_prefix=self.settings.topic_prefix)
        # Idempotent as the worker's producer is (FACEGATE_PRODUCER_IDEMPOTENCE, off only for Tansu).
        idempotence = self.settings.producer_idempotence
        options = {"enable_idempotence": idempotence, **aiokafka_config(self.settings), **producer}
        super().__init__(connection, vendor_id=vendor_id, **options)

    async def withdraw_consent(self, granted: ConsentRecord | facegate_sdk.ConsentRecord, at: datetime) -> None:
        if isinstance(granted, facegate_sdk.ConsentRecord):
            await super().withdraw_consent(granted, at)
        else:
            await self.record_consent(withdrawal(granted, at))
