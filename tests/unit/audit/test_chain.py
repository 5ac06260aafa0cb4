"""Audit records linked from one Python-mode dump (`append`, and `append_datum` on the decision
path) hash as the reference does (`record_hash`: `canonical` over pydantic's JSON mode, what
verifiers recompute) and encode alike, whatever the fields hold: any text, non-ASCII, control
characters, any timestamp."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.contract.codec import default_codec
from gateway.contract.models import AuditRecord
from gateway.contract.schemas import SchemaSet
from gateway.contract.vocabulary import Decision
from gateway.core.audit.chain import (
    _CANONICAL,
    GENESIS,
    ChainHead,
    _sorted_json,
    append,
    append_datum,
    canonical,
    record_hash,
)
from tests.support.avro_strategies import datum

CODEC = default_codec()
CHAIN_FIELDS = ("seq", "prev_hash", "hash", "signature", "key_id")
RECORDS = datum(SchemaSet.load()["AuditRecord"].schema)
HEADS = st.builds(
    ChainHead, st.integers(min_value=-1, max_value=2**40), st.binary(min_size=32, max_size=32).map(bytes.hex)
)


def content(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in CHAIN_FIELDS}


@settings(max_examples=300)
@given(RECORDS, HEADS)
def test_the_decision_paths_record_is_the_reference_record(record: dict[str, Any], head: ChainHead) -> None:
    fields = content(record)
    reference, reference_head = append(fields, head)
    fast, fast_head = append_datum(fields, head)
    assert fast_head == reference_head == ChainHead(head.seq + 1, reference.hash)
    assert reference.hash == record_hash(reference), "the verifier's hash, from the JSON-mode dump"
    assert CODEC.encode_datum(AuditRecord.avro_name, fast) == CODEC.encode(reference)


@given(RECORDS)
def test_a_python_mode_dump_is_canonicalised_as_the_json_mode_dump(record: dict[str, Any]) -> None:
    model = AuditRecord.model_validate({**content(record), "seq": 7, "prev_hash": GENESIS, "hash": ""})
    assert canonical(model.model_dump(), 7, GENESIS) == canonical(model.model_dump(mode="json"), 7, GENESIS)


def test_timestamps_are_written_as_pydantics_json_mode_writes_them() -> None:
    base = {"audit_id": "a", "event_id": "e", "tenant_id": "t", "decision": "FORWARDED", "rule_ids": ["R01"],
            "policy_version": "p", "seq": 0, "prev_hash": GENESIS, "hash": ""}  # fmt: skip
    times = [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
        datetime(2026, 11, 26, 12, 0, 0, 123_000, tzinfo=UTC),
        datetime(2026, 11, 26, 13, 0, 0, 5_000, tzinfo=timezone(timedelta(hours=1))),  # validated to UTC
        datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC),
    ]
    for at in times:
        model = AuditRecord.model_validate({**base, "recorded_at": at, "event_time": at})
        assert canonical(model.model_dump(), 0, GENESIS) == canonical(model.model_dump(mode="json"), 0, GENESIS)
        fields = {k: v for k, v in base.items() if k not in CHAIN_FIELDS}
        linked, head = append({**fields, "recorded_at": at, "event_time": at}, ChainHead())
        assert head.hash == record_hash(linked)


# Every code point, lone surrogates too (which have no UTF-8: the standard library writes them).
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)


@settings(max_examples=500)
@given(
    ANY_TEXT,
    st.lists(ANY_TEXT, max_size=3),
    st.integers(min_value=0, max_value=2**63 - 1),
    st.permutations(list("abcdefgh")),
)
def test_the_fast_json_writes_what_the_standard_library_writes(
    text: str, texts: list[str], number: int, order: list[str]
) -> None:
    """msgspec writes the hash's JSON on the decision path; the bytes are the standard library's,
    whatever the text: control characters, DEL, non-ASCII, beyond the BMP, lone surrogates."""
    at = datetime(2026, 11, 26, 12, 0, 0, 123_000, tzinfo=UTC)
    values = {"a": text, "b": texts, "c": None, "d": number, "e": at, "f": Decision.FORWARDED, "g": [], "h": "x"}
    fields = {key: values[key] for key in order}  # keys in any order: both sort them
    assert _sorted_json(fields) == _CANONICAL.encode(fields).encode()
