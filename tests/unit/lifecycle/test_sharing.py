"""Sharing (R09, R13): consent naming the recipient, an agreement with an impact assessment, an
agreed region; the recipient's pseudonym and template are unlinkable to the sender's."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import numpy as np
import pytest

from gateway.contract.models import EnrolledTemplate, SharedSubject, ShareRequest
from gateway.contract.vocabulary import Decision, Purpose
from gateway.core.biometrics.embeddings import to_bytes
from gateway.core.biometrics.evaluation import d_sys, shuffled_d_sys
from gateway.core.biometrics.protection import all_pairs_agreement
from gateway.core.biometrics.synthetic import SYNTHETIC_512, Population
from gateway.core.lifecycle.enrollment import enroll
from gateway.core.policy.tenant import SharingAgreement
from gateway.core.records import audit_id
from gateway.files.calibrations import shipped
from gateway.keyring import Keyring
from tests.support.core import CODEC, NAMES, NOW, context
from tests.support.lifecycle import (
    AGREEMENT,
    VISIT,
    consent,
    decide_share,
    enrolled,
    enrollment,
    give,
    new_state,
    on,
    policy_for,
    record,
    revoke_protection,
    share_request,
)  # fmt: skip


def test_an_allowed_share_gives_the_recipient_its_own_pseudonym_and_template() -> None:
    state = enrolled(new_state())
    audit, result = decide_share(state, share_request())
    assert audit.decision is Decision.SHARED and {"R09", "R13", "R08"} <= set(audit.rule_ids)
    assert audit.recipient_tenant_id == "partner" and audit.purpose is VISIT and audit.consent_ref
    [out] = on(result, NAMES.governed("partner"))
    shared = CODEC.decode(out.value or b"", SharedSubject)
    assert shared.sender_tenant_id == "acme" and shared.agreement_id == "AGR-7"
    assert shared.pseudonym == state.recipient_pseudonym("partner", "acme", "s1")
    assert shared.pseudonym != state.tenant_pseudonym("acme", "s1") and "s1" not in str(
        shared.model_dump(exclude={"protected_template"})
    )
    assert shared.protected_template == state.enrollments["acme/s1"].recipients["partner"].code
    assert not on(result, NAMES.governed("acme")), "nothing goes back to the sender's topic"


def test_nothing_the_recipient_receives_confirms_a_guess_of_the_senders_subject_id() -> None:
    """The recipient knows the sender, itself and perhaps the sender's request ids (often counted):
    a digest of those and the subject id would let it test guesses of the subject id offline."""
    state = enrolled(new_state())
    _, result = decide_share(state, share_request())
    [out] = on(result, NAMES.governed("partner"))
    shared = CODEC.decode(out.value or b"", SharedSubject)
    for guess in ("s1", "s2", "cust-1"):
        unkeyed = hashlib.sha256("\x1f".join(("acme", "req-1", guess, "partner")).encode()).hexdigest()[:32]
        assert shared.share_id != "s-" + unkeyed and shared.audit_id != audit_id("acme", "share:" + unkeyed)


@pytest.mark.parametrize(
    ("setup", "req", "reason", "rule"),
    [
        ({}, share_request(recipient_tenant_id="other"), "RECIPIENT_NOT_CONSENTED", "R09"),
        ({"recipients": []}, share_request(), "RECIPIENT_NOT_CONSENTED", "R09"),
        ({}, share_request(purpose=Purpose.SECURITY), "PURPOSE_NOT_CONSENTED", "R01"),
        ({"purposes": [VISIT, Purpose.SECURITY]}, share_request(purpose=Purpose.SECURITY), "NO_AGREEMENT", "R09"),
        ({}, share_request(agreement_id="AGR-other"), "NO_AGREEMENT", "R09"),
        ({}, share_request(purpose=Purpose.SALE), "PURPOSE_FORBIDDEN", "R16"),
        ({}, share_request(recipient_region="US"), "REGION_NOT_AGREED", "R13"),
        ({}, share_request(recipient_region="SG"), "NO_TRANSFER_MECHANISM", "R13"),
        ({}, share_request(recipient_tenant_id="acme"), "RECIPIENT_IS_SENDER", "R09"),
    ],
)
def test_a_share_is_blocked_naming_the_rule_it_fails(
    setup: dict[str, object], req: ShareRequest, reason: str, rule: str
) -> None:
    state = enrolled(new_state(), "s1", **setup)
    audit, result = decide_share(state, req)
    assert audit.decision is Decision.SHARE_BLOCKED and rule in audit.rule_ids and audit.reason_codes == [reason]
    assert [o.topic for o in result.outputs] == [NAMES.audit]


def test_a_consent_that_expired_after_enrollment_blocks_the_share() -> None:
    state = enrolled(new_state())
    give(state, consent(expires_at=NOW - timedelta(days=1)))
    audit, _ = decide_share(state, share_request())
    assert (
        audit.decision is Decision.SHARE_BLOCKED
        and audit.reason_codes == ["CONSENT_EXPIRED"]
        and "R11" in audit.rule_ids
    )


def test_an_agreement_needs_an_impact_assessment_where_the_pack_demands_one() -> None:
    bare = AGREEMENT.model_copy(update={"impact_assessment_reference": None})
    state = enrolled(new_state())
    state.policies["acme"] = policy_for("acme", agreements=(bare,))
    assert decide_share(state, share_request())[0].reason_codes == ["NO_IMPACT_ASSESSMENT"]
    state.policies["acme"] = policy_for("acme", pack="bipa-il", agreements=(bare,))  # BIPA 15(d): consent suffices
    assert decide_share(state, share_request())[0].decision is Decision.SHARED


def test_cross_border_needs_a_transfer_mechanism_and_separate_consent() -> None:
    abroad = SharingAgreement(
        id="AGR-7", recipient_tenant_id="partner", purposes=frozenset({VISIT}), regions=frozenset({"SG"}),
        impact_assessment_reference="PIA-2026-11", transfer_mechanism="CAC standard contract, filed 2026-02-01",
    )  # fmt: skip
    state = enrolled(new_state())
    state.policies["acme"] = policy_for("acme", agreements=(abroad,))
    assert decide_share(state, share_request(recipient_region="SG"))[0].decision is Decision.SHARED


def test_a_recipient_named_only_after_enrollment_needs_a_new_enrollment() -> None:
    state = enrolled(new_state(), recipients=[])
    give(state, consent())  # now names the partner
    assert decide_share(state, share_request())[0].reason_codes == ["RECIPIENT_TEMPLATE_MISSING"]


@pytest.mark.parametrize(("rotated", "reason"), [("partner", "RECIPIENT_TEMPLATE_MISSING"), ("acme", "KEY_REVOKED")])
def test_a_template_under_a_revoked_key_is_never_shared(rotated: str, reason: str) -> None:
    # The recipient, or the sender, rotated its protection key past a cutoff (its protected set
    # leaked, say). The sender's: the sweep erases the template, and until it comes no share uses it.
    state = new_state()
    state.keyring = Keyring.generate(["acme", "partner"])
    enrolled(state)
    assert decide_share(state, share_request())[0].decision is Decision.SHARED
    revoke_protection(state, rotated, NOW - timedelta(days=1))
    audit, result = decide_share(state, share_request(request_id="req-2"))
    assert audit.decision is Decision.SHARE_BLOCKED and audit.reason_codes == [reason]
    assert not on(result, NAMES.governed("partner"))


def test_not_enrolled_is_blocked() -> None:
    state = new_state()
    give(state, consent())
    assert decide_share(state, share_request())[0].reason_codes == ["NOT_ENROLLED"]


def test_recipient_templates_are_unlinkable_to_the_senders() -> None:
    """D_sys between the sender's and the recipient's protected templates of the same people is at
    the estimator's floor; the same measure on two captures under one key shows it can detect links."""
    people = 300
    population = Population.create(SYNTHETIC_512, people, 11)
    state = new_state()
    sender, recipient = [], []
    for person in range(people):
        subject = f"p{person}"
        give(state, consent(subject))
        s = context(state)
        template = to_bytes(population.captures([person], stream=0, noise=0.3)[0])
        enroll(
            record(NAMES.enroll("acme"), CODEC.encode(enrollment(subject).model_copy(update={"template": template}))), s
        )
        stored = CODEC.decode(on(s.result, NAMES.enrolled)[0].value or b"", EnrolledTemplate)
        sender.append(np.frombuffer(stored.code, np.uint8))
        recipient.append(np.frombuffer(stored.recipients[0].code, np.uint8))
    scheme = shipped()[SYNTHETIC_512.name].scheme
    cross = all_pairs_agreement(scheme, np.stack(sender), np.stack(recipient))
    mated, non_mated = np.diag(cross), cross[~np.eye(people, dtype=bool)]
    linkability, floor = d_sys(mated, non_mated), shuffled_d_sys(mated, non_mated)
    assert linkability < floor + 0.05, (linkability, floor)

    probes = state.protector("acme", shipped()[SYNTHETIC_512.name]).protect(
        population.captures(list(range(people)), stream=5, noise=0.3)
    )
    same_key = all_pairs_agreement(scheme, np.stack(sender), probes)
    assert d_sys(np.diag(same_key), same_key[~np.eye(people, dtype=bool)]) > 0.9
