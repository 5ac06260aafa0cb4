"""The audit as a regulator verifies it alone, on Apache Kafka (issue #15): a log that starts with
records written under the released 0.1.0 schema and goes on with today's worker verifies with both
verifiers (Python's CLI and the Go verifier, on the same export); each kind of tampering, made by
editing the export (Kafka itself only trims the oldest records), is found by both; retention that
really deletes segments is reported as pruning; receipts check offline; the regulator's anchor
file catches a rewind."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kafka.admin import ConfigResource, ConfigResourceType
from typer.testing import CliRunner

from gateway.brokers.apache_kafka import KafkaBroker
from gateway.cli import app
from gateway.contract.models import AuditCheckpoint, AuditRecord
from gateway.core.audit import note
from gateway.kafka.provisioning import admin_client
from gateway.kafka.reading import Records, offset_range
from gateway.sdk.scenario import Traffic
from tests.support.deployment import CODEC, Deployment
from tests.support.go_verifier import run as go
from tests.support.kafka import Unique
from tests.vectors.audit.generate import altered, released_records

pytestmark = pytest.mark.kafka

Line = dict[str, object]


def _cli(deployment: Deployment, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=deployment.env)
    return result.exit_code, result.output


@dataclass
class Audited:
    deployment: Deployment
    export: Path
    keyset: Path
    schemas: Path

    def lines(self) -> tuple[Line, list[Line]]:
        header, *rest = [json.loads(line) for line in self.export.read_text().splitlines()]
        return header, rest


def _seed_0_1_0(deployment: Deployment, count: int) -> None:
    """Records a 0.1.0 worker wrote to audit partition 0 before the upgrade."""
    values, _ = released_records(count)

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=deployment.kafka.bootstrap_servers, acks="all")
        await producer.start()
        try:
            for value in values:
                await producer.send_and_wait(deployment.names.audit, value, key=b"a-old", partition=0)
        finally:
            await producer.stop()

    asyncio.run(send())


def _prepare(deployment: Deployment, workdir: Path) -> Audited:
    export, keyset, schemas = workdir / "audit.jsonl", workdir / "keyset.json", workdir / "schemas.json"
    assert _cli(deployment, "audit", "keyset", "--out", str(keyset))[0] == 0
    assert _cli(deployment, "audit", "schemas", "--out", str(schemas))[0] == 0
    code, output = _cli(deployment, "audit", "export", "--out", str(export))
    assert code == 0, output
    return Audited(deployment, export, keyset, schemas)


@pytest.fixture(scope="module")
def audited(kafka: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audited]:
    """0.1.0 records, then a worker's traffic in two bursts, a clean stop; exported once."""
    workdir = tmp_path_factory.mktemp("regulator")
    deployment = Deployment(kafka, Unique(f"t-reg-{workdir.name[-6:]}"), workdir)
    _seed_0_1_0(deployment, 12)
    worker = deployment.start_worker()
    asyncio.run(deployment.publish_world(worker))
    traffic = Traffic(deployment.world, seed=3)
    asyncio.run(deployment.send(traffic.take(120)))
    deployment.audit_records(at_least_events=120)
    deployment.read(deployment.names.audit, until=_every_chain_signed)  # a checkpoint in between
    asyncio.run(deployment.send(traffic.take(120)))
    deployment.audit_records(at_least_events=240)
    assert deployment.stop_all() == [0]
    yield _prepare(deployment, workdir)


def python_codes(a: Audited, export: Path, *extra: str) -> set[str]:
    report = export.with_suffix(".report.json")
    code, output = _cli(a.deployment, "audit", "verify", "--keyset", str(a.keyset), "--file", str(export),
                        "--format", "json", "--out", str(report), *extra)  # fmt: skip
    codes = {f["code"] for f in json.loads(report.read_text())["findings"]}
    assert (code == 1) == bool(codes - {"pruned-before-checkpoint"}), output
    return codes


def go_codes(a: Audited, export: Path, *extra: str) -> set[str]:
    result = go("export", "-keys", str(a.keyset), "-schemas", str(a.schemas), "-json", *extra, str(export))
    assert result.returncode in (0, 1), result.stderr
    codes = {f["Code"] for f in json.loads(result.stdout)["findings"]}
    assert (result.returncode == 1) == bool(codes - {"pruned-before-checkpoint"}), result.stdout
    return codes


def both(a: Audited, export: Path, *extra: str) -> tuple[set[str], set[str]]:
    return python_codes(a, export, *extra), go_codes(a, export, *extra)


