"""`facegate consent ...`: a tenant's operators record, withdraw and inspect consents.

Writes go to the consent topic exactly as a tenant's consent system would write them (the
gateway enforces them from there); every command is scoped to one tenant and, but for an
offboarding's `delete-all`, one subject.

Roles (docs/cli.md): `grant` needs only the tenant's ACLs (write the consent topic). `show`,
`withdraw` and `delete-all` (offboarding: every subject at once) read the tenant's consent topic,
which the tenant role may only write: the platform operator runs them for the tenant, with the
gateway's principal.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from gateway.cli.access import Role, read, write
from gateway.cli.console import console, errors, load_settings, plain
from gateway.cli.output import Exit, Format, deprecated, emit, exit_codes, format_option, out_option
from gateway.contract.codec import default_codec
from gateway.contract.models import ConsentRecord
from gateway.contract.topics import TopicNames, check_tenant_id
from gateway.contract.vocabulary import ConsentMethod, ConsentStatus, Purpose
from gateway.core.consent import withdrawal
from gateway.core.messages import record_key
from gateway.core.state import ConsentVersion as Version
from gateway.core.state import Standing, consent_key, judge_consent
from gateway.kafka.reading import Records
from gateway.sdk.producer import FaceGateProducer
from gateway.settings import Settings

app = typer.Typer(help="Record, withdraw and show a subject's consent (tenant-scoped).", no_args_is_help=True)

Tenant = Annotated[str, typer.Option(help="The tenant (company) the consent is given to.")]
Subject = Annotated[str, typer.Option(help="The tenant's identifier of the person.")]


def _tenant(tenant: str) -> str:
    try:
        return check_tenant_id(tenant)
    except ValueError as exc:
        errors.print(f"[red]{plain(exc)}[/red]")
        raise typer.Exit(Exit.USAGE) from None


def current(versions: list[Version]) -> ConsentRecord | None:
    """The version the workers hold as current (ConsentLedger): the latest applied one, unless a
    deletion or a void version came after it; an ignored record changes nothing."""
    held: ConsentRecord | None = None
    for version in versions:
        if version.standing is not Standing.IGNORED:
            held = version.consent if version.standing is Standing.APPLIED else None
    return held


def last_grant(versions: list[Version]) -> ConsentRecord | None:
    """The latest grant the workers applied that no withdrawal or deletion ended since; a void
    version after it does not end it (the subject's withdrawal must still reach the workers)."""
    grant: ConsentRecord | None = None
    for version in versions:
        if version.standing is Standing.DELETED:
            grant = None
        elif version.standing is Standing.APPLIED and version.consent is not None:
            grant = version.consent if version.consent.status is ConsentStatus.GRANTED else None
    return grant


def judged(settings: Settings, tenant: str, records: Records) -> Iterator[tuple[str, Version]]:
    """Each keyed record on `tenant`'s consent topic with its key, judged as the workers judge it,
    in log order (one key, one partition)."""
    skew, codec = timedelta(milliseconds=settings.clock_skew_ms), default_codec()
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        if record.key is not None:
            key = record_key(record.key)  # "" for one not UTF-8: IGNORED, as the workers judge it
            yield key, judge_consent(tenant, key, record.value, record.timestamp, skew, codec)


def by_key(settings: Settings, tenant: str, records: Records) -> dict[str, list[Version]]:
    """Every key's records on `tenant`'s consent topic, judged, in log order."""
    found: dict[str, list[Version]] = {}
    for key, version in judged(settings, tenant, records):
        found.setdefault(key, []).append(version)
    return found


def consent_versions(settings: Settings, tenant: str, subject: str, command: str = "consent show") -> list[Version]:
    """Every record on the subject's key of the tenant's consent topic, oldest first, judged."""
    records = read(settings, TopicNames(settings.topic_prefix).consent(tenant), command, Role.GATEWAY)
    key = consent_key(tenant, subject)
    return by_key(settings, tenant, [r for r in records if r.key == key.encode()]).get(key, [])


def shown(version: Version) -> dict[str, Any]:
    """A version as `show` and `subject export` give it. One the workers do not hold has the
    status DELETED, VOID or IGNORED (and a reason; a body dated ahead keeps the status it claimed as
    claimed_status); an ignored record's body (another subject's) is left out."""
    row: dict[str, Any] = {"status": version.standing.value}
    if version.consent is not None:
        row = version.consent.model_dump(mode="json")
        if version.standing is not Standing.APPLIED:
            row["claimed_status"], row["status"] = row["status"], version.standing.value
    if version.reason is not None:
        row["reason"] = version.reason.value
    return row


def _send(settings: Settings, record: ConsentRecord, command: str, role: Role) -> None:
    async def send() -> None:
        async with FaceGateProducer(settings) as producer:
            await producer.record_consent(record)

    write(settings, command, role, TopicNames(settings.topic_prefix).consent(record.tenant_id), send)


def _delete(settings: Settings, tenant: str, subject: str) -> None:
    async def send() -> None:
        async with FaceGateProducer(settings) as producer:
            await producer.delete_consent(tenant, subject)

    write(settings, "consent withdraw", Role.GATEWAY, TopicNames(settings.topic_prefix).consent(tenant), send)


def held(settings: Settings, tenant: str, records: Records) -> list[str]:
    """The subjects an enrollment may still be held for: the last record the workers did not ignore
    is a grant, or void (the grant before it may still count for the sweep); neither a withdrawal
    nor a deletion, which erased it already. Judged a record at a time, keeping one flag per key
    (a tenant may have a million subjects)."""
    last: dict[str, bool] = {}
    for key, version in judged(settings, tenant, records):
        if version.standing is not Standing.IGNORED:
            consent = version.consent
            last[key] = version.standing is Standing.VOID or (
                version.standing is Standing.APPLIED and consent is not None and consent.status is ConsentStatus.GRANTED
            )
    return sorted(key.split("/", 1)[1] for key, kept in last.items() if kept)  # judged: tenant/subject


def _delete_all(settings: Settings, tenant: str, subjects: list[str]) -> None:
    async def send() -> None:
        async with FaceGateProducer(settings) as producer:  # leaving it waits for every acknowledgement
            for subject in subjects:
                await producer.delete_consent(tenant, subject)

    write(settings, "consent delete-all", Role.GATEWAY, TopicNames(settings.topic_prefix).consent(tenant), send)


def _only_void(versions: list[Version]) -> bool:
    """Whether every record the workers did not ignore is a void version: the grant before them
    compacted away (a withdrawal or deletion read before them ended the consent already)."""
    standings = [v.standing for v in versions if v.standing is not Standing.IGNORED]
    return bool(standings) and all(s is Standing.VOID for s in standings)


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
    tenant = _tenant(tenant)
    versions = consent_versions(settings, tenant, subject, "consent withdraw")
    grant = last_grant(versions)  # what the workers applied: never a body they refuse
    if grant is None and _only_void(versions):
        # The grant was compacted away under a void version: no withdrawal can be built from it, and
        # the workers may hold the enrollment still (a void grant, too large or dated ahead, erases
        # nothing; one that does not decode did). A deletion erases it as a withdrawal does.
        errors.print(
            f"[yellow]no grant of {tenant}/{subject} can be read and its latest consent version is void: "
            "deleting the consent, which the gateway decides as a withdrawal[/yellow]"
        )
        _delete(settings, tenant, subject)
        console.print(f"consent withdrawn: {tenant}/{subject}")
        return
    if grant is None:
        errors.print(f"[red]no granted consent recorded for {tenant}/{subject}[/red]")
        raise typer.Exit(Exit.FINDING)
    if current(versions) is None:  # a void version since: no consent in force, the enrollment still held
        errors.print(
            f"[yellow]the latest consent version of {tenant}/{subject} is void: withdrawing the last grant[/yellow]"
        )
    record = withdrawal(grant, datetime.now(UTC))
    # The gateway's principal may write every tenant's topic, and the SDK picks topic and key
    # from the body: send nothing but this tenant's and subject's withdrawal, whatever was read.
    if (record.tenant_id, record.subject_id) != (tenant, subject):
        errors.print(f"[red]refused: the withdrawal built does not name {tenant}/{subject}[/red]")
        raise typer.Exit(Exit.FINDING)
    _send(settings, record, "consent withdraw", Role.GATEWAY)
    console.print(f"consent withdrawn: {tenant}/{subject}")


@app.command(
    "delete-all",
    epilog=exit_codes("no consent left to delete")
    + " Role: gateway (platform operator, for the tenant): it reads the consent topic.",
)
def delete_all(
    tenant: Tenant,
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: every enrolled subject of the tenant is erased.")
    ] = False,
) -> None:
    """Offboarding a tenant: delete every consent on its topic. The workers erase each enrollment,
    notify the tenant and the companies it shared with, and audit each erasure (ERASED, R10)."""
    settings = load_settings()
    tenant = _tenant(tenant)
    if not yes:
        errors.print(f"[red]this erases every enrolled subject of {tenant}: add --yes to go on[/red]")
        raise typer.Exit(Exit.USAGE)
    topic = TopicNames(settings.topic_prefix).consent(tenant)
    subjects = held(settings, tenant, read(settings, topic, "consent delete-all", Role.GATEWAY))
    if not subjects:
        errors.print(f"no consent of {tenant} left to delete")
        raise typer.Exit(Exit.FINDING)
    _delete_all(settings, tenant, subjects)
    console.print(f"consents deleted: {len(subjects)} subject(s) of {tenant}; the workers erase their enrollments")


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
    """The consent versions on the topic for one subject, oldest first; those the gateway does not
    hold (VOID: undecodable or dated ahead of the broker; IGNORED: naming another subject) are marked."""
    if as_json:
        deprecated("--json", "--format json")
        format = Format.JSON
    settings = load_settings()
    versions = consent_versions(settings, _tenant(tenant), subject)
    if not versions:
        errors.print(f"no consent recorded for {tenant}/{subject}")
        raise typer.Exit(Exit.FINDING)
    rows = [shown(v) for v in versions]  # versions the workers do not hold are marked, not hidden

    def tables() -> list[Table]:
        table = Table(title=f"consent of {tenant}/{subject}")
        for column in ("status", "purposes", "recipients", "separate", "method", "notice", "granted", "expires"):
            table.add_column(column)
        for row in rows:
            status = " ".join(str(row[k]) for k in ("status", "reason", "claimed_status") if k in row)
            cells = (
                status, ", ".join(row.get("purposes", [])), ", ".join(row.get("recipients", [])),
                row.get("separate", ""), row.get("method", ""), row.get("notice_version", ""),
                row.get("withdrawn_at") or row.get("granted_at", ""), row.get("expires_at") or "",
            )  # fmt: skip
            table.add_row(*(plain(cell) for cell in cells))  # the tenant's consent system wrote them
        return [table]

    emit(format, rows, tables, out)
