"""`facegate audit ...`: what regulators run against the audit stream, read-only.

Roles (docs/cli.md): export, verify, prove, tail and report need only the regulator's ACLs (read
the audit topic, consumer groups named `<principal>-...`); keyset and pubkey read the keyring and
reconcile reads faces.raw, so those are the platform operator's, run with the gateway's principal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from aiokafka import AIOKafkaConsumer
from rich.console import Console
from rich.table import Table

from gateway.cli.access import Role, kafka_errors, read, run
from gateway.cli.console import console, errors, load_settings, plain
from gateway.cli.output import Exit, Format, emit, exit_codes, format_option, out_option
from gateway.contract.codec import Codec, DecodeError, default_codec
from gateway.contract.models import AuditCheckpoint, AuditRecord
from gateway.contract.topics import TopicNames
from gateway.core.audit import note
from gateway.core.audit.anchors import Anchors
from gateway.core.audit.keyset import KeySet, check_receipt
from gateway.core.audit.legacy import audit_writer_schemas
from gateway.core.audit.note import NoteError, Receipt, raw_public
from gateway.core.audit.prove import prove as prove_event
from gateway.core.audit.reconcile import RawInput, reconcile
from gateway.core.audit.report import build_report, to_html, to_json, to_markdown, verification_of
from gateway.core.audit.signing import load_public_keys, public_pem
from gateway.core.audit.tlog import Finding
from gateway.core.audit.verify import LogEntry, VerifyReport, verify_audit_log
from gateway.files.exports import export_header, read_export, read_export_header, write_export
from gateway.kafka.connection import aiokafka_config
from gateway.kafka.reading import offset_range
from gateway.keyring import Keyring, KeyringError
from gateway.settings import Environment, Settings

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
    keyring = _keyring(load_settings())
    pem = b"".join(public_pem(key) for key in keyring.signing_keys())
    if out is None:
        typer.echo(pem.decode(), nl=False)
    else:
        out.write_bytes(pem)
        console.print(f"audit public key(s) written to {out}")


def _keyring(settings: Settings) -> Keyring:
    """The keyring whose signing keys regulators are given. In production only the configured one,
    with its own signing key: a development keyring's key, handed over, would let whoever holds
    its file on this host sign checkpoints the regulators accept."""
    try:
        keyring = Keyring.from_environment()
        if settings.env is not Environment.PRODUCTION:
            return keyring or Keyring.development_keyring(settings.cache_dir / "development-keyring")
    except KeyringError as exc:
        errors.print(f"[red]{plain(exc)}[/red]")
        raise typer.Exit(Exit.USAGE) from None
    missing = ["a keyring (FACEGATE_KEYRING_FILE or FACEGATE_KEYRING)"] if keyring is None else [
        m for m in keyring.missing_for_production([]) if "regulator_pseudonym" not in m
    ]  # fmt: skip
    if missing:
        errors.print(f"[red]production: refused; missing: {'; '.join(missing)}[/red]")
        raise typer.Exit(Exit.USAGE)
    assert keyring is not None
    return keyring


@app.command(epilog=exit_codes(None) + " Role: gateway (platform operator), who hands the key set to regulators.")
def keyset(out: Annotated[Path | None, out_option("the key set")] = None) -> None:
    """The audit signing keys as the key set regulators verify with (docs/audit-format.md §7): each key
    with its validity (from its activation to its planned end) and revocation, read from the keyring."""
    settings = load_settings()
    lifetimes = [(raw_public(k), start, until, revoked) for k, start, until, revoked in
                 _keyring(settings).signing_lifetimes()]  # fmt: skip
    emit(Format.JSON, json.loads(KeySet.of(settings.audit_log_name, lifetimes).dump()), list, out)


@app.command(epilog=exit_codes(None) + " Role: anyone (it reads the repository's schemas).")
def schemas(out: Annotated[Path | None, out_option("the schemas (JSON)")] = None) -> None:
    """The AuditRecord and AuditCheckpoint writer schemas of every release, composed, with their fingerprints:
    what an independent verifier decodes records with (the Go verifier's -schemas)."""
    emit(Format.JSON, {"schemas": audit_writer_schemas()}, list, out)


@app.command(epilog=exit_codes(None) + " Role: regulator.")
def export(out: Annotated[Path, typer.Option(help="File to write (JSON lines).", dir_okay=False)]) -> None:
    """Copy the whole audit topic to a file that can be verified offline, with a header holding the
    partition count and each partition's log-start and end offsets."""
    settings = load_settings()
    topic = TopicNames(settings.topic_prefix).audit
    starts, ends = run(settings, "audit export", Role.REGULATOR, topic,
                       lambda: offset_range(aiokafka_config(settings), topic))  # fmt: skip
    header = export_header(topic, starts, ends, note.format_time(datetime.now(UTC)))
    count = write_export(_entries_from_topic(settings, "audit export"), out, header)
    console.print(f"{count} audit records exported to {out}")


def _duration(text: str | None) -> timedelta | None:
    if text is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        return timedelta(seconds=float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text))
    except (ValueError, IndexError):
        errors.print(f"[red]--max-age {text!r}: a duration such as 90s, 3m, 2h or 1d[/red]")
        raise typer.Exit(Exit.USAGE) from None


