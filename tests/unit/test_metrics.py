"""A batch's decisions counted once per label set add up to counting each decision; the series an
alert reads exist at 0 from the start; Faust's own sensor only when asked for; input offsets read
from Faust's monitor, enrolled subjects from the state and the checkpoint age from the partitions
when scraped."""

from __future__ import annotations

import time
from pathlib import Path

import faust
import pytest
from faust.sensors.prometheus import PrometheusMonitor
from faust.types import TP
from prometheus_client import CollectorRegistry

from gateway.contract.vocabulary import Decision
from gateway.core.audit.chain import ChainHead
from gateway.core.policy.outcome import Outcome
from gateway.core.policy.rules import CATALOGUE, Rule
from gateway.core.records import UNKNOWN_TENANT
from gateway.sdk.scenario import build_world
from gateway.shell.metrics import (
    ALERTING_RULES,
    CAPTURE_DECISIONS,
    EnrolledSubjects,
    GatewayMetrics,
    InputOffsets,
    faust_sensors,
)
from gateway.shell.partitions import PartitionState
from gateway.shell.worker import Worker
from tests.support.core import loaded_state
from tests.support.worker import unstarted_worker


@pytest.fixture
def worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Worker:
    return unstarted_worker(tmp_path, monkeypatch, ["acme", "beta"])


def test_a_batch_is_counted_per_tenant_decision_rule_and_alert() -> None:
    forward = Outcome(Decision.FORWARDED, (Rule.SEPARATE_CONSENT, Rule.NOTICE))
    strip = Outcome(Decision.STRIPPED, (Rule.SEPARATE_CONSENT,), alerts=(Rule.MINORS,))
    metrics = GatewayMetrics(CollectorRegistry())
    metrics.count([("acme", forward)] * 3 + [("acme", strip), ("beta", strip), ("beta", strip)])
    metrics.count([("acme", forward)])
    sample = metrics.registry.get_sample_value

    assert sample("facegate_decisions_total", {"tenant": "acme", "decision": Decision.FORWARDED.value}) == 4
    assert sample("facegate_decisions_total", {"tenant": "beta", "decision": Decision.STRIPPED.value}) == 2
    rule = {"tenant": "acme", "decision": Decision.FORWARDED.value}
    assert sample("facegate_rule_citations_total", {**rule, "rule": "R01"}) == 4
    assert sample("facegate_rule_citations_total", {**rule, "rule": "R02"}) == 4
    assert (
        sample("facegate_rule_citations_total", {"tenant": "beta", "decision": Decision.STRIPPED.value, "rule": "R01"})
        == 2
    )
    assert sample("facegate_alerts_total", {"tenant": "beta", "rule": "R03"}) == 2
    assert sample("facegate_alerts_total", {"tenant": "acme", "rule": "R03"}) == 1
    assert sample("facegate_alerts_total", {"tenant": "acme", "rule": "R01"}) is None


def test_every_alert_and_capture_decision_is_exported_at_0_before_the_first() -> None:
    """increase() and rate() never count a series' first sample: one born at 1 (an R15 raised once
    per tenant) never showed in FaceGateDecisionAnomaly."""
    metrics = GatewayMetrics(CollectorRegistry())
    metrics.declare(["acme", "beta"])
    sample = metrics.registry.get_sample_value
    for tenant in ("acme", "beta"):
        for rule in ("R05", "R15", "R18"):
            assert sample("facegate_alerts_total", {"tenant": tenant, "rule": rule}) == 0, (tenant, rule)
    for tenant in ("acme", "beta", UNKNOWN_TENANT):
        for decision in ("FORWARDED", "STRIPPED", "BLOCKED", "REJECTED"):
            assert sample("facegate_decisions_total", {"tenant": tenant, "decision": decision}) == 0
    assert sample("facegate_alerts_total", {"tenant": UNKNOWN_TENANT, "rule": "R05"}) is None, "no camera, no alert"

    metrics.count([("acme", Outcome(Decision.ENROLLED, (), (), (Rule.FILING_THRESHOLD,)))])
    assert sample("facegate_alerts_total", {"tenant": "acme", "rule": "R15"}) == 1


def test_the_alerting_rules_are_those_whose_action_raises_an_alert() -> None:
    assert set(ALERTING_RULES) == {rule for rule, spec in CATALOGUE.items() if "alert" in spec.action}
    assert {d.value for d in CAPTURE_DECISIONS} == {"FORWARDED", "STRIPPED", "BLOCKED", "REJECTED"}


