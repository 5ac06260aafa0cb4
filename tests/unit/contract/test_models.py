"""The pydantic models agree with the Avro schemas, field for field, and survive a round trip."""

from __future__ import annotations

import io
import types
import typing
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

import fastavro
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway.contract.codec import MARKER, EncodeError, default_codec
from gateway.contract.models import RECORD_MODELS, AuditRecord, FaceCaptured, GovernedFace, _fields_validator
from gateway.contract.schemas import RECORD_NAMES, SchemaSet
from gateway.contract.vocabulary import Decision
from gateway.core.policy.reasons import Reason
from gateway.core.policy.rules import Rule
from tests.support.avro_strategies import datum

SCHEMAS = SchemaSet.load()
CODEC = default_codec()
DATA = {name: datum(SCHEMAS[name].schema) for name in RECORD_NAMES}


def _branches(annotation: Any) -> set[Any]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return set(typing.get_args(annotation))
    return {annotation}


@pytest.mark.parametrize("name", RECORD_NAMES)
def test_model_fields_mirror_the_schema(name: str) -> None:
    model = RECORD_MODELS[name]
    fields = SCHEMAS[name].fields()
    assert list(model.model_fields) == [f["name"] for f in fields], "same fields, same order"
    for field in fields:
        info = model.model_fields[field["name"]]
        assert info.is_required() == ("default" not in field), field["name"]
        nullable = isinstance(field["type"], list) and "null" in field["type"]
        assert (type(None) in _branches(info.annotation)) == nullable, field["name"]


@pytest.mark.parametrize("name", RECORD_NAMES)
def test_enum_fields_use_the_vocabulary(name: str) -> None:
    model = RECORD_MODELS[name]
    for field, info in model.model_fields.items():
        for branch in _branches(info.annotation):
            inner = typing.get_args(branch)[0] if typing.get_origin(branch) is list else branch
            if isinstance(inner, type) and issubclass(inner, StrEnum):
                assert inner.__name__ in {"Purpose", "Decision", "Occlusion", "LocationType",
                                          "ConsentStatus", "ConsentMethod", "EnrollmentSource",
                                          "DisclosureBasis"}, field  # fmt: skip


@pytest.mark.parametrize("name", RECORD_NAMES)
@given(data=st.data())
def test_round_trip_of_every_record_type(name: str, data: st.DataObject) -> None:
    raw = data.draw(DATA[name])
    model = RECORD_MODELS[name].model_validate(raw)
    encoded = CODEC.encode(model)
    # The model kept every value: it encodes to exactly what the raw datum encodes to.
    assert encoded == CODEC.encode_datum(name, raw)
    assert CODEC.decode(encoded, RECORD_MODELS[name]) == model
    assert CODEC.decode_any(encoded) == model


@pytest.mark.parametrize("name", RECORD_NAMES)
@given(data=st.data())
def test_a_validated_datum_is_what_the_model_gives(name: str, data: st.DataObject) -> None:
    """`validated_datum` (how the decision path builds its audit record and governed event, no
    model in between) returns the model's datum, value for value and type for type, and refuses
    what the model refuses."""
    raw = data.draw(DATA[name])
    model = RECORD_MODELS[name]
    try:
        expected = model.model_validate(raw).to_avro()
    except ValidationError:
        with pytest.raises(ValidationError):
            model.validated_datum(raw)
        return
    got = model.validated_datum(raw)
    assert got == expected and list(got) == list(expected)
    assert [type(v) for v in got.values()] == [type(v) for v in expected.values()]


def test_a_validated_datum_holds_the_models_constraints() -> None:
    fields = {
        "audit_id": "a", "event_id": "e", "tenant_id": "t", "decision": "BLOCKED", "rule_ids": ["R06"],
        "policy_version": "p", "recorded_at": datetime(2026, 1, 2, 11, 4, 5, 678_901, tzinfo=timezone(timedelta(hours=8))),
        "seq": 0, "prev_hash": "0" * 64, "hash": "",
    }  # fmt: skip
    # The records the decision path writes per capture are flat: validated without a model built.
    assert _fields_validator(AuditRecord) is not None and _fields_validator(GovernedFace) is not None
    datum = AuditRecord.validated_datum(fields)
    assert datum == AuditRecord.model_validate(fields).to_avro()
    assert datum["recorded_at"] == datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)  # UTC, whole milliseconds
    assert datum["decision"] is Decision.BLOCKED and datum["site_id"] is None  # enums and defaults as the model's
    # The decision path passes its rules and reasons as they are (tuples of enums): plain strings come out.
    coded = AuditRecord.validated_datum({**fields, "rule_ids": (Rule.AUDIT,), "reason_codes": [Reason.NOT_IDENTIFIED]})
    assert coded["rule_ids"] == ["R19"] and [type(c) for c in coded["rule_ids"] + coded["reason_codes"]] == [str, str]
    for wrong in ({"seq": -1}, {"event_id": ""}, {"event_id": "e" * 257}, {"decision": "MAYBE"}, {"extra": 1}):
        with pytest.raises(ValidationError):
            AuditRecord.model_validate({**fields, **wrong})
        with pytest.raises(ValidationError):
            AuditRecord.validated_datum({**fields, **wrong})


@pytest.mark.parametrize("name", RECORD_NAMES)
@given(data=st.data())
def test_the_codec_writes_every_byte_as_fastavro_does(name: str, data: st.DataObject) -> None:
    """The codec writes with cavro and reads with fastavro (as do the SDK, the Java producer and
    the Go verifier's libraries): the two must agree on every byte of every record type."""
    model = RECORD_MODELS[name].model_validate(data.draw(DATA[name]))
    written = io.BytesIO()
    fastavro.schemaless_writer(written, SCHEMAS[name].parsed, model.to_avro())
    assert CODEC.encode(model) == MARKER + SCHEMAS[name].fingerprint + written.getvalue()


