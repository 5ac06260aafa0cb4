"""Appending a decision to the audit log: link it into its partition's chain and encode it."""

from __future__ import annotations

from typing import Any

from gateway.contract.codec import Codec
from gateway.core.audit.chain import ChainHead, append
from gateway.core.messages import Output


def audit_output(
    fields: dict[str, Any], heads: dict[int, ChainHead], partition: int, topic: str, codec: Codec
) -> Output:
    """The audit record for `fields`, chained after `heads[partition]`, which advances in place."""
    record, heads[partition] = append(fields, heads.get(partition, ChainHead()))
    return Output(topic, record.audit_id.encode(), codec.encode(record), partition)
