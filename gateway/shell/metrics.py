"""FaceGate's own Prometheus metrics. Labels are tenants, decisions and rule ids: never subjects,
pseudonyms, event ids or anything biometric (a label value is public to whoever scrapes)."""

from __future__ import annotations

from collections import Counter as TallyCounter
from collections.abc import Callable, Iterable, Iterator, Mapping

import faust
from faust.sensors.prometheus import setup_prometheus_sensors
from faust.types import TP
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.contract.vocabulary import Decision
from gateway.core.policy.outcome import Outcome
from gateway.core.policy.rules import Rule
from gateway.core.records import UNKNOWN_TENANT

# The rules a decision raises an audit alert under (docs/rules.md): R05 blocking a capture in a
# private space, R15 on the enrollment that reaches the filing threshold, R18 an identification
# beyond the tenant's baseline.
ALERTING_RULES = (Rule.PRIVATE_SPACE, Rule.FILING_THRESHOLD, Rule.ANOMALY)
# What a capture is decided as: the chart's rejected and blocked shares are of these.
CAPTURE_DECISIONS = (Decision.FORWARDED, Decision.STRIPPED, Decision.BLOCKED, Decision.REJECTED)


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.decisions = Counter(
            "facegate_decisions",
            "Decisions by tenant and decision.",
            ["tenant", "decision"],
            registry=self.registry,
        )
        self.rules = Counter(
            "facegate_rule_citations",
            "Rules cited by decisions.",
            ["tenant", "decision", "rule"],
            registry=self.registry,
        )
        self.alerts = Counter(
            "facegate_alerts",
            "Audit alerts raised, by tenant and rule (every tenant the worker reads and rule that raises one, "
            "from 0 at start).",
            ["tenant", "rule"],
            registry=self.registry,
        )
        self.duplicates = Counter("facegate_duplicates_dropped", "Repeated event ids dropped.", registry=self.registry)
        self.latency = Histogram(
            "facegate_decision_seconds",
            "Time from a batch's arrival to its outputs being acknowledged, per event.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        # How many captures each batch held: a worker's CPU per decision is set by the batch sizes its
        # load allows (small under a light load), see docs/operations.md's sizing.
        self.batch_captures = Histogram(
            "facegate_batch_captures",
            "Captures per decided batch.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=self.registry,
        )
        # Where a batch of captures spends its time, so a latency can be explained from /metrics:
        # queued (its oldest capture, from Faust handing it over until the batch is taken: the batch
        # before it in flight), waiting (feeds, a rebalance, the lock), deciding, and the two
        # acknowledged produces (effects, then audit records once Kafka holds them: docs/design.md).
        self.batch_phases = Histogram(
            "facegate_batch_phase_seconds",
            "Seconds each decided batch of captures spent per phase: queued, wait, decide, effects, audit.",
            ["phase"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.ready = Gauge(
            "facegate_ready", "1 while the worker decides (what /readyz says), else 0.", registry=self.registry
        )
        self.feed_lag = Gauge(
            "facegate_feed_lag_seconds",
            "Seconds since the consent, enrollment and camera feeds were last read up to their end; past "
            "FACEGATE_FEED_LAG_BOUND_MS the worker strips instead of forwarding and is not ready.",
            registry=self.registry,
        )
        self.feeds_behind_decisions = Counter(
            "facegate_feeds_behind_batches",
            "Batches decided while the feeds lagged beyond their bound (nothing forwarded).",
            registry=self.registry,
        )
        self.internal_errors = Counter(
            "facegate_internal_errors",
            "Records whose decision raised an error (a bug): each was rejected alone and the worker went on; "
            "also retention sweeps that did (the next sweep tries again).",
            registry=self.registry,
        )
        self.checkpoint_age = Gauge(
            "facegate_audit_checkpoint_age_seconds",
            "Seconds since this worker last signed the audit chain it signed longest ago, of those it has "
            "written since it started or took them over (0: none); computed when scraped. Signed every second "
            "while deciding and every minute when idle, so past a minute signing waits (Kafka below "
            "min.insync.replicas) or the worker is stuck.",
            registry=self.registry,
        )
        self.produce_stalled = Gauge(
            "facegate_produce_stalled_seconds",
            "Seconds the oldest produce call in flight has waited for Kafka's acknowledgement (0 with none): "
            "past FACEGATE_PRODUCE_STALL_MS the worker is not ready (too few in-sync replicas, brokers down) "
            "and decides nothing until Kafka takes the records.",
            registry=self.registry,
        )
        self.ignored = Gauge(
            "facegate_registry_records_ignored",
            "Registry records that did not decode.",
            registry=self.registry,
        )
        self.oldest_undecided = Gauge(
            "facegate_oldest_undecided_input_seconds",
            "Broker age of the oldest raw capture this worker has taken or stalled on and not decided "
            "(gateway/shell/backlog.py); at facegate_raw_retention_seconds retention deletes it undecided.",
            registry=self.registry,
        )
        self.raw_retention = Gauge(
            "facegate_raw_retention_seconds",
            "FACEGATE_RAW_RETENTION_MS in seconds: how long the raw topic keeps a capture.",
            registry=self.registry,
        )
        self.needing_reenrollment = Gauge(
            "facegate_templates_needing_reenrollment",
            "Enrolled templates made under another calibration of their model than this worker's: never "
            "matched or shared until their subjects re-enroll.",
            ["model"],
            registry=self.registry,
        )

    def declare(self, tenants: Iterable[str]) -> None:
        """Export at 0 before anything is counted every alert the tenants can raise and every
        capture decision, theirs and _unknown's. A labelled series appears only at its first
        increment, and increase() and rate() never count a series' first sample: an alert raised
        once after a start (R15: once per tenant) never reached the chart's FaceGateDecisionAnomaly
        (prometheus_client's advice for label values known in advance)."""
        known = sorted(set(tenants))
        for tenant in known:
            for rule in ALERTING_RULES:
                self.alerts.labels(tenant, rule.value)
        for tenant in [*known, UNKNOWN_TENANT]:
            for decision in CAPTURE_DECISIONS:
                self.decisions.labels(tenant, decision.value)

    def count(self, decided: Iterable[tuple[str, Outcome]]) -> None:
        """Count a batch's decisions (tenant, outcome): one increment per label set, not per
        decision (a label lookup per decision and rule was 6.6% of the capture agent's time)."""
        decisions: TallyCounter[tuple[str, str]] = TallyCounter()
        rules: TallyCounter[tuple[str, str, str]] = TallyCounter()
        alerts: TallyCounter[tuple[str, str]] = TallyCounter()
        for tenant, outcome in decided:
            decision = outcome.decision.value
            decisions[tenant, decision] += 1
            rules.update((tenant, decision, rule) for rule in outcome.rule_ids)
            alerts.update((tenant, rule) for rule in outcome.alerts)
        for (tenant, decision), n in decisions.items():
            self.decisions.labels(tenant, decision).inc(n)
        for (tenant, decision, rule), n in rules.items():
            self.rules.labels(tenant, decision, rule).inc(n)
        for (tenant, rule), n in alerts.items():
            self.alerts.labels(tenant, rule).inc(n)


class InputOffsets(Collector):
    """Each input partition this worker holds: its end offset and its committed offset, as Faust's
    default monitor already keeps them for every message (the dashboard's lag panels subtract
    them). Read when scraped: no work per message, unlike Faust's own Prometheus sensor."""

    def __init__(self, app: faust.App, assigned: Callable[[], Iterable[TP]]) -> None:
        self.app = app
        self.assigned = assigned  # partitions revoked since are left to their new owner

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["topic", "partition"]
        end = GaugeMetricFamily(
            "facegate_input_end_offset", "An input partition's end offset, as last fetched.", labels=labels
        )
        committed = GaugeMetricFamily(
            "facegate_input_committed_offset", "The group's committed offset of an input partition.", labels=labels
        )
        monitor = self.app.monitor
        for tp in sorted(self.assigned()):
            where = [tp.topic, str(tp.partition)]
            if (offset := monitor.tp_end_offsets.get(tp)) is not None:
                end.add_metric(where, offset)
            if (offset := monitor.tp_committed_offsets.get(tp)) is not None:
                committed.add_metric(where, offset)
        yield end
        yield committed


class EnrolledSubjects(Collector):
    """Enrolled subjects per tenant, counted when scraped (a few index sizes per tenant). A gauge
    set on a timer was up to its period behind: a benchmark timing a restart until the whole
    gallery is searchable read the end of the load up to 5 s late."""

    def __init__(self, counts: Callable[[], Mapping[str, int]]) -> None:
        self.counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("facegate_enrolled_subjects", "Enrolled subjects per tenant.", labels=["tenant"])
        for tenant, count in sorted(self.counts().items()):
            family.add_metric([tenant], count)
        yield family


def register_scraped(
    registry: CollectorRegistry,
    app: faust.App,
    assigned: Callable[[], Iterable[TP]],
    enrolled: Callable[[], Mapping[str, int]],
) -> None:
    """What a worker reads only when scraped: its input offsets and its enrolled subjects. The web
    server runs on the event loop, so a scrape comes between batches and feed updates."""
    registry.register(InputOffsets(app, assigned))
    registry.register(EnrolledSubjects(enrolled))


def faust_sensors(app: faust.App, registry: CollectorRegistry, enabled: bool) -> None:
    """Faust's own Prometheus sensor in `registry`, if enabled (FACEGATE_FAUST_METRICS). Off by
    default: it updates labelled metrics for every message and event in and out, which cost a
    backlog 10% of its decisions per second (bench/PROFILES.md), and what an operator watches
    (decisions, batches, the oldest undecided input, stalls, lag: InputOffsets) is FaceGate's own."""
    if enabled:
        # A fixed prefix: Faust's default is the app id, which would rename the metrics per deployment.
        setup_prometheus_sensors(app, pattern="/faust-metrics", registry=registry, name_prefix="facegate_faust")
