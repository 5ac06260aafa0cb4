"""Pseudonyms are stable per key, and unlinkable across tenants, scopes and key versions."""

from __future__ import annotations

from gateway.core.pseudonyms import (
    former_tenant_pseudonym,
    pseudonym,
    regulator_pseudonym,
    shared_pseudonym,
    tenant_pseudonym,
)

KEY = b"k" * 32


def test_stable_and_one_way() -> None:
    first = tenant_pseudonym(KEY, 1, "acme", "customer-0042")
    assert first == tenant_pseudonym(KEY, 1, "acme", "customer-0042")
    assert first.startswith("t1-") and len(first) == 35
    assert "0042" not in first and "acme" not in first


def test_different_scopes_tenants_keys_and_versions_do_not_link() -> None:
    names = {
        tenant_pseudonym(KEY, 1, "acme", "s"),
        tenant_pseudonym(KEY, 1, "beta", "s"),
        tenant_pseudonym(b"j" * 32, 1, "acme", "s"),
        regulator_pseudonym(KEY, 1, "acme", "s"),
    }
    assert len(names) == 4
    assert tenant_pseudonym(KEY, 2, "acme", "s")[3:] == tenant_pseudonym(KEY, 1, "acme", "s")[3:]
    # (the version is a label: rotation means a new key, which changes the digest)


def test_separator_cannot_be_forged() -> None:
    assert tenant_pseudonym(KEY, 1, "a", "b\x1fc") != tenant_pseudonym(KEY, 1, "a\x1fb", "c")


def test_a_recipient_cannot_name_its_own_subject_as_a_shared_one() -> None:
    # A recipient names a shared subject "<sender>/<subject>"; its own subject so named would get
    # the same pseudonym, and its erasure notice would confirm a guess of the sender's subject id.
    shared = shared_pseudonym(KEY, 1, "partner", "acme", "alice-0042")
    own = tenant_pseudonym(KEY, 1, "partner", "acme/alice-0042")
    assert own != shared and own.startswith("o1-") and shared.startswith("t1-"), "a prefix of its own, so it shows"
    # What 0.3.0 called it is the shared pseudonym itself: `facegate subject export` gives it only
    # when "acme" is no tenant the gateway serves or served (tests/unit/cli/test_subject_export.py).
    assert former_tenant_pseudonym(KEY, 1, "partner", "acme/alice-0042") == shared
    assert former_tenant_pseudonym(KEY, 1, "partner", "alice-0042") is None
    # Unchanged where no confusion was possible: shared subjects, and own ids without a '/'.
    assert shared == pseudonym(KEY, 1, "partner", "acme/alice-0042", "tenant")
    assert tenant_pseudonym(KEY, 1, "partner", "alice-0042") == pseudonym(KEY, 1, "partner", "alice-0042", "tenant")
