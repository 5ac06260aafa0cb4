"""`facegate consent ...`: a tenant's operators record, withdraw and inspect consents.

Writes go to the consent topic exactly as a tenant's consent system would write them (the
gateway enforces them from there); every command is scoped to one tenant and one subject.

Roles (docs/cli.md): `grant` needs only the tenant's ACLs (write the consent topic). `show` and
`withdraw` read the tenant's consent topic, which the tenant role may only write: the platform
operator runs them for the tenant, with the gateway's principal.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gateway.cli.access import Role, read, run
from gateway.cli.console import console, errors, load_settings
from gateway.cli.output import Exit, Format, deprecated, emit, exit_codes, format_option, out_option
from gateway.contract.codec import DecodeError, default_codec
from gateway.contract.models import ConsentRecord
from gateway.contract.topics import TopicNames, check_tenant_id
from gateway.contract.vocabulary import ConsentMethod, ConsentStatus, Purpose
from gateway.core.consent import withdrawal
from gateway.core.state import consent_key
from gateway.sdk.producer import FaceGateProducer
from gateway.settings import Settings

app = typer.Typer(help="Record, withdraw and show a subject's consent (tenant-scoped).", no_args_is_help=True)

Tenant = Annotated[str, typer.Option(help="The tenant (company) the consent is given to.")]
Subject = Annotated[str, typer.Option(help="The tenant's identifier of the person.")]


def _tenant(tenant: str) -> str:
    try:
        return check_tenant_id(tenant)
    except ValueError as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(Exit.USAGE) from None


def consent_versions(
    settings: Settings, tenant: str, subject: str, command: str = "consent show"
) -> list[ConsentRecord | None]:
    """The versions of one subject's consent still on the topic, oldest first (None: deleted)."""
    key = consent_key(tenant, subject).encode()
    records = read(settings, TopicNames(settings.topic_prefix).consent(tenant), command, Role.GATEWAY)
    codec = default_codec()
    versions: list[ConsentRecord | None] = []
    for record in sorted((r for r in records if r.key == key), key=lambda r: r.offset):
        if record.value is None:
            versions.append(None)
            continue
        try:
            versions.append(codec.decode(record.value, ConsentRecord))
        except DecodeError:
            continue  # not ours to show; the gateway dead-letters it
    return versions


def _send(settings: Settings, record: ConsentRecord, command: str, role: Role) -> None:
    async def send() -> None:
        async with FaceGateProducer(settings) as producer:
            await producer.record_consent(record)

    run(settings, command, role, TopicNames(settings.topic_prefix).consent(record.tenant_id), send)


@app.command(epilog=exit_codes(None) + " Role: tenant.")
def grant(
    tenant: Tenant,
    subject: Subject,
    purpose: Annotated[list[Purpose], typer.Option(help="A purpose consented to (repeat for several).")],
    notice: Annotated[str, typer.Option(help="Version of the notice the subject was shown (R02).")],
    method: Annotated[ConsentMethod, typer.Option(help="How the consent was given.")] = ConsentMethod.ELECTRONIC,
    recipient: Annotated[
        list[str] | None, typer.Option(help="A company the subject separately agreed may receive the data (R09).")
    ] = None,
    bundled: Annotated[bool, typer.Option(help="Given together with other terms, not separately.")] = False,
    expires_in_days: Annotated[int | None, typer.Option(min=1, help="The consent (purpose) ends after this.")] = None,
    minor: Annotated[bool, typer.Option(help="The subject is a minor (R03).")] = False,
    guardian_consent: Annotated[bool, typer.Option(help="A guardian consented for the minor.")] = False,
) -> None:
    """Record a grant (or an update: the newest version binds from now on)."""
    settings = load_settings()
    now = datetime.now(UTC)
    record = ConsentRecord(
        tenant_id=_tenant(tenant), subject_id=subject, status=ConsentStatus.GRANTED, purposes=purpose,
        recipients=recipient or [], separate=not bundled, method=method, notice_version=notice, granted_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None, minor=minor,
        guardian_consent=guardian_consent,
    )  # fmt: skip
    _send(settings, record, "consent grant", Role.TENANT)
    console.print(f"consent granted: {tenant}/{subject} for {', '.join(sorted(purpose))}")


@app.command(
    epilog=exit_codes("no granted consent to withdraw")
    + " Role: gateway (platform operator, for the tenant): it reads the consent topic."
)
def withdraw(tenant: Tenant, subject: Subject) -> None:
    """Withdraw the current consent: the gateway erases the enrollment and notifies the tenant at once."""
    settings = load_settings()
    versions = consent_versions(settings, _tenant(tenant), subject, "consent withdraw")
    current = versions[-1] if versions else None
    if current is None or current.status is ConsentStatus.WITHDRAWN:
        errors.print(f"[red]no granted consent recorded for {tenant}/{subject}[/red]")
        raise typer.Exit(Exit.FINDING)
    _send(settings, withdrawal(current, datetime.now(UTC)), "consent withdraw", Role.GATEWAY)
    console.print(f"consent withdrawn: {tenant}/{subject}")


@app.command(
    epilog=exit_codes("no consent recorded for the subject")
    + " Role: gateway (platform operator, for the tenant): it reads the consent topic."
)
def show(
    tenant: Tenant,
    subject: Subject,
    format: Annotated[str, format_option([Format.TABLE, Format.JSON], Format.TABLE)] = Format.TABLE,
    out: Annotated[Path | None, out_option()] = None,
    as_json: Annotated[bool, typer.Option("--json", hidden=True, help="Deprecated: --format json.")] = False,
) -> None:
    """The consent versions on the topic for one subject, oldest first."""
    if as_json:
        deprecated("--json", "--format json")
        format = Format.JSON
    settings = load_settings()
    versions = consent_versions(settings, _tenant(tenant), subject)
    if not versions:
        errors.print(f"no consent recorded for {tenant}/{subject}")
        raise typer.Exit(Exit.FINDING)
    rows = [v.model_dump(mode="json") if v is not None else {"status": "DELETED"} for v in versions]

    def tables() -> list[Table]:
        table = Table(title=f"consent of {tenant}/{subject}")
        for column in ("status", "purposes", "recipients", "separate", "method", "notice", "granted", "expires"):
            table.add_column(column)
        for row in rows:
            table.add_row(
                row["status"], ", ".join(row.get("purposes", [])), ", ".join(row.get("recipients", [])),
                str(row.get("separate", "")), str(row.get("method", "")), str(row.get("notice_version", "")),
                str(row.get("withdrawn_at") or row.get("granted_at", "")), str(row.get("expires_at") or ""),
            )  # fmt: skip
        return [table]

    emit(format, rows, tables, out)
