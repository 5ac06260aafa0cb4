"""The keyring: versioned per-tenant protection and pseudonym keys, the regulator pseudonym key
and the audit signing key. Loaded from a file or an environment variable (a Kubernetes Secret
mounts either); never from code or topics. Secret values never print: every secret is a
pydantic SecretBytes, and errors name the tenant and the kind of key, not the key.

A development keyring holds only a master secret and derives any tenant's keys on demand
(HKDF), so `facegate run` works with no configuration; production refuses it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import yaml
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretBytes,
    ValidationError,
    model_validator,
)

from gateway.errors import FaceGateError

KEYRING_FILE_VARIABLE = "FACEGATE_KEYRING_FILE"
KEYRING_VARIABLE = "FACEGATE_KEYRING"
# The audit signing key may live in a Secret of its own (rotated by other people than tenant keys).
AUDIT_SIGNING_FILE_VARIABLE = "FACEGATE_AUDIT_SIGNING_FILE"
KEY_BYTES = 32


def _named(part: str | int) -> str:
    """One step of a validation error's location, as the keyring's error may print it: a field name
    or a version number; any other step is a key of the document (a tenant id, or a key a hand edit
    made into one: `{"1": old, new}`; hex and URL-safe base64 look like ids), shown by the first
    hex digits of its SHA-256 (`sha256sum` finds a tenant's), never itself."""
    if isinstance(part, int) or part in _FIELDS or part.isdigit():
        return str(part)
    return f"<{hashlib.sha256(part.encode()).hexdigest()[:6]}>"


class MissingKeyError(FaceGateError, LookupError):
    """A key the gateway needs is not in the keyring (the message names which, never a value)."""


class KeyringError(FaceGateError, ValueError):
    """A keyring document that does not validate; names the field, never quotes a value."""


def _b64(value: Any) -> Any:
    if isinstance(value, str):
        raw = base64.b64decode(value, validate=True)
        if len(raw) != KEY_BYTES:
            raise ValueError(f"keys are {KEY_BYTES} bytes, base64-encoded")
        return raw
    return value


Secret = Annotated[SecretBytes, BeforeValidator(_b64)]


def _utc(value: datetime) -> datetime:
    # A time written by hand without a zone (YAML's unquoted `2026-12-01 00:00` too) is UTC, as in
    # the records; compared with the worker's aware clock it would fail every decision that asks.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Moment = Annotated[datetime, AfterValidator(_utc)]


class Versioned(BaseModel):
    """Key versions and which one is current (new material uses it; old ones still verify/match)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    current: int = Field(ge=1)
    versions: dict[int, Secret]
    # Old protection versions: after this time their templates are revoked (not searched, erased).
    # Audit signing versions: the planned end of the version's validity (the key set's valid_until).
    revoke_after: dict[int, Moment] = Field(default_factory=dict)
    # When each version became current (audit signing: the key set's valid_from; unknown: 1970).
    activated_at: dict[int, Moment] = Field(default_factory=dict)
    # Audit signing versions that may have been exposed, from when (the key set's revoked_at).
    compromised_at: dict[int, Moment] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _current_exists(self) -> Versioned:
        if self.current not in self.versions:
            raise ValueError(f"current version {self.current} has no key")
        if self.current in self.revoke_after:
            raise ValueError(f"the current version {self.current} cannot be revoked")
        return self

    def revoked(self, version: int, at: datetime) -> bool:
        cutoff = self.revoke_after.get(version)
        return cutoff is not None and at >= cutoff

    def rotated(self, revoke_previous_after: datetime | None = None) -> Versioned:
        """A new current version; the previous one keeps working until its cutoff, if one is given."""
        new = max(self.versions) + 1
        revoke = dict(self.revoke_after)
        if revoke_previous_after is not None:
            revoke[self.current] = revoke_previous_after
        return Versioned(
            current=new,
            versions={**self.versions, new: SecretBytes(secrets.token_bytes(KEY_BYTES))},
            revoke_after=revoke,
            activated_at={**self.activated_at, new: datetime.now(UTC)},
            compromised_at=self.compromised_at,
        )

    def current_first(self) -> list[int]:
        """Every version held, the current first, then the others in order."""
        return [self.current, *sorted(set(self.versions) - {self.current})]

    def get(self, version: int | None = None) -> tuple[int, bytes]:
        chosen = self.current if version is None else version
        if chosen not in self.versions:
            raise MissingKeyError(f"key version {chosen} is not in the keyring")
        return chosen, self.versions[chosen].get_secret_value()


@lru_cache(maxsize=1024)  # a few µs each, several per decision; a production keyring derives nothing
def _development_key(master: bytes, info: str) -> bytes:
    return HKDF(hashes.SHA256(), KEY_BYTES, salt=None, info=info.encode()).derive(master)


class TenantKeys(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    protection: Versioned
    pseudonym: Versioned


def _fresh() -> Versioned:
    """Version 1 of a key, random."""
    key = SecretBytes(secrets.token_bytes(KEY_BYTES))
    return Versioned(current=1, versions={1: key}, activated_at={1: datetime.now(UTC)})


class Keyring(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    tenants: dict[str, TenantKeys] = {}
    regulator_pseudonym: Versioned | None = None
    audit_signing: Versioned | None = None  # Ed25519 private keys (raw 32 bytes)
    development_master: Secret | None = None

    @property
    def development(self) -> bool:
        return self.development_master is not None

    # -- lookups ------------------------------------------------------------------------
    def _derived(self, label: str, version: int) -> bytes:
        assert self.development_master is not None
        return _development_key(self.development_master.get_secret_value(), f"facegate-dev|{label}|{version}")

    def _tenant(self, tenant_id: str, kind: str, version: int | None) -> tuple[int, bytes]:
        keys = self.tenants.get(tenant_id)
        if keys is not None:
            versioned: Versioned = getattr(keys, kind)
            return versioned.get(version)
        if self.development:
            chosen = version or 1
            return chosen, self._derived(f"{kind}|{tenant_id}", chosen)
        raise MissingKeyError(f"no {kind} key for tenant {tenant_id!r}")

    def protection_key(self, tenant_id: str, version: int | None = None) -> tuple[int, bytes]:
        return self._tenant(tenant_id, "protection", version)

    def protection_revoked(self, tenant_id: str, version: int, at: datetime) -> bool:
        keys = self.tenants.get(tenant_id)
        return keys is not None and keys.protection.revoked(version, at)

    def protection_versions(self, tenant_id: str) -> list[int]:
        keys = self.tenants.get(tenant_id)
        return sorted(keys.protection.versions) if keys else [1]

    def pseudonym_key(self, tenant_id: str, version: int | None = None) -> tuple[int, bytes]:
        return self._tenant(tenant_id, "pseudonym", version)

    def pseudonym_versions(self, tenant_id: str) -> list[int]:
        """Every pseudonym key version held for the tenant, the current first (none: not provisioned)."""
        keys = self.tenants.get(tenant_id)
        if keys is not None:
            return keys.pseudonym.current_first()
        return [1] if self.development else []

    def regulator_key(self, version: int | None = None) -> tuple[int, bytes]:
        if self.regulator_pseudonym is not None:
            return self.regulator_pseudonym.get(version)
        if self.development and version in (None, 1):
            return 1, self._derived("regulator", 1)
        raise MissingKeyError(
            "no regulator pseudonym key" if version is None else f"no regulator pseudonym key version {version}"
        )

    def regulator_versions(self) -> list[int]:
        """Every regulator pseudonym key version held, the current first."""
        if self.regulator_pseudonym is not None:
            return self.regulator_pseudonym.current_first()
        return [1] if self.development else []

    def signing_keys(self) -> list[Ed25519PrivateKey]:
        """Every audit signing key version (old ones still verify old checkpoints)."""
        if self.audit_signing is not None:
            return [
                Ed25519PrivateKey.from_private_bytes(s.get_secret_value()) for s in self.audit_signing.versions.values()
            ]
        return [self.signing_key()[1]]

    def signing_lifetimes(self) -> list[tuple[Ed25519PublicKey, datetime | None, datetime | None, datetime | None]]:
        """Every audit signing key's public key with (valid from, valid until, revoked at) for the key set."""
        if self.audit_signing is None:
            return [(self.signing_key()[1].public_key(), None, None, None)]
        v = self.audit_signing
        return [
            (Ed25519PrivateKey.from_private_bytes(s.get_secret_value()).public_key(), v.activated_at.get(n),
             v.revoke_after.get(n), v.compromised_at.get(n))
            for n, s in sorted(v.versions.items())
        ]  # fmt: skip

    def signing_key(self, version: int | None = None) -> tuple[str, Ed25519PrivateKey]:
        """The audit signing key and its key id (derived from the public key)."""
        if self.audit_signing is not None:
            raw = self.audit_signing.get(version)[1]
        elif self.development:
            raw = self._derived("audit-signing", 1)
        else:
            raise MissingKeyError("no audit signing key")
        private = Ed25519PrivateKey.from_private_bytes(raw)
        return key_id(private), private

    def missing_for_production(self, tenants: list[str]) -> list[str]:
        """What a production start lacks, by name."""
        missing = []
        if self.development:
            missing.append("a production keyring (this one is a development keyring)")
        if self.regulator_pseudonym is None:
            missing.append("regulator_pseudonym key")
        if self.audit_signing is None:
            missing.append("audit_signing key")
        missing += [f"keys for tenant {t!r}" for t in tenants if t not in self.tenants]
        return missing

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def generate(cls, tenants: list[str]) -> Keyring:
        """A fresh production keyring with version 1 of every key."""
        return cls(regulator_pseudonym=_fresh(), audit_signing=_fresh()).with_tenants(tenants)

    def with_tenants(self, tenants: list[str]) -> Keyring:
        """This keyring with version 1 of the protection and pseudonym keys of each new tenant;
        a tenant it holds keys for already keeps them (its keys are rotated, never replaced)."""
        added = {t: TenantKeys(protection=_fresh(), pseudonym=_fresh()) for t in tenants if t not in self.tenants}
        return self.model_copy(update={"tenants": {**self.tenants, **added}})

    @classmethod
    def development_keyring(cls, path: Path) -> Keyring:
        """Load or create the development master under `path` (so pseudonyms survive restarts)."""
        if path.is_file():
            return cls(development_master=SecretBytes(base64.b64decode(path.read_text().strip())))
        master = secrets.token_bytes(KEY_BYTES)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(base64.b64encode(master).decode() + "\n")
        return cls(development_master=SecretBytes(master))

    # Errors are raised after their `except` clause, not in it: `from None` only hides the error
    # caught, which stays the new one's __context__ (pydantic's with the key as `input_value`,
    # PyYAML's with a snippet of the key's line) for any reporter that walks the chain.
    @classmethod
    def from_text(cls, text: str) -> Keyring:
        try:
            data, parsed = yaml.safe_load(text), True  # JSON is YAML too
        except yaml.YAMLError:
            parsed = False
        if not parsed:
            raise KeyringError("keyring is neither JSON nor YAML")
        return cls._from_document(data)

    @classmethod
    def _from_document(cls, data: Any) -> Keyring:
        if not isinstance(data, dict):
            raise KeyringError("keyring must be a mapping")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:  # pydantic would quote the offending (secret) input
            problems = "; ".join(
                f"{'.'.join(_named(p) for p in e['loc'])}: {e['msg']}"
                for e in exc.errors(include_input=False, include_url=False)
            )
        raise KeyringError(f"invalid keyring: {problems}")

    @classmethod
    def from_environment(cls) -> Keyring | None:
        """FACEGATE_KEYRING (the document) or FACEGATE_KEYRING_FILE (its path); None if neither.
        FACEGATE_AUDIT_SIGNING_FILE, if set, holds the `audit_signing` entry on its own."""
        text = os.environ.get(KEYRING_VARIABLE)
        path = os.environ.get(KEYRING_FILE_VARIABLE)
        if not text and path:
            text = _read_file(KEYRING_FILE_VARIABLE, path, f"the keyring itself: put that in {KEYRING_VARIABLE}")
        if not text:
            return None
        signing = os.environ.get(AUDIT_SIGNING_FILE_VARIABLE)
        if not signing:
            return cls.from_text(text)
        entry = _read_file(
            AUDIT_SIGNING_FILE_VARIABLE, signing, "the audit_signing entry itself: mount it as a file, and name that"
        )
        try:
            document = yaml.safe_load(text)
            document["audit_signing"], parsed = yaml.safe_load(entry), True
        except (yaml.YAMLError, TypeError):
            parsed = False
        if not parsed:
            raise KeyringError("keyring or audit signing file is neither JSON nor YAML")
        # Validated as parsed: YAML's unquoted times are datetimes, which JSON would not carry.
        return cls._from_document(document)

    def export(self) -> str:
        """The keyring document, secrets base64-encoded: for writing a Secret, never for logs."""

        def dump(v: Versioned | None) -> dict[str, Any] | None:
            if v is None:
                return None
            dumped: dict[str, Any] = {
                "current": v.current,
                "versions": {k: base64.b64encode(s.get_secret_value()).decode() for k, s in v.versions.items()},
            }
            for name in ("revoke_after", "activated_at", "compromised_at"):
                if getattr(v, name):
                    dumped[name] = {k: t.isoformat() for k, t in getattr(v, name).items()}
            return dumped

        document: dict[str, Any] = {
            "tenants": {
                t: {"protection": dump(k.protection), "pseudonym": dump(k.pseudonym)} for t, k in self.tenants.items()
            },
            "regulator_pseudonym": dump(self.regulator_pseudonym),
            "audit_signing": dump(self.audit_signing),
        }
        return json.dumps({k: v for k, v in document.items() if v is not None}, indent=2)


def _read_file(variable: str, value: str, document: str) -> str:
    """The text of the file `variable` names. An error names the variable and why, never its
    value: a Secret mounted as an environment variable under the _FILE name puts the document
    there, and an OSError quotes the "path" (every key of the keyring). `document` says what the
    value looks like if it is one, and where that belongs."""
    try:
        return Path(value).read_text()
    except UnicodeDecodeError:  # its message quotes a byte of the file
        why = "the file is not UTF-8 text"
    except OSError as exc:  # strerror is the system's text for the errno, without the name
        why = exc.strerror or type(exc).__name__
    except ValueError:  # a NUL character
        why = "a path holds no NUL character"
    if "\n" in value or value.lstrip().startswith("{") or len(value) > 1024:
        why += f"; it looks like {document} (its value is not shown: it may hold keys)"
    raise KeyringError(f"{variable} does not name a readable file ({why})")


def key_id(private: Ed25519PrivateKey) -> str:
    """Stable id of a signing key: the first 16 hex digits of SHA-256 of its raw public key."""
    return public_key_id(private.public_key())


def public_key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(raw)
    return digest.finalize().hex()[:16]


_FIELDS = frozenset(name for model in (Keyring, TenantKeys, Versioned) for name in model.model_fields)
