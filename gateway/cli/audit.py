"""`facegate audit ...`: what regulators run against the audit stream, read-only.

Roles (docs/cli.md): export, verify, tail and report need only the regulator's ACLs (read the
audit topic, consumer groups named `<principal>-...`); pubkey reads the keyring and reconcile
reads faces.raw, so both are the platform operator's, run with the gateway's principal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from aiokafka import AIOKafkaConsumer
from rich.console import Console
from rich.table import Table

from gateway.cli.access import Role, kafka_errors, read
from gateway.cli.console import console, errors, load_settings
from gateway.cli.output import Exit, Format, emit, exit_codes, format_option, out_option
from gateway.contract.codec import DecodeError, default_codec
from gateway.contract.models import AuditCheckpoint, AuditRecord
from gateway.contract.topics import TopicNames
from gateway.core.audit.reconcile import RawInput, reconcile
from gateway.core.audit.report import build_report, to_html, to_json, to_markdown
from gateway.core.audit.signing import load_public_keys, public_pem
from gateway.core.audit.verify import LogEntry, verify_audit_log
from gateway.files.exports import read_export, write_export
from gateway.kafka.connection import aiokafka_config
from gateway.keyring import Keyring, KeyringError
from gateway.settings import Settings

app = typer.Typer(
    help="Regulators' tools: export, verify, follow and report the audit stream (reconcile and pubkey: "
    "the platform operator's).",
    no_args_is_help=True,
)

OutTable = Annotated[str, format_option([Format.TABLE, Format.JSON], Format.TABLE)]


def _entries_from_topic(settings: Settings, command: str) -> list[LogEntry]:
    records = read(settings, TopicNames(settings.topic_prefix).audit, command, Role.REGULATOR)
    return [LogEntry(r.partition, r.offset, r.value or b"") for r in records]


@app.command(epilog=exit_codes(None) + " Role: gateway (platform operator), who hands the PEM to regulators.")
def pubkey(
    out: Annotated[Path | None, typer.Option(help="Write the PEM here instead of printing it.")] = None,
) -> None:
    """Export the audit signing public key(s), for regulators to verify checkpoints with (reads the keyring)."""
    settings = load_settings()
    try:
        keyring = Keyring.from_environment() or Keyring.development_keyring(settings.cache_dir / "development-keyring")
    except KeyringError as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(Exit.USAGE) from None
    pem = b"".join(public_pem(key) for key in keyring.signing_keys())
    if out is None:
        typer.echo(pem.decode(), nl=False)
    else:
        out.write_bytes(pem)
        console.print(f"audit public key(s) written to {out}")


@app.command(epilog=exit_codes(None) + " Role: regulator.")
def export(out: Annotated[Path, typer.Option(help="File to write (JSON lines).", dir_okay=False)]) -> None:
    """Copy the whole audit topic to a file that can be verified offline."""
    settings = load_settings()
    count = write_export(_entries_from_topic(settings, "audit export"), out)
    console.print(f"{count} audit records exported to {out}")


@app.command(
    epilog=exit_codes("tampering, or with --strict records not yet covered by a signed checkpoint")
    + " Role: regulator (or offline, with --file)."
)
def verify(
    pubkey_file: Annotated[
        list[Path], typer.Option("--pubkey", help="PEM file(s) from `facegate audit pubkey`.", exists=True)
    ],
    file: Annotated[
        Path | None, typer.Option(help="Verify an exported file instead of the topic.", exists=True)
    ] = None,
    strict: Annotated[
        bool, typer.Option(help="Also fail when records are not yet covered by a signed checkpoint.")
    ] = False,
    format: OutTable = Format.TABLE,
    out: Annotated[Path | None, out_option("the report")] = None,
) -> None:
    """Check every partition's chain, signatures and sequence; exit 1 on tampering."""
    keys = load_public_keys([p.read_bytes() for p in pubkey_file])
    try:
        entries = list(read_export(file)) if file else _entries_from_topic(load_settings(), "audit verify")
    except ValueError as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(Exit.USAGE) from None
    report = verify_audit_log(entries, default_codec(), keys)
    parts = sorted(report.partitions.values(), key=lambda p: p.partition)
    failed = report.tampered or (strict and report.uncovered > 0)
    data = {
        "verified": not failed,
        "tampered": report.tampered,
        "duplicates": report.duplicates,
        "uncovered": report.uncovered,
        "problems": report.problems,
        "partitions": [
            {"partition": p.partition, "records": p.records, "distinct": p.distinct_audit_ids,
             "duplicates": p.duplicates, "checkpoints": p.checkpoints, "covered_seq": p.covered_seq,
             "uncovered": p.uncovered, "problems": p.problems}
            for p in parts
        ],
    }  # fmt: skip

    def tables() -> list[Table | str]:
        table = Table(
            "partition", "records", "distinct", "duplicates", "checkpoints", "signed up to seq", "not yet covered",
            "problems",
        )  # fmt: skip
        for part in parts:
            table.add_row(
                str(part.partition), str(part.records), str(part.distinct_audit_ids), str(part.duplicates),
                str(part.checkpoints), str(part.covered_seq), str(part.uncovered), str(len(part.problems)),
            )  # fmt: skip
        shown: list[Table | str] = [table]
        if report.duplicates:
            shown.append(
                f"{report.duplicates} duplicate record(s): an audit id written again by at-least-once "
                "reprocessing, not tampering"
            )
        if report.uncovered and not report.tampered:
            shown.append(
                f"[yellow]{report.uncovered} record(s) after the last signed checkpoint are not yet covered[/yellow]"
            )
        if not failed:
            shown.append("[green]audit stream verified[/green]")
        return shown

    emit(format, data, tables, out)
    for problem in report.problems:
        errors.print(f"[red]TAMPERED[/red] {problem}")
    if failed:
        raise typer.Exit(Exit.FINDING)


