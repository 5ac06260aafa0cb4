"""What every fault test checks once the stream is decided: nothing lost, nothing forwarded without
its decision, the audit log verifies (test_faults on one broker, test_cluster on three)."""

from __future__ import annotations

from collections import defaultdict

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.contract.models import AuditRecord, GovernedFace
from gateway.contract.vocabulary import Decision
from gateway.core.records import decided_a_capture
from gateway.sdk.scenario import Capture
from gateway.shell.local import LocalWorker
from tests.support.deployment import CODEC, TENANTS, Deployment


def decided(worker: LocalWorker) -> float:
    return worker.metric("facegate_decisions_total")


def assert_nothing_lost(d: Deployment, items: list[Capture], exactly_once: bool = False) -> None:
    """One decision per input after dedupe; governed outputs and FORWARDED decisions match; verifies.
    `exactly_once` (no worker restarted, so nothing was redone): no audit record written twice,
    each partition's chain numbered 0, 1, 2, ... in log order."""
    try:
        records = d.audit_records(at_least_events=len(items), timeout=300)
    except TimeoutError:
        pytest.fail(f"inputs without a decision after 300 s:\n{d.undecided(items)}")
    in_log = [(r.partition, a) for r in records if isinstance(a := CODEC.decode_any(r.value or b""), AuditRecord)]
    if exactly_once:
        seqs: dict[int, list[int]] = defaultdict(list)
        for partition, a in in_log:
            seqs[partition].append(a.seq)
        assert all(s == list(range(len(s))) for s in seqs.values()), "an audit chain with a repeated or missing entry"
        ids = [a.event_id for _, a in in_log]
        assert len(ids) == len(set(ids)), "an event audited twice"
    audits = [a for _, a in in_log if decided_a_capture(a.event_id)]  # the world's consents are audited too
    by_event: dict[str, set[Decision]] = defaultdict(set)
    for a in audits:
        by_event[a.event_id].add(a.decision)
    expected_ids = {i.capture.event_id for i in items if i.capture}
    assert expected_ids <= by_event.keys(), f"{len(expected_ids - by_event.keys())} inputs without a decision"
    assert len(by_event) == len(items), "one decision per input (malformed ones by their log position)"
    assert all(len(decisions) == 1 for decisions in by_event.values()), "a redo never changes a decision"
    forwarded = {e for e, ds in by_event.items() if Decision.FORWARDED in ds}
    governed: dict[str, set[Decision]] = defaultdict(set)
    for tenant in TENANTS:
        for r in d.read(d.names.governed(tenant), timeout=120):
            face = CODEC.decode(r.value or b"", GovernedFace)
            governed[face.event_id].add(face.decision)
    assert {e for e, ds in governed.items() if Decision.FORWARDED in ds} == forwarded
    assert all(by_event[e] == ds for e, ds in governed.items())
    runner = CliRunner()
    pubkey = d.workdir / "audit.pem"
    assert runner.invoke(app, ["audit", "pubkey", "--out", str(pubkey)], env=d.env).exit_code == 0
    verified = runner.invoke(app, ["audit", "verify", "--pubkey", str(pubkey)], env=d.env)
    assert verified.exit_code == 0, verified.output