def test_a_log_mixing_0_1_0_and_current_records_verifies_with_both_verifiers(audited: Audited, tmp_path: Path) -> None:
    header, lines = audited.lines()
    assert header["partitions"] == 2 and header["log_start_offsets"] == [0, 0]
    versions = {base64.b64decode(str(line["value"]))[2:10] for line in lines if line["partition"] == 0}
    assert len(versions) >= 3, "0.1.0 records, today's records and checkpoints on partition 0"
    assert both(audited, audited.export) == (set(), set())
    code, output = _cli(audited.deployment, "audit", "verify", "--keyset", str(audited.keyset), "--strict",
                        "--max-age", "5m")  # fmt: skip
    assert code == 0 and "audit stream verified" in output, output


def _value(line: Line) -> object:
    return CODEC.decode_any(base64.b64decode(str(line["value"])))


def _records(lines: list[Line], partition: int) -> list[int]:
    return [
        i for i, line in enumerate(lines) if line["partition"] == partition and isinstance(_value(line), AuditRecord)
    ]


def _checkpoints(lines: list[Line], partition: int) -> list[int]:
    return [
        i
        for i, line in enumerate(lines)
        if line["partition"] == partition and isinstance(_value(line), AuditCheckpoint)
    ]


def _encoded(record: object) -> str:
    return base64.b64encode(CODEC.encode(record)).decode()  # type: ignore[arg-type]


def forged(lines: list[Line]) -> list[Line]:
    i = _records(lines, 1)[10]
    lines[i] = {**lines[i], "value": base64.b64encode(altered(base64.b64decode(str(lines[i]["value"])), decision="FORWARDED",
                                                                 rule_ids=["R01"])).decode()}  # fmt: skip
    return lines


def deleted(lines: list[Line]) -> list[Line]:
    del lines[_records(lines, 1)[10]]
    return lines


def reordered(lines: list[Line]) -> list[Line]:
    a, b = _records(lines, 1)[10:12]
    lines[a], lines[b] = {**lines[a], "value": lines[b]["value"]}, {**lines[b], "value": lines[a]["value"]}
    return lines


def partition_dropped(lines: list[Line]) -> list[Line]:
    return [line for line in lines if line["partition"] != 1]


def tail_truncated(lines: list[Line]) -> list[Line]:
    cut = _records(lines, 1)[-10]
    return [line for i, line in enumerate(lines) if line["partition"] != 1 or i < cut]


def replayed(lines: list[Line]) -> list[Line]:
    old = lines[_checkpoints(lines, 1)[0]]
    return [*lines, {**old, "offset": 10**9}]


def key_swapped(lines: list[Line]) -> list[Line]:
    thief = Ed25519PrivateKey.generate()
    for i, line in enumerate(lines):
        record = _value(line)
        if isinstance(record, AuditCheckpoint) and record.note:
            text = note.parse(record.note.encode()).text
            resigned = note.sign(text, "facegate.local/audit", thief).encode().decode()
            lines[i] = {**line, "value": _encoded(record.model_copy(update={"note": resigned}))}
    return lines


MATRIX: dict[str, tuple[Callable[[list[Line]], list[Line]], str]] = {
    "forged": (forged, "tampered-record"),
    "deleted": (deleted, "missing-leaves"),
    "reordered": (reordered, "tampered-record"),
    "partition-dropped": (partition_dropped, "partition-missing"),
    "tail-truncated": (tail_truncated, "missing-leaves"),
    "replayed": (replayed, "inconsistent"),
    "key-swapped": (key_swapped, "unknown-key"),
}


def _write(header: Line, lines: list[Line], path: Path) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in [header, *lines]))
    return path


@pytest.mark.parametrize("case", list(MATRIX))
def test_tampering_is_found_by_both_verifiers(audited: Audited, tmp_path: Path, case: str) -> None:
    edit, expected = MATRIX[case]
    header, lines = audited.lines()
    python, golang = both(audited, _write(header, edit(lines), tmp_path / f"{case}.jsonl"))
    assert expected in python and expected in golang, (python, golang)


def test_a_rewound_topic_is_found_against_the_regulators_anchor(audited: Audited, tmp_path: Path) -> None:
    header, lines = audited.lines()
    anchor_py, anchor_go = tmp_path / "kept-python.json", tmp_path / "kept-go.json"
    assert python_codes(audited, audited.export, "--anchor", str(anchor_py)) == set()
    assert go_codes(audited, audited.export, "-anchor", str(anchor_go)) == set()
    kept_py, kept_go = json.loads(anchor_py.read_text()), json.loads(anchor_go.read_text())
    assert kept_py == kept_go, "both verifiers keep the same checkpoints and frontiers"
    # The topic rebuilt as it was after the first burst: every partition cut at its first checkpoint.
    cut = {p: _checkpoints(lines, p)[0] for p in (0, 1)}
    rewound = _write(header, [line for i, line in enumerate(lines) if i <= cut[int(str(line["partition"]))]],
                     tmp_path / "rewound.jsonl")  # fmt: skip
    assert "inconsistent" in python_codes(audited, rewound, "--anchor", str(anchor_py))
    assert "inconsistent" in go_codes(audited, rewound, "-anchor", str(anchor_go))
    assert "inconsistent" not in python_codes(audited, rewound), "without what the regulator kept, a rewind looks old"


