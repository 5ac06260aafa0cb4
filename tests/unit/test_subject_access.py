"""The right of access (PIPL art. 45, GDPR art. 15): what the gateway holds about one person."""

from __future__ import annotations

from gateway.contract.vocabulary import Decision
from gateway.core.subject_access import subject_report
from tests.support.lifecycle import consent, decide_share, enrolled, new_state, share_request


def test_the_report_finds_the_subject_under_every_pseudonym_held_and_names_each_recipient() -> None:
    # Review s47: after a rotation of the regulator's pseudonym key the decisions audited before it
    # were not counted, the tenant's data held under its pseudonym of before a rotation was not
    # named (an erasure notice names both), and a share was counted but its recipient not said
    # (GDPR art. 15(1)(c): the recipients to whom the data have been disclosed).
    state = enrolled(new_state())
    shared, _ = decide_share(state, share_request())
    assert shared.decision is Decision.SHARED and shared.subject_pseudonym is not None
    before_rotation = shared.model_copy(update={"subject_pseudonym": "r1-before-rotation", "audit_id": "a-" + "0" * 32})
    someone_else = shared.model_copy(update={"subject_pseudonym": "r2-someone-else", "audit_id": "a-" + "1" * 32})
    report = subject_report(
        "acme", "s1", [consent()], None, [shared, before_rotation, someone_else],
        tenant_pseudonyms=[(2, "t2-now"), (1, "t1-before")],
        regulator_pseudonyms={shared.subject_pseudonym, "r1-before-rotation"},
    )  # fmt: skip
    assert report.tenant_pseudonym == "t2-now"
    assert report.tenant_pseudonyms_held == [
        {"key_version": 2, "pseudonym": "t2-now"},
        {"key_version": 1, "pseudonym": "t1-before"},
    ]
    assert report.decisions == {"SHARED": 2}
    assert (
        report.disclosed_to
        == [{"recipient": "partner", "at": shared.recorded_at.isoformat(), "purpose": str(shared.purpose)}] * 2
    )


def test_a_decision_audited_again_after_a_crash_counts_once() -> None:
    # A batch redone after a crash may write a decision's audit record again (same audit id).
    state = enrolled(new_state())
    shared, _ = decide_share(state, share_request())
    assert shared.subject_pseudonym is not None
    report = subject_report(
        "acme", "s1", [consent()], None, [shared, shared], tenant_pseudonyms=[(1, "t1")],
        regulator_pseudonyms={shared.subject_pseudonym},
    )  # fmt: skip
    assert report.decisions == {"SHARED": 1} and len(report.disclosed_to) == 1