def test_a_worker_exports_its_tenants_alerts_at_0_before_any_decision(worker: Worker) -> None:
    sample = worker.metrics.registry.get_sample_value
    assert {
        (tenant, rule.value): sample("facegate_alerts_total", {"tenant": tenant, "rule": rule.value})
        for tenant in ("acme", "beta")
        for rule in ALERTING_RULES
    } == {(tenant, rule.value): 0 for tenant in ("acme", "beta") for rule in ALERTING_RULES}
    assert sample("facegate_decisions_total", {"tenant": "beta", "decision": "BLOCKED"}) == 0


@pytest.mark.parametrize("enabled", [False, True])
def test_fausts_own_sensor_is_there_only_when_asked_for(enabled: bool) -> None:
    app = faust.App("sensor-test", broker="kafka://127.0.0.1:1")  # constructed, never started
    metrics = GatewayMetrics(CollectorRegistry())
    faust_sensors(app, metrics.registry, enabled)
    names = {m.name for m in metrics.registry.collect()}
    assert isinstance(app.monitor, PrometheusMonitor) is enabled
    assert any(n.startswith("facegate_faust_") for n in names) is enabled
    assert "facegate_decisions" in names, "FaceGate's own metrics either way"


def test_input_offsets_are_read_from_fausts_monitor_for_the_partitions_held() -> None:
    app = faust.App("offsets-test", broker="kafka://127.0.0.1:1")  # constructed, never started
    held, revoked = TP("faces.raw.lumen", 0), TP("faces.raw.lumen", 1)
    app.monitor.track_tp_end_offset(held, 120)
    app.monitor.track_tp_end_offset(revoked, 80)
    app.monitor.on_tp_commit({held: 100, revoked: 80})
    metrics = GatewayMetrics(CollectorRegistry())
    metrics.registry.register(InputOffsets(app, lambda: {held}))
    sample = metrics.registry.get_sample_value
    where = {"topic": "faces.raw.lumen", "partition": "0"}
    assert (sample("facegate_input_end_offset", where), sample("facegate_input_committed_offset", where)) == (120, 100)
    assert sample("facegate_input_end_offset", {**where, "partition": "1"}) is None, "its next owner's to report"
    app.monitor.track_tp_end_offset(held, 150)
    assert sample("facegate_input_end_offset", where) == 150, "read when scraped"


def test_enrolled_subjects_are_counted_from_the_state_when_scraped() -> None:
    world = build_world(seed=5, subjects_per_tenant=3)
    state = loaded_state(world)
    metrics = GatewayMetrics(CollectorRegistry())
    metrics.registry.register(EnrolledSubjects(state.enrolled_counts))
    sample = metrics.registry.get_sample_value
    enrolled = {t: sum(e.tenant_id == t for e in world.enrollments) for t in world.tenants}
    assert {t: sample("facegate_enrolled_subjects", {"tenant": t}) for t in world.tenants} == enrolled
    gone = next(e for e in world.enrollments if e.tenant_id == "acme")
    state.apply_enrollment(f"acme/{gone.subject_id}", None)  # a tombstone: erased
    assert sample("facegate_enrolled_subjects", {"tenant": "acme"}) == enrolled["acme"] - 1, "read when scraped"
    assert sample("facegate_enrolled_subjects", {"tenant": "beta"}) == enrolled["beta"]


def test_the_checkpoint_age_is_read_when_scraped_and_grows_while_nothing_signs(worker: Worker) -> None:
    """Set by the signing task after it signed, the gauge froze while signing waited on Kafka and
    read about 0 otherwise: FaceGateAuditCheckpointStale could never fire."""

    def age() -> float:
        value = worker.metrics.registry.get_sample_value("facegate_audit_checkpoint_age_seconds")
        assert value is not None
        return value

    assert age() == 0, "nothing written, nothing to sign"
    head = ChainHead(3, "ab" * 32)
    worker.partitions.load(0, PartitionState(head=head))  # taken up, a decision written, not yet signed
    assert age() < 5, "counted from when the chain was taken up, not from 1970"
    worker.partitions.mark_signed({0: head}, time.time() - 400)  # signed 400 s ago; every signing since hangs
    stale = age()
    assert stale >= 400, "past the chart's 300 s with nothing setting the gauge"
    deadline = time.monotonic() + 5  # the clock moves on; nothing else does
    while age() <= stale:
        assert time.monotonic() < deadline, "grows between scrapes while nothing signs"
    worker.partitions.mark_signed({0: head}, time.time())
    assert age() < 5
