"""`facegate keys generate|add|rotate`: production keyring documents (for a Kubernetes Secret).

Rotation adds a version and makes it current. Protection keys: new enrollments are protected
with it; templates under the old version are still searched until --revoke-after, then no
longer searched and erased (ERASED, reason KEY_REVOKED, with a notice so the tenant re-enrolls).
Pseudonym keys: new governed events carry pseudonyms of the new version (the version is their
prefix); old and new pseudonyms of one person cannot be linked by design, so a tenant that needs
continuity maps them itself from its own records. Audit signing keys: new checkpoints are signed
with the new key; export both public keys (`facegate audit pubkey`) so old checkpoints verify.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.console import console, errors
from gateway.cli.output import Exit, exit_codes, secret_file
from gateway.contract.topics import check_tenant_id
from gateway.keyring import Keyring, KeyringError

app = typer.Typer(
    help="Create keyrings. Keys live in files or Secrets, never in code, logs or topics.",
    no_args_is_help=True,
)


@app.command(epilog=exit_codes("the file exists (keys are never overwritten)") + " Role: platform operator.")
def generate(
    out: Annotated[Path, typer.Option(help="File to create (mode 0600); refuses to overwrite.", dir_okay=False)],
    tenant: Annotated[list[str], typer.Option("--tenant", "-t", help="Tenant to create keys for (repeatable).")],
) -> None:
    """Version 1 of every key: per tenant protection and pseudonym keys, the regulator and signing keys."""
    try:
        tenants = [check_tenant_id(t) for t in tenant]
    except ValueError as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(Exit.USAGE) from None
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        errors.print(f"[red]{out} exists; not overwriting keys[/red]")
        raise typer.Exit(Exit.FINDING) from None
    with os.fdopen(fd, "w") as handle:
        handle.write(Keyring.generate(tenants).export() + "\n")
    console.print(f"keyring for {', '.join(tenants)} written to {out} (mode 0600)")


def _replace(path: Path, text: str) -> None:
    """Write `text` over the keyring whole or not at all: a file of mode 0600 beside it (beside
    the file a symlink names, not the link), owned as the old one was, synced, then renamed over
    it. Written in place, the new keys sat under the old file's mode until a chmod, and a crash
    between truncating and writing lost every key."""
    target = Path(os.path.realpath(path))
    owner = target.stat()
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "w") as handle:
            if (owner.st_uid, owner.st_gid) != (os.geteuid(), os.getegid()):
                os.fchown(handle.fileno(), owner.st_uid, owner.st_gid)  # e.g. root rotating the worker's file
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(name, target)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)


@app.command(
    epilog=exit_codes("every tenant named has keys already (none replaced)")
    + " Role: platform operator. The keyring is read and replaced whole (atomically)."
)
def add(
    keyring: Annotated[
        Path, typer.Option(help="The keyring file to replace (mode 0600, its owner kept).", callback=secret_file)
    ],
    tenant: Annotated[list[str], typer.Option("--tenant", "-t", help="A tenant to add keys for (repeatable).")],
) -> None:
    """Version 1 of each new tenant's protection and pseudonym keys; existing keys are never replaced."""
    try:
        tenants = [check_tenant_id(t) for t in tenant]
        ring = Keyring.from_text(keyring.read_text())
    except (ValueError, KeyringError) as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(Exit.USAGE) from None
    new = [t for t in dict.fromkeys(tenants) if t not in ring.tenants]
    if held := [t for t in tenants if t in ring.tenants]:
        errors.print(f"[yellow]keys kept for {', '.join(held)} (rotate them with `facegate keys rotate`)[/yellow]")
    if not new:
        raise typer.Exit(Exit.FINDING)
    _replace(keyring, ring.with_tenants(new).export() + "\n")
    console.print(f"keys added for {', '.join(new)} in {keyring}")


class KeyKind(StrEnum):
    PROTECTION = "protection"
    PSEUDONYM = "pseudonym"
    AUDIT_SIGNING = "audit-signing"


@app.command(epilog=exit_codes(None) + " Role: platform operator. The keyring is read and replaced whole (atomically).")
def rotate(
    keyring: Annotated[
        Path, typer.Option(help="The keyring file to replace (mode 0600, its owner kept).", callback=secret_file)
    ],
    kind: Annotated[KeyKind, typer.Option(help="Which key to rotate.")],
    tenant: Annotated[str | None, typer.Option(help="The tenant (protection and pseudonym keys).")] = None,
    revoke_after: Annotated[
        datetime | None,
        typer.Option(
            help="Protection keys: when templates under the old version are revoked (then erased; re-enroll before). "
            "Audit signing keys: when the old version's validity ends (its valid_until in the key set)."
        ),
    ] = None,
    compromised_at: Annotated[
        datetime | None,
        typer.Option(
            help="Audit signing keys: the old version may have been exposed from this time on: the key set "
            "marks it revoked then, and any note it signed dated at or after it is a finding."
        ),
    ] = None,
) -> None:
    """Add a new current version of a key. New enrollments, pseudonyms or checkpoints use it at once."""
    try:
        ring = Keyring.from_text(keyring.read_text())
    except KeyringError as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(Exit.USAGE) from None
    cutoff = revoke_after.replace(tzinfo=revoke_after.tzinfo or UTC) if revoke_after else None
    if cutoff is not None and kind is KeyKind.PSEUDONYM:
        errors.print("[red]--revoke-after applies to protection and audit signing keys[/red]")
        raise typer.Exit(Exit.USAGE)
    if compromised_at is not None and kind is not KeyKind.AUDIT_SIGNING:
        errors.print("[red]--compromised-at applies to audit signing keys only[/red]")
        raise typer.Exit(Exit.USAGE)
    if kind is KeyKind.AUDIT_SIGNING:
        if ring.audit_signing is None:
            errors.print("[red]the keyring has no audit signing key[/red]")
            raise typer.Exit(Exit.USAGE)
        old = ring.audit_signing.current
        rotated = ring.audit_signing.rotated(cutoff)
        if compromised_at is not None:
            exposed = compromised_at.replace(tzinfo=compromised_at.tzinfo or UTC)
            rotated = rotated.model_copy(update={"compromised_at": {**rotated.compromised_at, old: exposed}})
        ring = ring.model_copy(update={"audit_signing": rotated})
    else:
        keys = ring.tenants.get(tenant or "")
        if keys is None:
            errors.print(f"[red]no keys for tenant {tenant!r} in {keyring.name} (add them: `facegate keys add`)[/red]")
            raise typer.Exit(Exit.USAGE)
        rotated = getattr(keys, kind.value).rotated(cutoff)
        ring = ring.model_copy(
            update={"tenants": {**ring.tenants, tenant: keys.model_copy(update={kind.value: rotated})}}
        )
    _replace(keyring, ring.export() + "\n")
    console.print(
        f"{kind.value} key rotated in {keyring}"
        + (f"; the old version is revoked after {cutoff.isoformat()}" if cutoff else "")
    )
