"""The regulator's report: decisions by rule, tenant and camera, distinct subjects, a timeline,
and the alerts the law attaches consequences to (R15: the CAC filing for 100,000 subjects;
R05: capture in a private space; R14: no non-face alternative). Pure: records in, text out.
"""

from __future__ import annotations

import html
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime

from gateway.contract.models import AuditRecord
from gateway.contract.vocabulary import Decision
from gateway.core.audit import note
from gateway.core.audit.verify import VerifyReport
from gateway.core.policy.rules import CATALOGUE, Rule
from gateway.core.text import literal

ALERT_MEANING = {
    "R15": "distinct enrolled subjects reached the filing threshold: file with the provincial CAC within 30 working days",
    "R05": "a camera captured faces in a private space",
    "R14": "face recognition used without a non-face alternative",
    "R18": "identifications beyond the tenant's baseline",
}


@dataclass
class Report:
    tenant: str | None
    since: datetime | None
    until: datetime | None
    records: int = 0
    duplicates: int = 0
    by_decision: dict[str, int] = field(default_factory=dict)
    by_rule: dict[str, int] = field(default_factory=dict)
    by_tenant: dict[str, dict[str, int]] = field(default_factory=dict)
    by_camera: dict[str, dict[str, int]] = field(default_factory=dict)
    distinct_subjects: dict[str, int] = field(default_factory=dict)
    timeline: dict[str, dict[str, int]] = field(default_factory=dict)  # hour -> decision -> count
    alerts: dict[str, dict[str, int]] = field(default_factory=dict)  # tenant -> rule -> count
    # What verifying the log said (`verification_status`): status, up to which checkpoints, signed when, key.
    verification: dict[str, str] = field(default_factory=lambda: {"status": "not verified: no key set given"})


def verification_status(
    verified: bool,
    findings: int,
    checkpoints: dict[int, int],
    signed_at: str | None,
    key_id: str | None,
    signatures: int | None = None,
) -> dict[str, str]:
    """The report's opening lines from a verification: `checkpoints` is each partition's verified size,
    `signatures` how many partitions a signature (checkpoint or completeness note) covers at all: with
    none, nothing was verified, whatever the findings."""
    if verified and signatures == 0:
        status = "NOT verified: no signature covers the log, see facegate audit verify"
    elif verified:
        status = "verified"
    else:
        status = f"NOT verified: {findings} finding(s), see facegate audit verify"
    return {
        "status": status,
        "checkpoint": ", ".join(f"partition {p}: {n} records" for p, n in sorted(checkpoints.items())) or "none",
        "signed_at": signed_at or "never",
        "key_id": key_id or "-",
    }


def verification_of(checked: VerifyReport) -> dict[str, str]:
    """The opening lines from `verify_audit_log`'s report."""
    newest = checked.completeness
    return verification_status(
        not checked.tampered, len(checked.problems),
        {p: part.newest.checkpoint.size for p, part in checked.partitions.items() if part.newest},
        note.format_time(newest.time) if newest else None,
        f"{checked.completeness_key:08x}" if checked.completeness_key is not None else None,
        sum(1 for part in checked.partitions.values() if part.covered_seq >= 0) + (newest is not None),
    )  # fmt: skip