@pytest.mark.parametrize(
    ("field", "value"), [("age_estimate", "thirty"), ("camera_id", None), ("purpose", "NOT_A_PURPOSE")]
)
def test_a_datum_that_does_not_fit_is_an_encode_error_naming_the_record_only(field: str, value: object) -> None:
    capture = FaceCaptured(
        event_id="e", camera_id="c", tenant_id="t", captured_at=datetime(2026, 1, 2, tzinfo=UTC),
        purpose="ACCESS_CONTROL", template=b"\x00" * 8, template_model="m", quality=0.5, occlusion="NONE",
    )  # fmt: skip
    with pytest.raises(EncodeError) as raised:
        CODEC.encode_datum("FaceCaptured", {**capture.to_avro(), field: value})
    assert "FaceCaptured" in str(raised.value) and str(value) not in str(raised.value)


def test_naive_timestamps_are_utc_and_cut_to_milliseconds() -> None:
    capture = FaceCaptured(
        event_id="e", camera_id="c", tenant_id="t", captured_at=datetime(2026, 1, 2, 3, 4, 5, 678_901),
        purpose="SECURITY", template=b"\0" * 8, template_model="m", quality=0.5, occlusion="NONE",
    )  # fmt: skip
    assert capture.captured_at.utcoffset() is not None
    assert capture.captured_at.microsecond == 678_000


@pytest.mark.parametrize(
    "stamp",
    [
        datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC),  # already UTC and whole milliseconds: kept as is
        datetime(2026, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC),
        datetime(2026, 1, 2, 11, 4, 5, 678_901, tzinfo=timezone(timedelta(hours=8))),
    ],
)
def test_timestamps_are_held_in_utc_to_the_millisecond(stamp: datetime) -> None:
    capture = FaceCaptured(
        event_id="e", camera_id="c", tenant_id="t", captured_at=stamp, purpose="SECURITY", template=b"\0" * 8,
        template_model="m", quality=0.5, occlusion="NONE",
    )  # fmt: skip
    assert capture.captured_at.tzinfo is UTC
    assert (capture.captured_at.hour, capture.captured_at.microsecond) == (3, 678_000)


def test_repr_never_shows_template_bytes() -> None:
    template = bytes(range(256)) * 8
    capture = FaceCaptured(
        event_id="e", camera_id="c", tenant_id="t", captured_at=datetime(2026, 1, 1), purpose="SECURITY",
        template=template, template_model="m", quality=0.5, occlusion="NONE", image=b"\xff\xd8jpeg-bytes",
    )  # fmt: skip
    text = repr(capture) + str(capture)
    assert "<2048 bytes>" in text
    assert "jpeg-bytes" not in text and "\\x01\\x02" not in text


# What producers write (tenants and vendors): the records on their own topics.
PRODUCED = ("FaceCaptured", "CameraRegistration", "ConsentRecord", "Enrollment", "ShareRequest")
UNBOUNDED_ON_PURPOSE = {"FaceCaptured.image"}  # a raw image: never held, echoed or decoded further


def _unbounded(schema: dict[str, Any], where: str) -> list[str]:
    """Where a string, bytes or list in a field's JSON schema has no maximum length."""
    found = [w for branch in schema.get("anyOf", []) for w in _unbounded(branch, where)]
    if schema.get("type") == "string" and schema.get("format") != "date-time" and "maxLength" not in schema:
        found.append(where)
    if schema.get("type") == "array":
        found += [] if "maxItems" in schema else [where]
        found += _unbounded(schema["items"], f"{where}[]")
    return found


@pytest.mark.parametrize("name", PRODUCED)
def test_every_string_and_list_a_producer_writes_is_bounded(name: str) -> None:
    """Each item of a list is validated (and a bad one described) on its own, and a consent's are
    held in every worker: a list as long as Kafka takes made a dead letter Kafka refused, and a
    consent ledger of gigabytes."""
    fields = RECORD_MODELS[name].model_json_schema()["properties"]
    unbounded = [w for field, schema in fields.items() for w in _unbounded(schema, f"{name}.{field}")]
    assert set(unbounded) == UNBOUNDED_ON_PURPOSE & {f"{name}.{field}" for field in fields}


def test_the_bounds_refuse_one_item_or_character_more() -> None:
    camera = {
        "camera_id": "c", "tenant_id": "t", "site_id": "s", "location_type": "RETAIL", "signage_posted": True,
        "allowed_purposes": ["SECURITY"] * 16, "region": "CN", "signage_evidence": "e" * 256,
    }  # fmt: skip
    consent = {
        "tenant_id": "t", "subject_id": "s", "status": "GRANTED", "purposes": ["SECURITY"] * 16,
        "recipients": ["r"] * 16, "separate": True, "method": "WRITTEN", "notice_version": "n",
        "granted_at": datetime(2026, 1, 1, tzinfo=UTC),
    }  # fmt: skip
    models = {"CameraRegistration": camera, "ConsentRecord": consent}
    for name, fields in models.items():
        RECORD_MODELS[name].model_validate(fields)
    for name, field, more in [
        ("CameraRegistration", "allowed_purposes", ["SECURITY"] * 17),
        ("CameraRegistration", "signage_evidence", "e" * 257),
        ("ConsentRecord", "purposes", ["SECURITY"] * 17),
        ("ConsentRecord", "recipients", ["r"] * 17),
    ]:
        with pytest.raises(ValidationError):
            RECORD_MODELS[name].model_validate({**models[name], field: more})
