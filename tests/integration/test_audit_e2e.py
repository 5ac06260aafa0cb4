"""The audit stream on Apache Kafka: verifiable offline, tampering caught, a crash verifies clean."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.brokers.apache_kafka import KafkaBroker
from gateway.cli import app
from gateway.contract.models import AuditRecord
from gateway.core.audit.chain import ChainHead, append
from gateway.core.records import decided_a_capture
from gateway.sdk.producer import FaceGateProducer
from gateway.sdk.scenario import Traffic
from tests.support.deployment import CODEC, Deployment
from tests.support.kafka import Unique

pytestmark = pytest.mark.kafka


def _cli(deployment: Deployment, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=deployment.env)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def audited(kafka: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, Path, Path]]:
    """A day of traffic through a worker that then shut down cleanly; the audit exported."""
    workdir = tmp_path_factory.mktemp("audit")
    deployment = Deployment(kafka, Unique(f"t-audit-{workdir.name[-6:]}"), workdir)
    worker = deployment.start_worker()
    asyncio.run(deployment.publish_world(worker))
    items = Traffic(deployment.world).take(300)
    asyncio.run(deployment.send(items))
    deployment.audit_records(at_least_events=len(items))
    assert deployment.stop_all() == [0]
    pubkey, export = workdir / "audit.pem", workdir / "audit.jsonl"
    assert _cli(deployment, "audit", "pubkey", "--out", str(pubkey))[0] == 0
    code, output = _cli(deployment, "audit", "export", "--out", str(export))
    assert code == 0 and "exported" in output
    yield deployment, pubkey, export


def test_the_stream_verifies_and_is_fully_signed_after_shutdown(audited: tuple[Deployment, Path, Path]) -> None:
    deployment, pubkey, export = audited
    code, output = _cli(deployment, "audit", "verify", "--pubkey", str(pubkey), "--strict")
    assert code == 0, output
    assert "audit stream verified" in output
    code, output = _cli(deployment, "audit", "verify", "--pubkey", str(pubkey), "--file", str(export), "--strict")
    assert code == 0, output


def _tampered(export: Path, tmp_path: Path, edit: str) -> Path:
    header, *lines = export.read_text().splitlines()
    records = [i for i, line in enumerate(lines) if json.loads(line)["partition"] == 0]
    lines_of_records = [
        i for i in records if isinstance(CODEC.decode_any(base64.b64decode(json.loads(lines[i])["value"])), AuditRecord)
    ]
    a, b = lines_of_records[5], lines_of_records[6]
    if edit == "flip":
        entry = json.loads(lines[a])
        value = bytearray(base64.b64decode(entry["value"]))
        value[-70] ^= 0x04
        entry["value"] = base64.b64encode(bytes(value)).decode()
        lines[a] = json.dumps(entry)
    elif edit == "delete":
        del lines[a]
    elif edit == "reorder":
        first, second = json.loads(lines[a]), json.loads(lines[b])
        first["value"], second["value"] = second["value"], first["value"]
        lines[a], lines[b] = json.dumps(first), json.dumps(second)
    elif edit == "insert":
        original = CODEC.decode(base64.b64decode(json.loads(lines[a])["value"]), AuditRecord)
        forged, _ = append(
            {**original.model_dump(), "event_id": "forged", "audit_id": "a-forged"},
            ChainHead(original.seq - 1, original.prev_hash),
        )
        lines.insert(
            a, json.dumps({"partition": 0, "offset": -1, "value": base64.b64encode(CODEC.encode(forged)).decode()})
        )
        lines = [json.dumps({**json.loads(line), "offset": n}) for n, line in enumerate(lines)]
    path = tmp_path / f"{edit}.jsonl"
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


@pytest.mark.parametrize("edit", ["flip", "delete", "reorder", "insert"])
def test_tampering_with_an_export_is_detected(
    audited: tuple[Deployment, Path, Path], tmp_path: Path, edit: str
) -> None:
    deployment, pubkey, export = audited
    code, output = _cli(
        deployment, "audit", "verify", "--pubkey", str(pubkey), "--file", str(_tampered(export, tmp_path, edit))
    )
    assert code == 1, output
    assert "TAMPERED" in output


def test_a_crash_and_restart_verifies_clean(kafka: KafkaBroker, unique: Unique, tmp_path: Path) -> None:
    deployment = Deployment(kafka, unique, tmp_path)
    worker = deployment.start_worker()
    asyncio.run(deployment.publish_world(worker))
    items = Traffic(deployment.world, seed=21).take(2000)
    asyncio.run(deployment.send(items))
    deployment.audit_records(at_least_events=300)  # mid-stream
    worker.process._signal_group(signal.SIGKILL)  # kill -9: no shutdown, no final checkpoint
    worker.process.wait()
    deployment.start_worker()
    records = deployment.audit_records(at_least_events=len(items))
    assert deployment.stop_all()[-1] == 0
    pubkey = tmp_path / "audit.pem"
    assert _cli(deployment, "audit", "pubkey", "--out", str(pubkey))[0] == 0
    code, output = _cli(deployment, "audit", "verify", "--pubkey", str(pubkey))
    assert code == 0, output
    decoded = (CODEC.decode_any(r.value or b"") for r in records)
    audit_ids = [a.audit_id for a in decoded if isinstance(a, AuditRecord) and decided_a_capture(a.event_id)]
    assert len(set(audit_ids)) == len(items)  # every input decided, once after dedupe


def test_a_record_forged_onto_the_topic_is_detected(kafka: KafkaBroker, unique: Unique, tmp_path: Path) -> None:
    deployment = Deployment(kafka, unique, tmp_path)
    worker = deployment.start_worker()
    asyncio.run(deployment.publish_world(worker))
    asyncio.run(deployment.send(Traffic(deployment.world, seed=4).take(60)))
    records = deployment.audit_records(at_least_events=60)
    last = [
        CODEC.decode(r.value or b"", AuditRecord)
        for r in records
        if r.partition == 0 and isinstance(CODEC.decode_any(r.value or b""), AuditRecord)
    ][-1]
    forged, _ = append(
        {**last.model_dump(), "event_id": "forged", "audit_id": "a-forged"}, ChainHead(last.seq, last.hash)
    )

    async def forge_then_continue() -> None:
        async with FaceGateProducer(deployment.settings) as producer:
            await producer._send(deployment.names.audit, b"a-forged", CODEC.encode(forged))  # someone with write access
        await deployment.send(Traffic(deployment.world, seed=5).take(60))

    asyncio.run(forge_then_continue())
    deployment.audit_records(at_least_events=121)
    assert deployment.stop_all() == [0]
    pubkey = tmp_path / "audit.pem"
    _cli(deployment, "audit", "pubkey", "--out", str(pubkey))
    code, output = _cli(deployment, "audit", "verify", "--pubkey", str(pubkey))
    assert code == 1 and "TAMPERED" in output, output


def test_reports_for_regulators(audited: tuple[Deployment, Path, Path], tmp_path: Path) -> None:
    deployment, _, _ = audited
    code, output = _cli(deployment, "audit", "report", "--format", "markdown")
    assert code == 0 and "# FaceGate audit report: all tenants" in output and "R06 purpose-lock" in output
    code, output = _cli(deployment, "audit", "report", "--format", "json", "--tenant", "acme")
    assert code == 0 and json.loads(output)["by_tenant"].keys() == {"acme"}
    code, output = _cli(deployment, "audit", "reconcile")
    assert code == 0 and "inputs have a decision" in output


CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def test_the_html_report_renders_in_chromium(audited: tuple[Deployment, Path, Path], tmp_path: Path) -> None:
    deployment, _, _ = audited
    page, keyset = tmp_path / "report.html", tmp_path / "keyset.json"
    assert _cli(deployment, "audit", "keyset", "--out", str(keyset))[0] == 0
    code, _ = _cli(deployment, "audit", "report", "--format", "html", "--keyset", str(keyset), "--out", str(page))
    assert code == 0
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run(
        [*CHROMIUM, *profile, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert '<table id="by-tenant">' in dom and '<table id="by-rule">' in dom and dom.count("<svg") == 3
    assert "<rect" in dom and "acme" in dom
    # It opens with the verification status, and every chart says what its colours are.
    assert dom.index('id="verification"') < dom.index('id="by-tenant"') and "Verification: verified" in dom
    assert "signed at" in dom and "by key" in dom and dom.count('class="legend"') == 3
    shot = tmp_path / "report.png"
    subprocess.run(
        [*CHROMIUM, *profile, f"--screenshot={shot}", "--window-size=1000,1400", page.as_uri()],
        capture_output=True,
        timeout=60,
        check=True,
    )
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000  # tables and charts, not a blank page


def test_tail_follows_the_stream_read_only(audited: tuple[Deployment, Path, Path]) -> None:
    deployment, _, _ = audited
    code, output = _cli(deployment, "audit", "tail", "--from-beginning", "--count", "12", "--group", "regulator-test")
    assert code == 0, output
    lines = [line for line in output.splitlines() if line.startswith("p")]
    assert len(lines) == 12
    assert any(" acme " in line or " beta " in line for line in lines)
    assert not any("customer-" in line for line in lines)  # pseudonyms and ids of people never appear
    # JSON lines name each decision's event, the id `audit prove` takes.
    code, output = _cli(deployment, "audit", "tail", "--from-beginning", "--count", "12", "--format", "json",
                        "--group", "regulator-test-json")  # fmt: skip
    assert code == 0, output
    decisions = [
        d for d in (json.loads(x) for x in output.splitlines() if x.startswith("{")) if d["kind"] == "decision"
    ]
    known = {r.event_id for r in deployment.audits(lambda got: True, 60)}
    assert decisions and all(d["event_id"] in known for d in decisions), decisions
