"""`facegate eval protection`: accuracy, unlinkability and renewability on the seeded synthetic set.

Role: platform operator (offline; no Kafka access).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gateway.cli.console import errors
from gateway.cli.output import Exit, Format, deprecated, emit, exit_codes, format_option, json_text, out_option
from gateway.core.biometrics.evaluation import Accuracy, ProtectionReport, evaluate_protection
from gateway.core.biometrics.protection import Scheme
from gateway.core.biometrics.synthetic import MODELS

app = typer.Typer(help="Measure FaceGate's template protection.", no_args_is_help=True)

# Alternatives measured by --compare; the default (1024 one-bit hashes) is the first.
CANDIDATES = [
    Scheme(1024, 2),
    Scheme(512, 2),
    Scheme(2048, 2),
    Scheme(128, 4),
    Scheme(256, 4),
    Scheme(256, 16),
]


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def _accuracy_rows(table: Table, label: str, raw: Accuracy, protected: Accuracy) -> None:
    table.add_row(f"{label} raw cosine", _pct(raw.eer), _pct(raw.tar_at_far_1e3), _pct(raw.tar_at_far_1e4))
    table.add_row(
        f"{label} protected (key known)",
        _pct(protected.eer),
        _pct(protected.tar_at_far_1e3),
        _pct(protected.tar_at_far_1e4),
    )


def _tables(report: ProtectionReport) -> list[Table]:
    s = report.scheme
    title = (
        f"{report.model}: {report.people} people, seed {report.seed}; "
        f"IoM {s.hashes} hashes x q={s.q} ({s.code_bytes} bytes)"
    )
    table = Table("", "EER", "TAR @ FAR 1e-3", "TAR @ FAR 1e-4", title=title)
    _accuracy_rows(table, "unmasked", report.raw, report.protected)
    _accuracy_rows(table, "masked", report.raw_masked, report.protected_masked)
    links = Table("property", "measured", "label-shuffled baseline", "bar")
    links.add_row(
        "cross-tenant unlinkability D_sys",
        f"{report.unlinkability_d_sys:.3f}",
        f"{report.unlinkability_shuffled:.3f}",
        "<= 0.05",
    )
    links.add_row(
        "renewability D_sys (old vs new key)",
        f"{report.renewability_d_sys:.3f}",
        f"{report.renewability_shuffled:.3f}",
        "<= 0.05",
    )
    links.add_row("renewed template accepted at FAR 1e-4", _pct(report.renewed_accept_rate), "-", "~0")
    links.add_row(
        "mean score renewed / impostor",
        f"{report.renewed_mean:.4f} / {report.impostor_mean:.4f}",
        "-",
        "equal",
    )
    return [table, links]


@app.command(epilog=exit_codes(None) + " Role: platform operator (offline).")
def protection(
    model: Annotated[str, typer.Option(help=f"Synthetic model: {', '.join(MODELS)}.")] = "synthetic-512",
    people: Annotated[int, typer.Option(min=200, help="People in the seeded set.")] = 3000,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic set and the evaluation keys.")] = 2026,
    compare: Annotated[bool, typer.Option(help="Also measure alternative IoM parameters.")] = False,
    format: Annotated[str, format_option([Format.TABLE, Format.JSON], Format.TABLE)] = Format.TABLE,
    out: Annotated[Path | None, out_option("the report(s)")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", hidden=True, help="Deprecated: --format json --out FILE.")
    ] = None,
) -> None:
    """EER and TAR at FAR 1e-3/1e-4, raw vs protected, masked and not; D_sys; renewability."""
    if json_out is not None:
        deprecated("--json FILE", "--format json --out FILE")
    if model not in MODELS:
        errors.print(f"[red]unknown synthetic model {model!r}[/red]; known: {', '.join(MODELS)}")
        raise typer.Exit(Exit.USAGE)
    reports = [
        evaluate_protection(MODELS[model], people, seed, scheme)
        for scheme in (CANDIDATES if compare else CANDIDATES[:1])
    ]
    emit(format, [r.as_dict() for r in reports], lambda: _all_tables(reports, compare), out)
    if json_out is not None:  # the old flag: tables printed and JSON written, as before
        json_out.write_text(json_text([r.as_dict() for r in reports]))


def _all_tables(reports: list[ProtectionReport], compare: bool) -> list[Table]:
    shown = [table for report in reports for table in _tables(report)]
    if compare:
        summary = Table(
            "scheme",
            "bytes",
            "TAR@1e-4 protected",
            "vs raw",
            "masked",
            "D_sys",
            title="IoM parameters compared",
        )
        for r in reports:
            summary.add_row(
                f"{r.scheme.hashes} x q={r.scheme.q}",
                str(r.scheme.code_bytes),
                _pct(r.protected.tar_at_far_1e4),
                f"{100 * (r.protected.tar_at_far_1e4 - r.raw.tar_at_far_1e4):+.2f} pts",
                _pct(r.protected_masked.tar_at_far_1e4),
                f"{r.unlinkability_d_sys:.3f}",
            )
        shown.append(summary)
    return shown