def _default_group(settings: Settings) -> str:
    # The regulator role's ACLs allow consumer groups named after its principal: `<user>-...`.
    owner = settings.sasl_username or "facegate-regulator"
    return f"{owner}-audit-tail-{uuid.uuid4().hex[:8]}"


def _tail_line(partition: int, offset: int, record: object) -> dict[str, object]:
    if isinstance(record, AuditRecord):
        return {
            "partition": partition, "offset": offset, "kind": "decision", "seq": record.seq,
            "recorded_at": record.recorded_at.isoformat(), "tenant_id": record.tenant_id,
            "camera_id": record.camera_id, "decision": str(record.decision), "rule_ids": list(record.rule_ids),
            "reason_codes": list(record.reason_codes),
        }  # fmt: skip
    assert isinstance(record, AuditCheckpoint)
    return {"partition": partition, "offset": offset, "kind": "checkpoint", "seq": record.seq, "key_id": record.key_id}


@app.command(epilog=exit_codes(None) + " Role: regulator.")
def tail(
    group: Annotated[
        str | None,
        typer.Option(
            help="Consumer group (default: a new one named <FACEGATE_SASL_USERNAME>-audit-tail-..., "
            "which the regulator role's ACLs allow)."
        ),
    ] = None,
    from_beginning: Annotated[bool, typer.Option(help="Start at the oldest record.")] = False,
    count: Annotated[int | None, typer.Option(help="Stop after this many records.")] = None,
    format: OutTable = Format.TABLE,
    out: Annotated[Path | None, out_option("the lines (appended)")] = None,
) -> None:
    """Follow the audit stream live, one line per decision (json: one JSON object per line)."""
    settings = load_settings()
    topic = TopicNames(settings.topic_prefix).audit
    codec = default_codec()
    handle = out.open("a", encoding="utf-8") if out is not None else None
    screen = Console(file=handle, width=140, color_system=None) if handle is not None else console

    def show(partition: int, offset: int, record: object) -> None:
        if format == Format.JSON:
            line = json.dumps(_tail_line(partition, offset, record))
            if handle is None:
                typer.echo(line)
            else:
                handle.write(line + "\n")
        elif isinstance(record, AuditRecord):
            rules, reasons = " ".join(record.rule_ids), " ".join(record.reason_codes)
            screen.print(
                f"p{partition} #{record.seq} {record.recorded_at:%H:%M:%S} {record.tenant_id} "
                f"{record.camera_id or '-'} {record.decision} {rules} {reasons}",
                highlight=False,
            )
        elif isinstance(record, AuditCheckpoint):
            screen.print(f"p{partition} signed head #{record.seq} key {record.key_id}", style="dim")

    async def follow() -> None:
        consumer = AIOKafkaConsumer(
            topic,
            **aiokafka_config(settings),
            group_id=group or _default_group(settings),
            auto_offset_reset="earliest" if from_beginning else "latest",
        )
        await consumer.start()
        seen = 0
        try:
            async for message in consumer:
                seen += 1
                try:
                    record = codec.decode_any(message.value or b"")
                except DecodeError as exc:
                    errors.print(f"[red]p{message.partition}@{message.offset} unreadable: {exc.code}[/red]")
                else:
                    if isinstance(record, AuditRecord | AuditCheckpoint):
                        show(message.partition, message.offset, record)
                if count is not None and seen >= count:
                    return
        finally:
            await consumer.stop()

    try:
        with contextlib.suppress(KeyboardInterrupt), kafka_errors(settings, "audit tail", Role.REGULATOR, topic):
            asyncio.run(follow())
    finally:
        if handle is not None:
            handle.close()


