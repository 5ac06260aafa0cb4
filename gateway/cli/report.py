"""`facegate report processing`: the record of processing activities per tenant (GDPR art. 30,
PIPL art. 55-56), from the tenant policies (FACEGATE_POLICY_DIR), the camera registry, the
consent ledger and the enrolled templates. The logic is gateway/core/processing.py.

Role: gateway (the platform operator): the gateway's ACLs read every topic it needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from gateway.cli.access import Role, read
from gateway.cli.consent import by_key, current
from gateway.cli.console import errors, load_settings
from gateway.cli.output import Exit, Format, emit, exit_codes, format_option, out_option
from gateway.contract.codec import DecodeError, default_codec
from gateway.contract.models import AvroRecord, CameraRegistration, ConsentRecord
from gateway.contract.topics import TopicNames, check_tenant_id
from gateway.core.policy.pack import PolicyError
from gateway.core.processing import StreamRetention, processing_record, to_markdown
from gateway.files.policies import load_policies
from gateway.kafka.reading import Records

Record = TypeVar("Record", bound=AvroRecord)
COMMAND = "report processing"

app = typer.Typer(help="Records the platform operator keeps for its tenants.", no_args_is_help=True)


def latest(records: Records) -> dict[bytes, bytes]:
    """A compacted topic as it stands: each key's newest value, tombstoned keys left out."""
    values: dict[bytes, bytes | None] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        if record.key is not None:
            values[record.key] = record.value
    return {key: value for key, value in values.items() if value is not None}


def _decoded(values: Iterable[bytes], model: type[Record]) -> list[Record]:
    codec, found = default_codec(), []
    for value in values:
        try:
            found.append(codec.decode(value, model))
        except DecodeError:
            continue  # the workers count and skip these too (facegate_registry_records_ignored)
    return found


@app.command(
    epilog=exit_codes(None) + " Role: gateway (platform operator): the gateway's own ACLs read the camera, "
    "consent and enrolled topics; no tenant's or regulator's credentials are needed."
)
def processing(
    tenant: Annotated[
        list[str] | None, typer.Option("--tenant", help="Only this tenant (repeat for more); default: every tenant.")
    ] = None,
    format: Annotated[str, format_option([Format.MARKDOWN, Format.JSON], Format.MARKDOWN)] = Format.MARKDOWN,
    out: Annotated[Path | None, out_option("the record")] = None,
) -> None:
    """Per tenant: what is processed, for which purposes, at which cameras and sites, kept how long,
    for which recipients and transfers abroad (GDPR art. 30(1), PIPL art. 55-56), with the gaps
    found (no impact assessment, a transfer without a mechanism, cameras without signage). Counts
    only: no subject is named."""
    settings = load_settings()
    try:
        wanted = [check_tenant_id(t) for t in tenant or []]
        policies = load_policies(settings.policy_dir) if settings.policy_dir else {}
    except (ValueError, PolicyError, OSError) as exc:
        errors.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(Exit.USAGE) from None
    if settings.policy_dir is None:
        errors.print("[yellow]FACEGATE_POLICY_DIR is not set: no tenant policy is read[/yellow]", highlight=False)
    names = TopicNames(settings.topic_prefix)
    cameras: list[CameraRegistration] = []
    consents: list[ConsentRecord] = []
    for one in sorted({*settings.tenants, *policies, *wanted}):  # each tenant's own topics, its records only
        found = _decoded(latest(read(settings, names.cameras(one), COMMAND, Role.GATEWAY)).values(), CameraRegistration)
        cameras += [c for c in found if c.tenant_id == one]
        # Each subject's consent as the workers hold it: a record naming another tenant or subject
        # than its key changes nothing, a void one leaves none in force (state.judge_consent).
        given = by_key(settings, one, read(settings, names.consent(one), COMMAND, Role.GATEWAY))
        consents += [c for c in map(current, given.values()) if c is not None]
    enrolled: dict[str, int] = {}
    for key in latest(read(settings, names.enrolled, COMMAND, Role.GATEWAY)):
        owner = key.decode(errors="replace").split("/", 1)[0]
        enrolled[owner] = enrolled.get(owner, 0) + 1
    retention = StreamRetention(
        settings.raw_retention_ms, settings.enroll_retention_ms, settings.governed_retention_ms,
        settings.rejected_retention_ms, settings.audit_retention_ms, settings.erased_bound_ms,
    )  # fmt: skip
    records = processing_record(
        policies, cameras, consents, enrolled, retention, datetime.now(UTC), tenants=[*settings.tenants, *wanted]
    )
    if wanted:
        records = [r for r in records if r["tenant_id"] in wanted]
    emit(format, records, lambda: [], out, renderers={Format.MARKDOWN: lambda: to_markdown(records)})
