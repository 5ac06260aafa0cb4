"""Pseudonyms: keyed, one-way, stable per key version, unlinkable across scopes.

A tenant's pseudonym of a subject is HMAC-SHA256 under that tenant's pseudonym key; the
regulator-scoped pseudonym in audit records uses a separate key, so a tenant cannot join its
governed events to audit records by pseudonym, nor two tenants with each other.
The version prefix says which key made it, so pseudonyms survive a key rotation readably.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from functools import lru_cache


@lru_cache(maxsize=65_536)  # the subjects identified again and again (repeat visitors) are worked out once
def pseudonym(key: bytes, version: int, tenant_id: str, subject_id: str, scope: str) -> str:
    # JSON of the triple: unambiguous whatever characters the ids contain.
    message = json.dumps([scope, tenant_id, subject_id]).encode()
    digest = hmac.digest(key, message, hashlib.sha256).hex()  # one-shot: OpenSSL's, no HMAC object
    return f"{scope[0]}{version}-{digest[:32]}"


def tenant_pseudonym(key: bytes, version: int, tenant_id: str, subject_id: str) -> str:
    """What the tenant sees of its own subject on its governed and erasure topics. A recipient
    names a subject shared with it `<sender>/<subject>` (`shared_pseudonym`); an own subject id
    with a '/' would be named alike, so that the recipient could confirm a guess of the sender's
    subject ids by naming its own so: such ids are pseudonymised in a scope of their own, whose
    pseudonyms begin `o` (releases up to 0.3.0 named them as `former_tenant_pseudonym` does)."""
    return pseudonym(key, version, tenant_id, subject_id, "tenant" if "/" not in subject_id else "own")


def former_tenant_pseudonym(key: bytes, version: int, tenant_id: str, subject_id: str) -> str | None:
    """What releases up to 0.3.0 called an own subject whose id holds a '/' (None for any other:
    unchanged), so that the tenant can find what it holds under that name (`facegate subject export`)."""
    return pseudonym(key, version, tenant_id, subject_id, "tenant") if "/" in subject_id else None


def shared_pseudonym(key: bytes, version: int, recipient_tenant_id: str, sender_tenant_id: str, subject_id: str) -> str:
    """What a company that received a share calls the subject: its own key, the sender's subject."""
    return pseudonym(key, version, recipient_tenant_id, f"{sender_tenant_id}/{subject_id}", "tenant")


def regulator_pseudonym(key: bytes, version: int, tenant_id: str, subject_id: str) -> str:
    """What the audit stream carries: counts distinct subjects without naming them."""
    return pseudonym(key, version, tenant_id, subject_id, "regulator")