def build_report(
    records: Iterable[AuditRecord],
    tenant: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Report:
    report = Report(tenant, since, until)
    seen: set[str] = set()
    decisions: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    tenants: defaultdict[str, Counter[str]] = defaultdict(Counter)
    cameras: defaultdict[str, Counter[str]] = defaultdict(Counter)
    subjects: defaultdict[str, set[str]] = defaultdict(set)
    timeline: defaultdict[str, Counter[str]] = defaultdict(Counter)
    alerts: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        if tenant is not None and record.tenant_id != tenant:
            continue
        when = record.event_time or record.recorded_at
        if (since is not None and when < since) or (until is not None and when >= until):
            continue
        if record.audit_id in seen:
            report.duplicates += 1  # at-least-once repeats count once
            continue
        seen.add(record.audit_id)
        report.records += 1
        decision = record.decision.value
        decisions[decision] += 1
        tenants[record.tenant_id][decision] += 1
        cameras[record.camera_id or "-"][decision] += 1
        timeline[when.strftime("%Y-%m-%d %H:00")][decision] += 1
        for rule in record.rule_ids:
            rules[rule] += 1
        for rule in record.alerts:
            alerts[record.tenant_id][rule] += 1
        if record.subject_pseudonym:
            subjects[record.tenant_id].add(record.subject_pseudonym)
    report.by_decision = dict(decisions)
    report.by_rule = dict(sorted(rules.items()))
    report.by_tenant = {t: dict(c) for t, c in sorted(tenants.items())}
    report.by_camera = {c: dict(v) for c, v in sorted(cameras.items())}
    report.distinct_subjects = {t: len(s) for t, s in sorted(subjects.items())}
    report.timeline = {h: dict(c) for h, c in sorted(timeline.items())}
    report.alerts = {t: dict(c) for t, c in sorted(alerts.items())}
    return report


def to_json(report: Report) -> str:
    return json.dumps(asdict(report), indent=2, default=str)


def _rule_label(rule: str) -> str:
    try:
        entry = CATALOGUE[Rule(rule)]
    except ValueError:
        return rule
    return f"{rule} {entry.name} ({', '.join(entry.sources)})"


def to_markdown(report: Report) -> str:
    scope = report.tenant or "all tenants"
    v = report.verification
    lines = [
        f"# FaceGate audit report: {scope}",
        "",
        f"**Verification: {v['status']}**"
        + (
            f"; signed checkpoints cover {v['checkpoint']}; newest signed {v['signed_at']} by key {v['key_id']}."
            if "checkpoint" in v
            else "."
        ),
        "",
        f"Period: {report.since or 'start'} to {report.until or 'now'}.",
        "",
    ]
    lines += [f"{report.records} decisions ({report.duplicates} at-least-once repeats not counted).", ""]
    columns = _columns(report)
    lines += ["## Decisions by tenant", "", "| tenant | " + " | ".join(columns) + " | distinct subjects |"]
    lines += ["|---|" + "---:|" * (len(columns) + 1)]
    for tenant, counts in report.by_tenant.items():
        cells = " | ".join(str(counts.get(d, 0)) for d in columns)
        lines.append(f"| {literal(tenant)} | {cells} | {report.distinct_subjects.get(tenant, 0)} |")
    lines += ["", "## Rules cited", "", "| rule | decisions |", "|---|---:|"]
    lines += [f"| {_rule_label(rule)} | {count} |" for rule, count in report.by_rule.items()]
    lines += [
        "",
        "## Decisions by camera",
        "",
        "| camera | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for camera, counts in report.by_camera.items():
        lines.append(f"| {literal(camera)} | " + " | ".join(str(counts.get(d, 0)) for d in columns) + " |")
    lines += [
        "",
        "## Timeline",
        "",
        "| hour | " + " | ".join(columns) + " | all |",
        "|---|" + "---:|" * (len(columns) + 1),
    ]
    for hour, counts in report.timeline.items():
        cells = " | ".join(str(counts.get(d, 0)) for d in columns)
        lines.append(f"| {hour} | {cells} | {sum(counts.values())} |")
    lines += ["", "## Alerts", ""]
    if not report.alerts:
        lines.append("None.")
    for tenant, rules in report.alerts.items():
        for rule, count in rules.items():
            lines.append(
                f"- **{literal(tenant)}**: {literal(rule)} ×{count}: {ALERT_MEANING.get(rule, _rule_label(rule))}"
            )
    return "\n".join(lines) + "\n"


_DECISIONS = ("FORWARDED", "STRIPPED", "BLOCKED", "REJECTED", "SHARED", "SHARE_BLOCKED", "ERASED")
_COLOURS = {"FORWARDED": "#2b8a3e", "STRIPPED": "#1971c2", "BLOCKED": "#c92a2a", "REJECTED": "#868e96",
            "SHARED": "#5f3dc4", "SHARE_BLOCKED": "#e8590c", "ERASED": "#495057", "ENROLLED": "#0c8599",
            "CONSENT_RECORDED": "#e67700"}  # fmt: skip


def _columns(report: Report) -> list[str]:
    """The decisions a table has a column for: the captures' and erasures' always, every other
    decision the report counts (enrollments, consents recorded), so that each row adds up."""
    return [*_DECISIONS, *(d.value for d in Decision if d.value not in _DECISIONS and report.by_decision.get(d.value))]


def _legend(labels: list[str], y: int, x: int = 0) -> str:
    """A legend row: a coloured square and the name of each series."""
    items = []
    for i, label in enumerate(labels):
        at = x + i * 92
        items.append(f'<rect x="{at}" y="{y}" width="10" height="10" fill="{_COLOURS.get(label, "#1971c2")}"/>'
                     f'<text x="{at + 14}" y="{y + 9}" font-size="10">{html.escape(label)}</text>')  # fmt: skip
    return f'<g class="legend">{"".join(items)}</g>'


def _bar_chart(title: str, values: dict[str, int], chart_id: str) -> str:
    """A horizontal bar chart as inline SVG: no script, no network, renders anywhere."""
    width, row = 640, 22
    top = max(values.values(), default=1) or 1
    coloured = [label for label in values if label in _COLOURS]
    bars = []
    for i, (label, value) in enumerate(values.items()):
        length = int((width - 220) * value / top)
        y = i * row + 24
        bars.append(
            f'<text x="0" y="{y + 14}" font-size="12">{html.escape(label)}</text>'
            f'<rect x="200" y="{y}" width="{length}" height="{row - 6}" fill="{_COLOURS.get(label, "#1971c2")}"/>'
            f'<text x="{205 + length}" y="{y + 14}" font-size="12">{value}</text>'
        )
    height = len(values) * row + 30
    legend = _legend(coloured, height) if coloured else _legend(["decisions"], height)
    return (
        f'<svg class="chart" id="{chart_id}" role="img" aria-label="{html.escape(title)}" width="{width}" '
        f'height="{height + 16}" xmlns="http://www.w3.org/2000/svg"><text x="0" y="14" font-weight="bold">'
        f"{html.escape(title)}</text>{''.join(bars)}{legend}</svg>"
    )


def _timeline_chart(report: Report) -> str:
    """Decisions per hour, stacked by decision, as inline SVG."""
    hours, columns = list(report.timeline), _columns(report)
    width, height, left = 640, 200, 40
    top = max((sum(c.values()) for c in report.timeline.values()), default=1) or 1
    step = (width - left) / max(1, len(hours))
    bars = []
    for i, hour in enumerate(hours):
        y: float = height - 20
        for decision in columns:
            value = report.timeline[hour].get(decision, 0)
            if not value:
                continue
            h = (height - 40) * value / top
            y -= h
            bars.append(
                f'<rect x="{left + i * step:.1f}" y="{y:.1f}" width="{max(1.0, step - 2):.1f}" height="{h:.1f}" fill="{_COLOURS[decision]}"><title>{hour} {decision}: {value}</title></rect>'
            )
    labels = f'<text x="{left}" y="{height - 4}" font-size="11">{html.escape(hours[0]) if hours else ""}</text>'
    shown = [d for d in columns if any(report.timeline[h].get(d) for h in hours)]
    return (
        f'<svg class="chart" id="timeline" role="img" aria-label="decisions per hour" width="{width}" '
        f'height="{height + 16}" xmlns="http://www.w3.org/2000/svg"><text x="0" y="14" font-weight="bold">'
        f"Decisions per hour</text>{''.join(bars)}{labels}{_legend(shown, height + 4)}</svg>"
    )


def _table(headers: list[str], rows: list[list[str]], table_id: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _verification_html(report: Report) -> str:
    v = report.verification
    ok = v["status"] == "verified"
    rows = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{html.escape(v[key])}</td></tr>"
        for key, name in (("checkpoint", "verified up to"), ("signed_at", "signed at"), ("key_id", "by key"))
        if key in v
    )
    colour = "#2b8a3e" if ok else "#c92a2a"
    return (f'<section id="verification"><p style="font-size:1.3em;color:{colour}"><b>Verification: '
            f"{html.escape(v['status'])}</b></p><table>{rows}</table></section>")  # fmt: skip


def to_html(report: Report) -> str:
    scope = html.escape(report.tenant or "all tenants")
    columns = _columns(report)
    tenant_rows = [
        [t, *(str(c.get(d, 0)) for d in columns), str(report.distinct_subjects.get(t, 0))]
        for t, c in report.by_tenant.items()
    ]
    rule_rows = [[_rule_label(r), str(n)] for r, n in report.by_rule.items()]
    camera_rows = [[c, *(str(v.get(d, 0)) for d in columns)] for c, v in report.by_camera.items()]
    alert_items = (
        "".join(
            f"<li><b>{html.escape(t)}</b>: {html.escape(r)} ×{n}: {html.escape(ALERT_MEANING.get(r, _rule_label(r)))}</li>"
            for t, rules in report.alerts.items()
            for r, n in rules.items()
        )
        or "<li>None.</li>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>FaceGate audit report: {scope}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}</style>
</head><body>
<h1>FaceGate audit report: {scope}</h1>
{_verification_html(report)}
<p>Period: {html.escape(str(report.since or "start"))} to {html.escape(str(report.until or "now"))}.
{report.records} decisions ({report.duplicates} at-least-once repeats not counted).</p>
<h2>Decisions</h2>{_bar_chart("Decisions", {d: report.by_decision.get(d, 0) for d in columns if report.by_decision.get(d)}, "decisions-chart")}
{_timeline_chart(report)}
<h2>By tenant</h2>{_table(["tenant", *columns, "distinct subjects"], tenant_rows, "by-tenant")}
<h2>Rules cited</h2>{_bar_chart("Rules cited", report.by_rule, "rules-chart")}{_table(["rule", "decisions"], rule_rows, "by-rule")}
<h2>By camera</h2>{_table(["camera", *columns], camera_rows, "by-camera")}
<h2>Alerts</h2><ul id="alerts">{alert_items}</ul>
</body></html>
"""
