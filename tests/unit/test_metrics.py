"""A batch's decisions counted once per label set add up to counting each decision; Faust's own
sensor only when asked for; input offsets read from Faust's monitor and enrolled subjects from the
state when scraped."""

from __future__ import annotations

import faust
import pytest
from faust.sensors.prometheus import PrometheusMonitor
from faust.types import TP
from prometheus_client import CollectorRegistry

from gateway.contract.vocabulary import Decision
from gateway.core.policy.outcome import Outcome
from gateway.core.policy.rules import Rule
from gateway.sdk.scenario import build_world
from gateway.shell.metrics import EnrolledSubjects, GatewayMetrics, InputOffsets, faust_sensors
from tests.support.core import loaded_state


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
