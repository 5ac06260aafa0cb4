"""The regulator's report and loss detection, from audit records alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from gateway.contract.codec import default_codec
from gateway.contract.models import AuditRecord, FaceCaptured
from gateway.contract.topics import TopicNames
from gateway.contract.vocabulary import Decision
from gateway.core.audit.reconcile import RawInput, reconcile
from gateway.core.audit.report import build_report, to_html, to_json, to_markdown
from gateway.core.messages import InputRecord
from gateway.core.pipeline import process_batch
from gateway.sdk.scenario import Traffic, build_world
from tests.support.core import context, decide_batch, loaded_state, raw_records

CODEC = default_codec()
NAMES = TopicNames()
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _decided(n: int = 200) -> tuple[list[RawInput], list[AuditRecord]]:
    world = build_world(seed=5, subjects_per_tenant=6)
    batch = raw_records(Traffic(world, seed=2).take(n))
    result = decide_batch(batch, loaded_state(world))
    audits = [CODEC.decode(o.value or b"", AuditRecord) for o in result.outputs if o.topic == NAMES.audit]
    return [RawInput(r.topic, r.partition, r.offset, r.value or b"") for r in batch], audits


def test_report_counts_each_decision_once_and_names_rules_and_alerts() -> None:
    _, audits = _decided()
    report = build_report(audits + audits[:10])  # ten at-least-once repeats
    assert report.records == len(audits) and report.duplicates == 10
    assert sum(report.by_decision.values()) == len(audits)
    assert {"acme", "beta"} <= set(report.by_tenant) and "R06" in report.by_rule and "R05" in report.by_rule
    assert report.alerts["acme"].get("R05") or report.alerts["beta"].get("R05")
    assert all(n > 0 for n in report.distinct_subjects.values())
    only_acme = build_report(audits, tenant="acme")
    assert set(only_acme.by_tenant) == {"acme"}
    assert build_report(audits, since=datetime(2030, 1, 1, tzinfo=UTC)).records == 0


def test_report_formats() -> None:
    _, audits = _decided()
    report = build_report(audits)
    markdown = to_markdown(report)
    assert "| R06 purpose-lock (PIPL 6, PIPL 14, PIPL 24" in markdown and "## Alerts" in markdown
    assert json.loads(to_json(report))["records"] == len(audits)
    page = to_html(report)
    assert page.count("<svg") == 3 and '<table id="by-rule">' in page and "private space" in page


def test_r15_filing_alert_is_explained() -> None:
    _, audits = _decided(20)
    flagged = [a.model_copy(update={"alerts": ["R15"]}) for a in audits]
    text = to_markdown(build_report(flagged))
    assert "R15" in text and "provincial CAC within 30 working days" in text


def test_reconcile_finds_inputs_without_a_decision() -> None:
    inputs, audits = _decided()
    assert reconcile(inputs, audits, CODEC) == (len(inputs), [])
    checked, missing = reconcile(inputs, audits[5:], CODEC)
    assert checked == len(inputs) and len(missing) == 5
    assert {m.event_id for m in missing} == {a.event_id for a in audits[:5]}


def test_reconcile_knows_inputs_as_the_worker_does() -> None:
    inputs, audits = _decided(40)
    first = next(i for i in inputs if i.topic == NAMES.captures("lumen"))
    # Another vendor's capture with the same event id: never decided, it is missing, whatever lumen's got.
    other = RawInput(NAMES.captures("optix"), first.partition, 900, first.value)
    # A capture out of the contract's range (decodes, does not validate) is decided by its place in the log.
    invalid = CODEC.decode(first.value, FaceCaptured).to_avro() | {"event_id": "e-invalid", "quality": 7.0}
    undecodable = RawInput(first.topic, first.partition, 901, CODEC.encode_datum("FaceCaptured", invalid))
    ctx = context(loaded_state(build_world(seed=5, subjects_per_tenant=6)))
    process_batch([InputRecord(undecodable.topic, undecodable.partition, undecodable.offset, undecodable.value)], ctx)
    audits += [CODEC.decode(o.value or b"", AuditRecord) for o in ctx.result.outputs if o.topic == NAMES.audit]
    checked, missing = reconcile([*inputs, other, undecodable], audits, CODEC)
    assert checked == len(inputs) + 2 and [(m.topic, m.offset) for m in missing] == [(other.topic, 900)]


def test_a_vendors_camera_id_is_text_in_the_markdown_report_never_a_row_or_markup() -> None:
    _, audits = _decided(20)
    forged = "cam-9\n| beta | 999 | 0 | 0 | 0 | 0 | 0 | 0 | 1 |\u202e <img src=x onerror=alert(1)> ![seal](https://e.example/p.png)"
    text = to_markdown(build_report([audits[0].model_copy(update={"camera_id": forged}), *audits[1:]]))
    [row] = [line for line in text.splitlines() if line.startswith("| cam-9")]
    assert "\\n\\| beta \\| 999" in row and "\\u202e" in row and "&lt;img" in row and "<img" not in text
    assert not any(line.startswith("| beta | 999") for line in text.splitlines())
    assert "![seal](" not in text and "\\!\\[seal\\]\\(https\\://e\\.example" in row


def test_each_tables_rows_add_up_to_the_decisions_counted_and_the_timeline_is_in_every_format() -> None:
    # Enrollments and consents recorded had no column: the tenants' rows added up to fewer decisions
    # than the report counted, and the markdown had no timeline.
    _, audits = _decided()
    lifecycle = [
        audits[0].model_copy(update={"audit_id": f"a-lifecycle-{n}", "decision": decision, "camera_id": None})
        for n, decision in enumerate([Decision.ENROLLED, Decision.ENROLLED, Decision.CONSENT_RECORDED])
    ]
    report = build_report(audits + lifecycle)
    markdown = to_markdown(report)

    def decided_in(title: str) -> int:
        """The decisions a markdown table's rows add up to."""
        lines = markdown.split(f"## {title}\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
        header = [c.strip() for c in lines[0].strip("|").split("|")]
        assert {"ENROLLED", "CONSENT_RECORDED"} <= set(header), header
        counted = [i for i, name in enumerate(header) if name in Decision.__members__]
        rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
        return sum(int(row[i]) for row in rows for i in counted)

    for title in ("Decisions by tenant", "Decisions by camera", "Timeline"):
        assert decided_in(title) == report.records, title
    page = to_html(report)
    assert page.count("<th>ENROLLED</th>") == 2 and "CONSENT_RECORDED" in page


def test_a_log_without_any_signature_is_not_reported_verified() -> None:
    from gateway.core.audit.keyset import KeySet
    from gateway.core.audit.note import raw_public
    from gateway.core.audit.report import verification_of
    from gateway.core.audit.verify import verify_audit_log
    from tests.support.audit_log import CODEC, KEY, LOG, Writer

    keys = KeySet.of(LOG, [(raw_public(KEY.public_key()), None, None, None)])
    writer = Writer()
    writer.records(0, 3)
    writer.records(1, 3)
    writer.sign()
    entries = writer.entries()
    assert verification_of(verify_audit_log(entries, CODEC, keys))["status"] == "verified"
    unsigned = [e for e in entries if isinstance(CODEC.decode_any(e.value), AuditRecord)]
    checked = verify_audit_log(unsigned, CODEC, keys)
    assert not checked.tampered
    assert verification_of(checked)["status"].startswith("NOT verified: no signature")
