"""Appending a decision to the audit log: link it into its partition's chain and encode it."""

from __future__ import annotations

from typing import Any

from gateway.contract.codec import Codec
from gateway.contract.models import AuditRecord
from gateway.core.audit.chain import ChainHead, append_datum
from gateway.core.messages import Output


def audit_output(
    fields: dict[str, Any], heads: dict[int, ChainHead], partition: int, topic: str, codec: Codec
) -> Output:
    """The audit record for `fields`, chained after `heads[partition]`, which advances in place."""
    datum, heads[partition] = append_datum(fields, heads.get(partition, ChainHead()))
    return Output(topic, datum["audit_id"].encode(), codec.encode_datum(AuditRecord.avro_name, datum), partition)
