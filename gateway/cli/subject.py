"""`facegate subject export`: what the gateway holds about one person (PIPL art. 45), no biometrics."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.table import Table

from gateway.cli.consent import consent_versions
from gateway.cli.console import console, errors, load_settings
from gateway.contract.codec import default_codec
from gateway.contract.models import AuditRecord
from gateway.contract.topics import TopicNames, check_tenant_id
from gateway.core.state import consent_key, decode_enrolled
from gateway.core.subject_access import subject_report
from gateway.kafka.connection import aiokafka_config
from gateway.kafka.reading import read_topic
from gateway.shell.runtime import StartupError, build_runtime

app = typer.Typer(help="A data subject's right of access.", no_args_is_help=True)


@app.command()
def export(
    tenant: Annotated[str, typer.Option(help="The tenant holding the subject's data.")],
    subject: Annotated[str, typer.Option(help="The tenant's identifier of the person.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Consent history, enrollment (present, model, key version) and decision counts; never a template."""
    settings = load_settings()
    try:
        check_tenant_id(tenant)
        state = build_runtime(settings).state
    except (ValueError, StartupError) as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    names = TopicNames(settings.topic_prefix)
    config = aiokafka_config(settings)
    key = consent_key(tenant, subject).encode()
    enrolled = [r for r in asyncio.run(read_topic(config, names.enrolled)) if r.key == key]
    codec = default_codec()
    latest = max(enrolled, key=lambda r: r.offset).value if enrolled else None
    kept = decode_enrolled(codec, latest) if latest is not None else None
    audits = [
        a
        for r in asyncio.run(read_topic(config, names.audit))
        if isinstance(a := codec.decode_any(r.value or b""), AuditRecord)
    ]
    report = subject_report(
        tenant, subject, consent_versions(settings, tenant, subject), kept, audits,
        state.tenant_pseudonym(tenant, subject), state.regulator_pseudonym(tenant, subject),
    )  # fmt: skip
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
        return
    console.print(f"[bold]{tenant}/{subject}[/bold]  pseudonym on {names.governed(tenant)}: {report.tenant_pseudonym}")
    console.print(f"consent versions: {len(report.consent_history)}; current: "
                  f"{report.consent_history[-1]['status'] if report.consent_history else 'none'}")  # fmt: skip
    held = report.enrollment
    console.print(
        "enrollment: none held" if held is None else
        f"enrollment: protected {held.template_model} template, key version {held.key_version}, enrolled "
        f"{held.enrolled_at}; protected for: {', '.join(held.protected_for_recipients) or 'no recipient'}"
    )  # fmt: skip
    table = Table(title="decisions about this person")
    table.add_column("decision")
    table.add_column("count", justify="right")
    for decision, count in report.decisions.items():
        table.add_row(decision, str(count))
    console.print(table)
