"""The order the shell produces a batch in (`in_produce_order`): what a redo after a crash between
two steps finds in Kafka decides what it can finish."""

from __future__ import annotations

from gateway.core.messages import Output, in_produce_order

AUDIT, ENROLLED = "facegate.audit", "facegate.enrolled"


def steps(*outputs: Output) -> list[tuple[str, list[tuple[str, bytes, bool]]]]:
    """Each step's outputs as (topic, key, is a tombstone)."""
    return [
        (name, [(o.topic, o.key, o.value is None) for o in some])
        for name, some in in_produce_order(list(outputs), AUDIT, ENROLLED)
    ]


def test_a_capture_batch_has_its_effects_then_its_audit_records() -> None:
    governed, audit = Output("facegate.governed.acme", b"e-1", b"g"), Output(AUDIT, b"a-1", b"r", 0)
    assert steps(governed, audit) == [
        ("effects", [("facegate.governed.acme", b"e-1", False)]),
        ("audit", [(AUDIT, b"a-1", False)]),
    ]


def test_a_template_goes_before_its_audit_record_and_a_tombstone_after_it() -> None:
    # An ENROLLED record means its template is in Kafka; an erasure's tombstone waits for its
    # notices and its ERASED record, which a redo could not write again once the template is gone.
    template = Output(ENROLLED, b"acme/s1", b"code")
    notice, tombstone = Output("facegate.erasure.acme", b"n-1", b"n"), Output(ENROLLED, b"acme/s2", None)
    audits = [Output(AUDIT, b"a-1", b"r", 0), Output(AUDIT, b"a-2", b"r", 0)]
    assert steps(template, audits[0], tombstone, notice, audits[1]) == [
        ("effects", [(ENROLLED, b"acme/s1", False), ("facegate.erasure.acme", b"n-1", False)]),
        ("audit", [(AUDIT, b"a-1", False), (AUDIT, b"a-2", False)]),
        ("enrolled", [(ENROLLED, b"acme/s2", True)]),
    ]


def test_a_template_after_a_tombstone_of_the_batch_keeps_its_place_behind_it() -> None:
    # A withdrawal, a new grant and an enrollment of the same subject in one batch: the template
    # sent before the tombstone would be erased by it.
    tombstone, template = Output(ENROLLED, b"acme/s1", None), Output(ENROLLED, b"acme/s1", b"code")
    audit = Output(AUDIT, b"a-1", b"r", 0)
    assert steps(tombstone, audit, template) == [
        ("effects", []),
        ("audit", [(AUDIT, b"a-1", False)]),
        ("enrolled", [(ENROLLED, b"acme/s1", True), (ENROLLED, b"acme/s1", False)]),
    ]