def test_a_receipt_checks_offline_with_both_verifiers(audited: Audited, tmp_path: Path) -> None:
    _, lines = audited.lines()
    record = _value(lines[_records(lines, 1)[20]])
    assert isinstance(record, AuditRecord)
    receipt = tmp_path / "receipt.json"
    code, output = _cli(audited.deployment, "audit", "prove", record.event_id, "--file", str(audited.export),
                        "--out", str(receipt))  # fmt: skip
    assert code == 0, output
    # An event the log has no decision of is said to be one, not one a checkpoint may cover later.
    code, output = _cli(audited.deployment, "audit", "prove", "no-such-event", "--file", str(audited.export))
    assert code == 1 and "no decision of no-such-event in the audit log" in output, output
    code, output = _cli(
        audited.deployment, "audit", "verify", "--keyset", str(audited.keyset), "--receipt", str(receipt)
    )
    assert code == 0 and "receipt verified" in output, output
    assert go("receipt", "-keys", str(audited.keyset), "-schemas", str(audited.schemas), str(receipt)).returncode == 0
    data = json.loads(receipt.read_text())
    data["event_id"] = "someone-else"
    receipt.write_text(json.dumps(data))
    assert (
        _cli(audited.deployment, "audit", "verify", "--keyset", str(audited.keyset), "--receipt", str(receipt))[0] == 1
    )
    assert go("receipt", "-keys", str(audited.keyset), "-schemas", str(audited.schemas), str(receipt)).returncode == 1


def _set_topic_config(deployment: Deployment, configs: dict[str, str]) -> None:
    admin = admin_client(deployment.settings)
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, deployment.names.audit, configs=configs)])
    finally:
        admin.close()


def test_retention_that_deletes_segments_is_pruning_not_tampering(kafka: KafkaBroker, unique: Unique,
                                                                   tmp_path: Path) -> None:  # fmt: skip
    deployment = Deployment(kafka, unique, tmp_path)
    _set_topic_config(deployment, {"segment.ms": "1000", "retention.ms": "3000"})
    worker = deployment.start_worker()
    asyncio.run(deployment.publish_world(worker))
    traffic = Traffic(deployment.world, seed=8)
    config = {"bootstrap_servers": kafka.bootstrap_servers}

    def burst() -> None:
        items = traffic.take(40)
        ids = {item.capture.event_id for item in items if item.capture is not None}
        asyncio.run(deployment.send(items))
        deployment.audits(lambda records: ids <= {r.event_id for r in records})

    deadline = time.monotonic() + 90
    while min(asyncio.run(offset_range(config, deployment.names.audit))[0].values()) == 0:
        assert time.monotonic() < deadline, "the broker did not delete the old segments"
        burst()  # each burst rolls the segments of the ones before, which retention then deletes
        time.sleep(1)  # the poll interval: segment.ms is 1 s, so the next burst starts a new segment
    _set_topic_config(deployment, {"retention.ms": "-1"})  # keep what is left from now on
    burst()
    assert deployment.stop_all() == [0]
    a = _prepare(deployment, tmp_path)
    header, _ = a.lines()
    assert min(header["log_start_offsets"]) > 0  # type: ignore[call-overload]
    python, golang = both(a, a.export)
    assert python == golang == {"pruned-before-checkpoint"}, (python, golang)
    code, output = _cli(deployment, "audit", "verify", "--keyset", str(a.keyset), "--format", "table")
    assert code == 0 and "pruned" in output, output


def _every_chain_signed(records: Records) -> bool:
    """Every audit partition's newest record is covered by a checkpoint on the topic."""
    newest: dict[int, int] = {}
    signed: dict[int, int] = {}
    for r in records:
        decoded = CODEC.decode_any(r.value or b"")
        if isinstance(decoded, AuditRecord):
            newest[r.partition] = max(newest.get(r.partition, -1), decoded.seq)
        elif isinstance(decoded, AuditCheckpoint):
            signed[r.partition] = max(signed.get(r.partition, -1), decoded.seq)
    return bool(newest) and all(signed.get(p, -1) >= seq for p, seq in newest.items())