def _load_keys(settings: Settings, keyset_file: Path | None, pubkey_file: list[Path] | None) -> KeySet:
    """The key set file, or (0.1.0 style) PEM public keys, valid from 1970 for ever."""
    try:
        if keyset_file is not None:
            return KeySet.load(keyset_file.read_text())
        if pubkey_file:
            keys = load_public_keys([p.read_bytes() for p in pubkey_file])
            return KeySet.of(settings.audit_log_name, [(raw_public(k), None, None, None) for k in keys.values()])
    except (NoteError, ValueError) as exc:
        errors.print(f"[red]{plain(exc)}[/red]")
        raise typer.Exit(Exit.USAGE) from None
    errors.print("[red]give the key set (--keyset, from `facegate audit keyset`) or --pubkey PEM files[/red]")
    raise typer.Exit(Exit.USAGE)


@app.command(
    epilog=exit_codes(
        "a finding (tampering, a missing partition, a rewind, a stale log, a key outside its lifetime), or with "
        "--strict records not yet covered by a signed checkpoint"
    )
    + " Role: regulator (or offline, with --file)."
)
def verify(
    keyset_file: Annotated[
        Path | None, typer.Option("--keyset", help="The key set from `facegate audit keyset`.", exists=True)
    ] = None,
    pubkey_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--pubkey", help="PEM file(s) from `facegate audit pubkey` (keys without lifetimes).", exists=True
        ),
    ] = None,
    file: Annotated[
        Path | None, typer.Option(help="Verify an exported file instead of the topic.", exists=True)
    ] = None,
    anchor: Annotated[
        Path | None,
        typer.Option(
            help="The checkpoints kept from the last verification: today's log must be consistent with them "
            "(a rewind or a fork is a finding); the file is created, and rewritten with today's once verified.",
            dir_okay=False,
        ),
    ] = None,
    max_age: Annotated[
        str | None, typer.Option(help="A finding if the newest completeness note is older than this (90s, 3m, 1d).")
    ] = None,
    receipt: Annotated[
        Path | None, typer.Option(help="Check this receipt (`facegate audit prove`) offline, instead of a log.")
    ] = None,
    strict: Annotated[
        bool, typer.Option(help="Also fail when records are not yet covered by a signed checkpoint.")
    ] = False,
    format: OutTable = Format.TABLE,
    out: Annotated[Path | None, out_option("the report")] = None,
) -> None:
    """Check every partition's tree, checkpoints, chain and sequence, and the completeness notes; exit 1 on
    a finding."""
    settings = load_settings()
    keys = _load_keys(settings, keyset_file, pubkey_file)
    if receipt is not None:
        _verify_receipt(receipt, keys)
        return
    now = datetime.now(UTC)
    kept: Anchors | None = None
    kept_findings: list[Finding] = []
    if anchor is not None and anchor.is_file():
        kept, kept_findings = Anchors.load(anchor.read_text(), keys)
    try:
        entries = list(read_export(file)) if file else _entries_from_topic(settings, "audit verify")
    except ValueError as exc:
        errors.print(f"[red]{plain(exc)}[/red]")
        raise typer.Exit(Exit.USAGE) from None
    header = read_export_header(file) if file else None
    report = verify_audit_log(entries, default_codec(), keys, kept, now, _duration(max_age))
    report.findings[:0] = kept_findings
    parts = sorted(report.partitions.values(), key=lambda p: p.partition)
    failed = report.tampered or (strict and report.uncovered > 0)
    newest_at = report.newest_signed_at
    data = {
        "verified": not failed,
        "tampered": report.tampered,
        "duplicates": report.duplicates,
        "uncovered": report.uncovered,
        "newest_signed_at": note.format_time(newest_at) if newest_at else None,
        "newest_age_seconds": round((now - newest_at).total_seconds(), 3) if newest_at else None,
        "completeness": _completeness_json(report),
        "findings": [{"where": where, "code": str(f.code), "detail": f.detail} for where, f in report.all_findings],
        "problems": report.problems,
        "export": header,
        "partitions": [
            {"partition": p.partition, "records": p.records, "distinct": p.distinct_audit_ids,
             "duplicates": p.duplicates, "checkpoints": p.checkpoints, "covered_seq": p.covered_seq,
             "uncovered": p.uncovered, "pruned": p.pruned, "unverified": p.unverified,
             "size": p.newest.checkpoint.size if p.newest else None,
             "signed_at": note.format_time(p.newest.checkpoint.time) if p.newest else None,
             "key_id": f"{p.newest.key_id:08x}" if p.newest else None, "problems": p.problems}
            for p in parts
        ],
    }  # fmt: skip

    def tables() -> list[Table | str]:
        table = Table(
            "partition", "records", "distinct", "duplicates", "checkpoints", "signed size", "signed at", "key",
            "pruned", "not yet covered", "problems",
        )  # fmt: skip
        for part in parts:
            newest = part.newest
            table.add_row(
                str(part.partition), str(part.records), str(part.distinct_audit_ids), str(part.duplicates),
                str(part.checkpoints), str(newest.checkpoint.size) if newest else "-",
                note.format_time(newest.checkpoint.time) if newest else "-",
                f"{newest.key_id:08x}" if newest else "-", str(part.pruned), str(part.uncovered),
                str(len(part.problems)),
            )  # fmt: skip
        shown: list[Table | str] = [table]
        if newest_at is not None:
            shown.append(
                f"newest signature {note.format_time(newest_at)}, {(now - newest_at).total_seconds():.0f} s ago"
            )
        for where, finding in report.all_findings:
            if not finding.is_error:
                shown.append(f"{where}: {finding.code}: {plain(finding.detail)}")
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
        errors.print(f"[red]TAMPERED[/red] {plain(problem)}", highlight=False)
    if anchor is not None and not failed:  # a run with any finding (or a --strict failure) keeps the file as it was
        anchor.write_text(report.kept(keys.log, kept).dump())
        errors.print(f"checkpoints kept in {anchor} for the next verification", highlight=False)
    if failed:
        raise typer.Exit(Exit.FINDING)


