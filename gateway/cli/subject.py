"""`facegate subject export`: what the gateway holds about one person (PIPL art. 45), no biometrics.

Role: gateway (the platform operator answering a data subject's request): it reads the consent,
enrolled and audit topics and derives the pseudonyms from the keyring.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import RenderableType
from rich.table import Table

from gateway.cli.access import Role, read
from gateway.cli.consent import consent_versions, current, shown
from gateway.cli.console import errors, load_settings, plain
from gateway.cli.output import Exit, Format, deprecated, emit, exit_codes, format_option, out_option
from gateway.contract.codec import default_codec
from gateway.contract.models import AuditRecord
from gateway.contract.topics import TopicNames, check_tenant_id
from gateway.core.state import consent_key, decode_enrolled
from gateway.core.subject_access import SubjectReport, subject_report
from gateway.shell.runtime import StartupError, build_runtime

app = typer.Typer(help="A data subject's right of access.", no_args_is_help=True)

WITHHELD = "names a served tenant"  # why an own id `<tenant>/<id>` gets no former pseudonym


@app.command(epilog=exit_codes(None) + " Role: gateway (platform operator).")
def export(
    tenant: Annotated[str, typer.Option(help="The tenant holding the subject's data.")],
    subject: Annotated[str, typer.Option(help="The tenant's identifier of the person.")],
    format: Annotated[str, format_option([Format.TABLE, Format.JSON], Format.TABLE)] = Format.TABLE,
    out: Annotated[Path | None, out_option()] = None,
    as_json: Annotated[bool, typer.Option("--json", hidden=True, help="Deprecated: --format json.")] = False,
) -> None:
    """Consent history, enrollment (present, model, key version) and decision counts; never a template."""
    if as_json:
        deprecated("--json", "--format json")
        format = Format.JSON
    settings = load_settings()
    try:
        check_tenant_id(tenant)
        state = build_runtime(settings).state
    except (ValueError, StartupError) as exc:
        errors.print(f"[red]{plain(exc)}[/red]")
        raise typer.Exit(Exit.USAGE) from None
    names = TopicNames(settings.topic_prefix)
    command = "subject export"
    key = consent_key(tenant, subject).encode()
    everyone = read(settings, names.enrolled, command, Role.GATEWAY)
    enrolled = [r for r in everyone if r.key == key]
    codec = default_codec()
    latest = max(enrolled, key=lambda r: r.offset).value if enrolled else None
    kept = decode_enrolled(codec, latest) if latest is not None else None
    audits = [
        a
        for r in read(settings, names.audit, command, Role.GATEWAY)
        if isinstance(a := codec.decode_any(r.value or b""), AuditRecord)
    ]
    versions = consent_versions(settings, tenant, subject, command)
    report = subject_report(
        tenant, subject, [], kept, audits,
        state.pseudonyms_held(tenant, tenant, subject),  # none for a tenant without keys (offboarded)
        state.regulator_pseudonyms(tenant, subject),
    )  # fmt: skip
    # Read as the workers read the consent topic: versions they do not hold are marked, and an
    # ignored record's body (another person's) is left out; the subject is named once, above.
    report.consent_history = [
        {k: v for k, v in shown(version).items() if k not in ("tenant_id", "subject_id")} for version in versions
    ]
    in_force = current(versions)
    # For an own id `<sender>/<id>` the former pseudonym is what this tenant, had it received
    # <sender>'s subject <id>, calls that subject: given for a served <sender>, it would confirm a
    # guess of that tenant's subject ids. Served: configured, with keys or a policy, holding
    # enrollments, or named in the audit (an offboarded tenant's decisions stay there).
    served = {
        *settings.tenants, *state.keyring.tenants, *state.policies, *(a.tenant_id for a in audits),
        *((r.key or b"").decode("utf-8", "replace").split("/", 1)[0] for r in everyone),
    }  # fmt: skip
    sender, slash, _ = subject.partition("/")
    withheld = bool(slash) and sender != tenant and sender in served  # a tenant shares with no one but others
    data = report.as_dict()
    if withheld:
        data["former_tenant_pseudonym_withheld"] = WITHHELD
    elif report.tenant_pseudonym is not None:
        report.former_tenant_pseudonym = data["former_tenant_pseudonym"] = state.former_tenant_pseudonym(
            tenant, subject
        )
    now = in_force.status.value if in_force is not None else "none"
    emit(format, data, lambda: _tables(report, tenant, subject, names, now, withheld), out)


def _tables(
    report: SubjectReport, tenant: str, subject: str, names: TopicNames, now: str, withheld: bool
) -> list[RenderableType]:
    held = report.enrollment
    table = Table(title="decisions about this person")
    table.add_column("decision")
    table.add_column("count", justify="right")
    for decision, count in report.decisions.items():
        table.add_row(decision, str(count))
    return [
        f"[bold]{tenant}/{subject}[/bold]  pseudonym on {names.governed(tenant)}: "
        + (report.tenant_pseudonym or "none (the keyring holds no pseudonym key for the tenant)")
        + (f" (up to 0.3.0: {report.former_tenant_pseudonym})" if report.former_tenant_pseudonym else "")
        + (f" (up to 0.3.0: withheld, {WITHHELD})" if withheld else ""),
        f"consent versions: {len(report.consent_history)}; current: {now}",
        "pseudonyms of earlier key versions: "
        + (", ".join(f"{p['pseudonym']} (v{p['key_version']})" for p in report.tenant_pseudonyms_held[1:]) or "none"),
        "disclosed to: "
        + (", ".join(f"{d['recipient']} at {d['at']} ({d['purpose']})" for d in report.disclosed_to) or "no one"),
        "enrollment: none held" if held is None else
        f"enrollment: protected {held.template_model} template, key version {held.key_version}, enrolled "
        f"{held.enrolled_at}; protected for: {', '.join(held.protected_for_recipients) or 'no recipient'}",
        table,
    ]  # fmt: skip
