"""Retention the disk obeys (issue 16): topic configs derived from the retention settings bound
how long a record physically stays on a broker, not only when it becomes deletable."""

from __future__ import annotations

from gateway.contract.topics import compacting_within, contract_topics, deleting_after, internal_topic_specs
from gateway.settings import HOUR_MS, Settings


def test_raw_captures_roll_and_go_within_a_fifth_over_their_retention() -> None:
    specs = {s.name: s.topic_config for s in contract_topics(Settings(), ["acme"], ["lumen"])}
    raw = specs["facegate.faces.raw.lumen"]
    assert raw["retention.ms"] == str(HOUR_MS)
    assert int(raw["segment.ms"]) == HOUR_MS // 10  # not Kafka's week
    assert int(raw["segment.ms"]) + int(raw["file.delete.delay.ms"]) <= HOUR_MS // 5
    audit = specs["facegate.audit"]
    assert int(audit["segment.ms"]) == 7 * 24 * HOUR_MS  # long retention: weekly segments, no more


def test_erased_templates_and_consents_are_compacted_within_the_bound() -> None:
    settings = Settings(erased_bound_ms=600_000)
    enrolled = {s.name: s.topic_config for s in internal_topic_specs(settings)}["facegate.enrolled"]
    consent = {s.name: s.topic_config for s in contract_topics(settings, ["acme"], [])}["facegate.consent.acme"]
    for config in (enrolled, consent):
        assert config["cleanup.policy"] == "compact"
        assert int(config["max.compaction.lag.ms"]) <= 300_000 and int(config["segment.ms"]) <= 300_000
        assert int(config["delete.retention.ms"]) <= 300_000
        assert float(config["min.cleanable.dirty.ratio"]) <= 0.1


def test_short_bounds_keep_a_floor_of_a_second() -> None:
    assert deleting_after(3000)["segment.ms"] == "1000"
    assert compacting_within(1000)["max.compaction.lag.ms"] == "1000"


def test_a_topic_kept_for_good_rolls_weekly_not_every_second() -> None:
    kept = deleting_after(-1)  # FACEGATE_AUDIT_RETENTION_MS=-1: audit records kept forever
    assert kept["retention.ms"] == "-1" and kept["segment.ms"] == str(7 * 24 * HOUR_MS)