def _completeness_json(report: VerifyReport) -> dict[str, object] | None:
    c = report.completeness
    if c is None:
        return None
    return {"time": note.format_time(c.time), "partitions": len(c.heads),
            "key_id": f"{report.completeness_key:08x}" if report.completeness_key is not None else None}  # fmt: skip


def _verify_receipt(path: Path, keys: KeySet) -> None:
    try:
        parsed = Receipt.from_json(path.read_text())
    except NoteError as exc:
        errors.print(f"[red]TAMPERED[/red] malformed: {plain(exc)}", highlight=False)
        raise typer.Exit(Exit.FINDING) from None
    findings = [f for f in check_receipt(parsed, keys) if f.is_error]
    for finding in findings:
        errors.print(f"[red]TAMPERED[/red] {finding.code}: {plain(finding.detail)}", highlight=False)
    if findings:
        raise typer.Exit(Exit.FINDING)
    console.print(f"[green]receipt verified[/green]: {plain(parsed.event_id)} is leaf {parsed.leaf_index} of partition "
                  f"{parsed.partition}", highlight=False)  # fmt: skip


@app.command(epilog=exit_codes("the event is not in a signed checkpoint (yet)") + " Role: regulator.")
def prove(
    event_id: Annotated[str, typer.Argument(help="The event whose decision to prove.")],
    out: Annotated[Path | None, out_option("the receipt (JSON)")] = None,
    file: Annotated[Path | None, typer.Option(help="From an exported file instead of the topic.", exists=True)] = None,
) -> None:
    """An offline-checkable receipt (docs/audit-format.md §8): the decision's audit record, its inclusion
    proof and the signed checkpoint; `facegate audit verify --receipt` and the Go verifier check it."""
    settings = load_settings()
    try:
        entries = list(read_export(file)) if file else _entries_from_topic(settings, "audit prove")
    except ValueError as exc:
        errors.print(f"[red]{plain(exc)}[/red]")
        raise typer.Exit(Exit.USAGE) from None
    codec = default_codec()
    made = prove_event(entries, codec, settings.audit_log_name, event_id)
    if made is None:
        if not any(_decision_of(codec, e.value, event_id) for e in entries):
            errors.print(f"no decision of {plain(event_id)} in the audit log", highlight=False)
        else:
            errors.print(f"no signed checkpoint covers the decision of {plain(event_id)} yet (or the log does not "
                         "give its checkpoint: `facegate audit verify` says why)", highlight=False)  # fmt: skip
        raise typer.Exit(Exit.FINDING)
    emit(Format.JSON, json.loads(made.to_json()), list, out)


