"""A batch's decisions counted once per label set add up to counting each decision."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from gateway.contract.vocabulary import Decision
from gateway.core.policy.outcome import Outcome
from gateway.core.policy.rules import Rule
from gateway.shell.metrics import GatewayMetrics


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
