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
    """What the tenant sees on its governed and erasure topics."""
    return pseudonym(key, version, tenant_id, subject_id, "tenant")


def regulator_pseudonym(key: bytes, version: int, tenant_id: str, subject_id: str) -> str:
    """What the audit stream carries: counts distinct subjects without naming them."""
    return pseudonym(key, version, tenant_id, subject_id, "regulator")