def _audit_records(settings: Settings, command: str) -> list[AuditRecord]:
    codec = default_codec()
    found = []
    for entry in _entries_from_topic(settings, command):
        try:
            record = codec.decode_any(entry.value)
        except DecodeError:
            continue  # `facegate audit verify` reports unreadable records
        if isinstance(record, AuditRecord):
            found.append(record)
    return found


@app.command(epilog=exit_codes(None) + " Role: regulator.")
def report(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None,
    since: Annotated[datetime | None, typer.Option(help="From this time (UTC, inclusive).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Until this time (UTC, exclusive).")] = None,
    format: Annotated[
        str, format_option([Format.MARKDOWN, Format.HTML, Format.JSON], Format.MARKDOWN, {"md": Format.MARKDOWN})
    ] = Format.MARKDOWN,
    out: Annotated[Path | None, out_option("the report")] = None,
) -> None:
    """Decisions by rule, tenant and camera, distinct subjects, a timeline, and the alerts (R15 filing)."""
    settings = load_settings()
    built = build_report(_audit_records(settings, "audit report"), tenant, _utc(since), _utc(until))
    renderers = {
        Format.HTML.value: lambda: to_html(built),
        Format.MARKDOWN.value: lambda: to_markdown(built),
        Format.JSON.value: lambda: to_json(built),
    }
    emit(format, None, list, out, renderers)


@app.command(
    "reconcile",
    epilog="Role: gateway (the platform operator). It reads faces.raw, which holds biometric captures and "
    "which only the gateway's principal may read: run as a regulator it exits 3 naming the gateway role. "
    "Regulators check the audit with `audit verify`. " + exit_codes("raw inputs without a decision"),
)
def reconcile_command(
    since: Annotated[datetime | None, typer.Option(help="Inputs from this time (UTC).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Inputs before this time (UTC).")] = None,
    format: OutTable = Format.TABLE,
    out: Annotated[Path | None, out_option("the inputs without a decision")] = None,
) -> None:
    """List raw inputs that have no audit decision (loss detection); exit 1 if any. Platform operator only."""
    settings = load_settings()
    names = TopicNames(settings.topic_prefix)
    start, end = _utc(since), _utc(until)
    low = int(start.timestamp() * 1000) if start else 0
    high = int(end.timestamp() * 1000) if end else 2**62
    raw = read(settings, names.raw, "audit reconcile", Role.GATEWAY)
    inputs = [RawInput(r.topic, r.partition, r.offset, r.value or b"") for r in raw if low <= r.timestamp < high]
    audits = [
        record
        for r in read(settings, names.audit, "audit reconcile", Role.GATEWAY)
        if isinstance(record := _decoded(r.value or b""), AuditRecord)
    ]
    checked, missing = reconcile(inputs, audits, default_codec())
    data = {
        "checked": checked,
        "missing": [{"topic": names.raw, "partition": m.partition, "offset": m.offset, "event_id": m.event_id}
                    for m in missing],
    }  # fmt: skip

    def tables() -> list[Table | str]:
        if not missing:
            return [f"all {checked} inputs have a decision"]
        table = Table("topic", "partition", "offset", "event id", title=f"{len(missing)} of {checked} inputs "
                      "have no decision")  # fmt: skip
        for item in missing[:50]:
            table.add_row(names.raw, str(item.partition), str(item.offset), item.event_id)
        return [table] + ([f"... and {len(missing) - 50} more (--format json lists all)"] if len(missing) > 50 else [])

    emit(format, data, tables, out)
    if missing:
        errors.print(f"{len(missing)} of {checked} inputs have no decision")
        raise typer.Exit(Exit.FINDING)


def _decoded(value: bytes) -> object:
    try:
        return default_codec().decode_any(value)
    except DecodeError:
        return None


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
