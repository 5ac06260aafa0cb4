"""`facegate audit ...`: what regulators run against the audit stream, read-only."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from aiokafka import AIOKafkaConsumer
from rich.table import Table

from gateway.cli.console import console, errors, load_settings
from gateway.contract.codec import DecodeError, default_codec
from gateway.contract.models import AuditCheckpoint, AuditRecord
from gateway.contract.topics import TopicNames
from gateway.core.audit.reconcile import RawInput, reconcile
from gateway.core.audit.report import build_report, to_html, to_json, to_markdown
from gateway.core.audit.signing import load_public_keys, public_pem
from gateway.core.audit.verify import LogEntry, verify_audit_log
from gateway.files.exports import read_export, write_export
from gateway.kafka.connection import aiokafka_config
from gateway.kafka.reading import read_topic
from gateway.keyring import Keyring, KeyringError
from gateway.settings import Settings

app = typer.Typer(help="Regulators' tools: export, verify, follow and report the audit stream.", no_args_is_help=True)


def _entries_from_topic(settings: Settings) -> list[LogEntry]:
    records = asyncio.run(read_topic(aiokafka_config(settings), TopicNames(settings.topic_prefix).audit))
    return [LogEntry(r.partition, r.offset, r.value or b"") for r in records]


@app.command()
def pubkey(
    out: Annotated[Path | None, typer.Option(help="Write the PEM here instead of printing it.")] = None,
) -> None:
    """Export the audit signing public key(s), for regulators to verify checkpoints with."""
    settings = load_settings()
    try:
        keyring = Keyring.from_environment() or Keyring.development_keyring(settings.cache_dir / "development-keyring")
    except KeyringError as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    pem = b"".join(public_pem(key) for key in keyring.signing_keys())
    if out is None:
        typer.echo(pem.decode(), nl=False)
    else:
        out.write_bytes(pem)
        console.print(f"audit public key(s) written to {out}")


@app.command()
def export(out: Annotated[Path, typer.Option(help="File to write (JSON lines).", dir_okay=False)]) -> None:
    """Copy the whole audit topic to a file that can be verified offline."""
    settings = load_settings()
    count = write_export(_entries_from_topic(settings), out)
    console.print(f"{count} audit records exported to {out}")


@app.command()
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
) -> None:
    """Check every partition's chain, signatures and sequence; exit 1 on tampering."""
    keys = load_public_keys([p.read_bytes() for p in pubkey_file])
    try:
        entries = list(read_export(file)) if file else _entries_from_topic(load_settings())
    except ValueError as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    report = verify_audit_log(entries, default_codec(), keys)
    table = Table(
        "partition",
        "records",
        "distinct",
        "duplicates",
        "checkpoints",
        "signed up to seq",
        "not yet covered",
        "problems",
    )
    for part in sorted(report.partitions.values(), key=lambda p: p.partition):
        table.add_row(
            str(part.partition), str(part.records), str(part.distinct_audit_ids), str(part.duplicates),
            str(part.checkpoints), str(part.covered_seq), str(part.uncovered), str(len(part.problems)),
        )  # fmt: skip
    console.print(table)
    if report.duplicates:
        console.print(
            f"{report.duplicates} duplicate record(s): an audit id written again by at-least-once "
            "reprocessing, not tampering"
        )
    for problem in report.problems:
        errors.print(f"[red]TAMPERED[/red] {problem}")
    if report.tampered:
        raise typer.Exit(1)
    if report.uncovered:
        console.print(
            f"[yellow]{report.uncovered} record(s) after the last signed checkpoint are not yet covered[/yellow]"
        )
        if strict:
            raise typer.Exit(1)
    console.print("[green]audit stream verified[/green]")


@app.command()
def tail(
    group: Annotated[str | None, typer.Option(help="Consumer group (default: a new read-only one).")] = None,
    from_beginning: Annotated[bool, typer.Option(help="Start at the oldest record.")] = False,
    count: Annotated[int | None, typer.Option(help="Stop after this many records.")] = None,
) -> None:
    """Follow the audit stream live, one line per decision."""
    settings = load_settings()
    topic = TopicNames(settings.topic_prefix).audit
    codec = default_codec()

    async def follow() -> None:
        consumer = AIOKafkaConsumer(
            topic,
            **aiokafka_config(settings),
            group_id=group or f"facegate-regulator-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest" if from_beginning else "latest",
        )
        await consumer.start()
        seen = 0
        try:
            async for message in consumer:
                try:
                    record = codec.decode_any(message.value or b"")
                except DecodeError as exc:
                    console.print(f"[red]p{message.partition}@{message.offset} unreadable: {exc.code}[/red]")
                    continue
                if isinstance(record, AuditRecord):
                    rules, reasons = " ".join(record.rule_ids), " ".join(record.reason_codes)
                    console.print(
                        f"p{message.partition} #{record.seq} {record.recorded_at:%H:%M:%S} {record.tenant_id} "
                        f"{record.camera_id or '-'} {record.decision} {rules} {reasons}",
                        highlight=False,
                    )
                elif isinstance(record, AuditCheckpoint):
                    console.print(f"p{message.partition} signed head #{record.seq} key {record.key_id}", style="dim")
                seen += 1
                if count is not None and seen >= count:
                    return
        finally:
            await consumer.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(follow())


def _audit_records(settings: Settings) -> list[AuditRecord]:
    codec = default_codec()
    found = []
    for entry in _entries_from_topic(settings):
        try:
            record = codec.decode_any(entry.value)
        except DecodeError:
            continue  # `facegate audit verify` reports unreadable records
        if isinstance(record, AuditRecord):
            found.append(record)
    return found


class Format(StrEnum):
    HTML = "html"
    MD = "md"
    JSON = "json"


@app.command()
def report(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None,
    since: Annotated[datetime | None, typer.Option(help="From this time (UTC, inclusive).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Until this time (UTC, exclusive).")] = None,
    format: Annotated[Format, typer.Option("--format", help="html, md or json.")] = Format.MD,
    out: Annotated[Path | None, typer.Option(help="Write here instead of printing.")] = None,
) -> None:
    """Decisions by rule, tenant and camera, distinct subjects, a timeline, and the alerts (R15 filing)."""
    settings = load_settings()
    built = build_report(_audit_records(settings), tenant, _utc(since), _utc(until))
    text = {Format.HTML: to_html, Format.MD: to_markdown, Format.JSON: to_json}[format](built)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"{built.records} decisions reported to {out}")


@app.command("reconcile")
def reconcile_command(
    since: Annotated[datetime | None, typer.Option(help="Inputs from this time (UTC).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Inputs before this time (UTC).")] = None,
) -> None:
    """List raw inputs that have no audit decision (loss detection); exit 1 if any."""
    settings = load_settings()
    names = TopicNames(settings.topic_prefix)
    start, end = _utc(since), _utc(until)
    low = int(start.timestamp() * 1000) if start else 0
    high = int(end.timestamp() * 1000) if end else 2**62
    raw = asyncio.run(read_topic(aiokafka_config(settings), names.raw))
    inputs = [RawInput(r.topic, r.partition, r.offset, r.value or b"") for r in raw if low <= r.timestamp < high]
    checked, missing = reconcile(inputs, _audit_records(settings), default_codec())
    for item in missing[:50]:
        errors.print(
            f"[red]no decision[/red] {names.raw} partition {item.partition} offset {item.offset} ({item.event_id})"
        )
    if missing:
        errors.print(f"{len(missing)} of {checked} inputs have no decision")
        raise typer.Exit(1)
    console.print(f"all {checked} inputs have a decision")


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