def _decision_of(codec: Codec, value: bytes, event_id: str) -> bool:
    """Whether `value` is an audit record of `event_id`'s decision."""
    try:
        record = codec.decode_any(value)
    except DecodeError:
        return False
    return isinstance(record, AuditRecord) and record.event_id == event_id


def _default_group(settings: Settings) -> str:
    # The regulator role's ACLs allow consumer groups named after its principal: `<user>-...`.
    owner = settings.sasl_username or "facegate-regulator"
    return f"{owner}-audit-tail-{uuid.uuid4().hex[:8]}"


def _tail_line(partition: int, offset: int, record: object) -> dict[str, object]:
    if isinstance(record, AuditRecord):
        return {
            "partition": partition, "offset": offset, "kind": "decision", "seq": record.seq,
            "event_id": record.event_id, "recorded_at": record.recorded_at.isoformat(), "tenant_id": record.tenant_id,
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
                f"p{partition} #{record.seq} {record.recorded_at:%H:%M:%S} {plain(record.tenant_id)} "
                f"{plain(record.camera_id or '-')} {record.decision} {plain(rules)} {plain(reasons)}",
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


def _decoded_records(entries: list[LogEntry]) -> list[AuditRecord]:
    codec = default_codec()
    found = []
    for entry in entries:
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
    keyset_file: Annotated[
        Path | None,
        typer.Option(
            "--keyset", help="Verify the log with this key set first: the report opens with the result.", exists=True
        ),
    ] = None,
    format: Annotated[
        str, format_option([Format.MARKDOWN, Format.HTML, Format.JSON], Format.MARKDOWN, {"md": Format.MARKDOWN})
    ] = Format.MARKDOWN,
    out: Annotated[Path | None, out_option("the report")] = None,
) -> None:
    """Verification status, decisions by rule, tenant and camera, distinct subjects, a timeline, and the
    alerts (R15 filing)."""
    settings = load_settings()
    entries = _entries_from_topic(settings, "audit report")
    built = build_report(_decoded_records(entries), tenant, _utc(since), _utc(until))
    if keyset_file is not None:
        keys = _load_keys(settings, keyset_file, None)
        checked = verify_audit_log(entries, default_codec(), keys, now=datetime.now(UTC))
        built.verification = verification_of(checked)
    renderers = {
        Format.HTML.value: lambda: to_html(built),
        Format.MARKDOWN.value: lambda: to_markdown(built),
    }
    emit(format, json.loads(to_json(built)), list, out, renderers)


@app.command(
    "reconcile",
    epilog="Role: gateway (the platform operator). It reads the capture topics, which hold biometric captures and "
    "only the gateway's principal may read: run as a regulator it exits 3 naming the gateway role. "
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
    if not settings.vendors:
        errors.print("[red]no vendor is configured (FACEGATE_VENDORS): there is no capture topic to reconcile[/red]")
        raise typer.Exit(Exit.USAGE)
    topics = [names.captures(vendor) for vendor in settings.vendors]
    raw = [r for topic in topics for r in read(settings, topic, "audit reconcile", Role.GATEWAY)]
    inputs = [RawInput(r.topic, r.partition, r.offset, r.value or b"") for r in raw if low <= r.timestamp < high]
    audits = [
        record
        for r in read(settings, names.audit, "audit reconcile", Role.GATEWAY)
        if isinstance(record := _decoded(r.value or b""), AuditRecord)
    ]
    checked, missing = reconcile(inputs, audits, default_codec())
    data = {
        "checked": checked,
        "missing": [{"topic": m.topic, "partition": m.partition, "offset": m.offset, "event_id": m.event_id}
                    for m in missing],
    }  # fmt: skip

    def tables() -> list[Table | str]:
        if not missing:
            return [f"all {checked} inputs have a decision"]
        table = Table("topic", "partition", "offset", "event id", title=f"{len(missing)} of {checked} inputs "
                      "have no decision")  # fmt: skip
        for item in missing[:50]:
            table.add_row(plain(item.topic), str(item.partition), str(item.offset), plain(item.event_id))
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
