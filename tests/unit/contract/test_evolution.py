"""A value added to an enum after this release reads as the strictest case, and the gateway
refuses it: a reader that knows a newer writer's schema (a release it was given) never turns an
unknown purpose into a permitted one, or an unknown consent status into GRANTED."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

from gateway.contract.codec import Codec
from gateway.contract.models import CameraRegistration, ConsentRecord, FaceCaptured
from gateway.contract.schemas import SchemaSet, build_record, compose, default_schema_dir
from gateway.contract.vocabulary import ConsentMethod, ConsentStatus, Decision, LocationType, Purpose
from gateway.core.lifecycle.enrollment import enroll
from gateway.core.messages import InputRecord
from gateway.core.policy.decision import screen
from gateway.core.policy.reasons import Reason
from gateway.files.calibrations import shipped
from tests.support.core import CODEC, NAMES, NOW, context, key_of
from tests.support.lifecycle import POPULATION, T0, consent, enrollment, give, new_state, on


def _future(symbol_for: dict[str, str]) -> SchemaSet:
    """Today's contract with one more symbol in each named enum, as a later release would have."""
    named = {}
    for path in sorted(default_schema_dir().glob("*.avsc")):
        data = json.loads(path.read_text())
        if data["name"] in symbol_for:
            data["symbols"] = [*data["symbols"], symbol_for[data["name"]]]
        named[f"{data['namespace']}.{data['name']}"] = data
    return SchemaSet(
        {
            full.rsplit(".", 1)[1]: build_record(full.rsplit(".", 1)[1], compose(copy.deepcopy(data), named))
            for full, data in named.items()
            if data["type"] == "record"
        }
    )


FUTURE = _future({"Purpose": "LOYALTY", "ConsentStatus": "PAUSED", "ConsentMethod": "BIOMETRIC_KIOSK",
                  "LocationType": "CHILDCARE", "Occlusion": "SUNGLASSES", "Decision": "ESCALATED"})  # fmt: skip
WRITER = Codec(FUTURE)
READER = Codec(SchemaSet.load(), history=[FUTURE])  # a reader that was given the newer writer schemas


def _written_later(record: Any, **future_values: object) -> bytes:
    datum = {**record.to_avro(), **future_values}
    return WRITER.encode_datum(record.avro_name, datum)


def test_unknown_symbols_read_as_the_strictest_case() -> None:
    granted = consent("s1")
    read = READER.decode(_written_later(granted, status="PAUSED", method="BIOMETRIC_KIOSK"), ConsentRecord)
    assert read.status is ConsentStatus.WITHDRAWN and read.method is ConsentMethod.ELECTRONIC
    listed = READER.decode(_written_later(granted, purposes=["LOYALTY"]), ConsentRecord)
    assert listed.purposes == [Purpose.UNKNOWN]


def test_the_gateway_refuses_what_it_cannot_know() -> None:
    state = new_state()
    future_only = READER.decode(_written_later(consent("s1"), purposes=["LOYALTY"]), ConsentRecord)
    give(state, future_only)
    ctx = context(state)
    enroll(_record(NAMES.enroll("acme"), CODEC.encode(enrollment("s1"))), ctx)
    assert on(ctx.result, NAMES.enrolled) == [], "a consent to an unknown purpose consents to nothing"


def _record(topic: str, value: bytes) -> InputRecord:
    return InputRecord(topic, 0, 0, value, int(T0.timestamp() * 1000), key_of(value))


def test_a_capture_for_an_unknown_purpose_or_place_is_blocked() -> None:
    state = new_state()
    camera = CameraRegistration(
        camera_id="c1", tenant_id="acme", site_id="s", location_type=LocationType.RETAIL, signage_posted=True,
        allowed_purposes=[Purpose.REPEAT_VISITOR_RECOGNITION], region="CN",
    )  # fmt: skip
    capture = FaceCaptured(
        event_id="e1", camera_id="c1", tenant_id="acme", captured_at=NOW - timedelta(minutes=1),
        purpose=Purpose.REPEAT_VISITOR_RECOGNITION, template=POPULATION.captures([0], 0)[0].astype("<f4").tobytes(),
        template_model="synthetic-512", quality=0.9, occlusion="NONE",
    )  # fmt: skip
    calibration = shipped()["synthetic-512"]
    later_capture = READER.decode(_written_later(capture, purpose="LOYALTY"), FaceCaptured)
    outcome = screen(later_capture, camera, state.policy("acme"), calibration)
    assert getattr(outcome, "decision", None) is Decision.BLOCKED and outcome.reason_codes == (Reason.PURPOSE_UNKNOWN,)  # type: ignore[union-attr]
    later_camera = READER.decode(_written_later(camera, location_type="CHILDCARE"), CameraRegistration)
    outcome = screen(capture, later_camera, state.policy("acme"), calibration)
    assert getattr(outcome, "decision", None) is Decision.BLOCKED and outcome.reason_codes == (Reason.LOCATION_UNKNOWN,)  # type: ignore[union-attr]
