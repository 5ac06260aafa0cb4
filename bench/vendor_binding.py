"""Micro-benchmark: what binding vendors to their cameras by a MAC would cost per capture.

Contract 0.3.0 establishes a capture's writer by Kafka: each vendor writes only its own capture
topic (`faces.raw.<vendor>`, under ACLs), and the gateway accepts a camera's captures only on the
topic of the vendor the camera names. That costs the hot path nothing per capture (the vendor is
the record's topic). The alternative is a per-vendor key and a MAC on every capture, verified by
the gateway. This measures, in one run on this machine:

- the MAC: verifying an HMAC-SHA256 tag over each encoded FaceCaptured (~2 KB, the scenario's
  captures encoded by the gateway's codec) with the vendor's key looked up per record, the best
  ways Python's hmac/hashlib offer (`hmac.digest` one-shot with the key in hand, and a keyed
  `hmac.new` state precomputed once per vendor and `.copy()`-ed per record), compared with
  `hmac.compare_digest`;
- the decision it would be added to: `gateway.core.pipeline.process_batch` over batches of the
  same Traffic captures (the worker's batch size) with a state loaded as the worker's feeds would
  hold it (the world's cameras, consents and enrolled templates), no Kafka.

Reported: microseconds per capture of each (process CPU and wall, the median round) and the
MAC's share of a decision. The core's decision is the smaller figure the worker spends per
capture (it leaves out Faust, aiokafka and producing), so the share is the larger, honest one.
Usage: python -m bench.vendor_binding [--batches 5] [--batch 1000] [--rounds 5]
Writes bench/results/vendor_binding.json and .md. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import platform
import ssl
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench.results import write_results
from gateway.contract.codec import default_codec
from gateway.contract.models import AuditRecord
from gateway.contract.topics import TopicNames
from gateway.core.context import Context
from gateway.core.lifecycle.enrollment import enroll
from gateway.core.messages import InputRecord
from gateway.core.pipeline import process_batch
from gateway.core.state import GatewayState, consent_key
from gateway.files.calibrations import shipped
from gateway.files.policies import development_policy
from gateway.keyring import Keyring
from gateway.sdk.scenario import Capture, Traffic, World, build_world
from gateway.settings import Settings

CODEC = default_codec()
NAMES = TopicNames()
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # the scenario's traffic starts at 09:00 that day
AUDIT_PARTITIONS = 4


def _context(state: GatewayState) -> Context:
    """A fresh context: nothing decided before, new audit chains (as tests/support/core.py builds it)."""
    return Context(state, NAMES, {}, lambda partition, event_id: False, NOW, AUDIT_PARTITIONS)


def loaded_state(world: World) -> GatewayState:
    """The world's cameras, consents and enrollments as the worker's feeds would hold them (the
    logic of tests/support/core.py's loaded_state: bench does not import the tests)."""
    master = hashlib.sha256(f"bench-keys-{world.seed}".encode()).digest()
    state = GatewayState(
        keyring=Keyring.model_validate({"development_master": master}),
        fallback_policy=development_policy,
        calibrations=shipped(),
    )
    for camera in world.cameras:
        state.apply_camera(camera.tenant_id, camera.camera_id, CODEC.encode(camera))
    for consent in world.consents:
        state.apply_consent(
            consent.tenant_id, consent_key(consent.tenant_id, consent.subject_id), CODEC.encode(consent)
        )
    for offset, e in enumerate(world.enrollments):
        ctx = _context(state)
        key = consent_key(e.tenant_id, e.subject_id).encode()
        enroll(InputRecord(NAMES.enroll(e.tenant_id), 0, offset, CODEC.encode(e), key=key), ctx)
        for output in ctx.result.outputs:
            if output.topic == NAMES.enrolled:
                state.apply_enrollment(output.key.decode(), output.value)
    return state


def records(items: list[Capture], first_offset: int = 0) -> list[InputRecord]:
    """Captures on their vendors' topics, four partitions in turn (malformed ones as sent)."""
    return [
        InputRecord(
            NAMES.captures(c.vendor), n % 4, first_offset + n // 4, CODEC.encode(c.capture) if c.capture else c.raw
        )
        for n, c in enumerate(items)
    ]


def _median_round(fn: Callable[[], object], rounds: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of the median round of `fn`, by CPU time."""
    samples = []
    for _ in range(rounds):
        cpu, wall = time.process_time(), time.perf_counter()
        fn()
        samples.append((time.process_time() - cpu, time.perf_counter() - wall))
    return sorted(samples)[len(samples) // 2]


def measure_decisions(world: World, batches: list[list[InputRecord]], rounds: int) -> dict[str, Any]:
    """process_batch over each batch (a fresh context per batch, as each worker step has its own)."""
    state = loaded_state(world)
    decisions: Counter[str] = Counter()
    vendor_mismatches = 0
    for batch in batches:  # once untimed: warm (numba, faiss, caches) and check every input is decided
        result = process_batch(batch, _context(state), NOW)
        audits = [CODEC.decode(o.value or b"", AuditRecord) for o in result.outputs if o.topic == NAMES.audit]
        if len(audits) != len(batch):
            raise AssertionError(f"{len(audits)} audit records for {len(batch)} captures")
        decisions.update(a.decision.value for a in audits)
        vendor_mismatches += sum("VENDOR_MISMATCH" in a.reason_codes for a in audits)
    if vendor_mismatches:
        raise AssertionError(f"{vendor_mismatches} captures were sent on another vendor's topic")

    def decide_all() -> None:
        for batch in batches:
            process_batch(batch, _context(state), NOW)

    cpu, wall = _median_round(decide_all, rounds)
    captures = sum(len(b) for b in batches)
    return {
        "captures": captures,
        "cpu_us_per_capture": 1e6 * cpu / captures,
        "wall_us_per_capture": 1e6 * wall / captures,
        "decisions": dict(sorted(decisions.items())),
    }


def measure_macs(payloads: list[tuple[str, bytes]], rounds: int) -> dict[str, dict[str, float]]:
    """HMAC-SHA256 verification of every (vendor, value), the vendor's key looked up per record."""
    keys = {v: hashlib.sha256(f"vendor-key-{v}".encode()).digest() for v in sorted({v for v, _ in payloads})}
    keyed = {v: hmac.new(k, digestmod=hashlib.sha256) for v, k in keys.items()}
    signed = [(v, value, hmac.digest(keys[v], value, "sha256")) for v, value in payloads]
    for v, value, tag in signed:  # both ways compute the same tag
        copy = keyed[v].copy()
        copy.update(value)
        if not hmac.compare_digest(copy.digest(), tag):
            raise AssertionError("hmac.new().copy() and hmac.digest() disagree")

    def one_shot() -> None:
        for v, value, tag in signed:
            if not hmac.compare_digest(hmac.digest(keys[v], value, "sha256"), tag):
                raise AssertionError("a tag did not verify")

    def copied_state() -> None:
        for v, value, tag in signed:
            mac = keyed[v].copy()
            mac.update(value)
            if not hmac.compare_digest(mac.digest(), tag):
                raise AssertionError("a tag did not verify")

    out = {}
    for name, fn in (("hmac.digest", one_shot), ("hmac.new().copy()", copied_state)):
        fn()  # warm
        cpu, wall = _median_round(fn, rounds)
        out[name] = {"cpu_us_per_capture": 1e6 * cpu / len(signed), "wall_us_per_capture": 1e6 * wall / len(signed)}
    return out


def measure_topic_lookups(inputs: list[InputRecord], rounds: int) -> dict[str, dict[str, float]]:
    """What the topic approach does per capture: name the vendor from the record's topic, as
    `process_batch` does (`TopicNames.vendor_of`; already inside the decision's figure), and the
    same memoised per topic (a dict lookup), which is what it could cost."""
    memo = {r.topic: NAMES.vendor_of(r.topic) for r in inputs}
    if None in memo.values():
        raise AssertionError("a capture is on no vendor's capture topic")

    def parsed() -> None:
        for record in inputs:
            NAMES.vendor_of(record.topic)

    def memoised() -> None:
        for record in inputs:
            memo[record.topic]  # the lookup is what is timed

    out = {}
    for name, fn in (("vendor_of", parsed), ("memoised", memoised)):
        fn()
        cpu, wall = _median_round(fn, rounds)
        out[name] = {"cpu_us_per_capture": 1e6 * cpu / len(inputs), "wall_us_per_capture": 1e6 * wall / len(inputs)}
    return out


def run(batches: int = 5, batch: int | None = None, rounds: int = 5, seed: int = 78) -> dict[str, Any]:
    batch = batch or Settings().batch_size
    world = build_world(seed=77)
    items = Traffic(world, seed=seed).take(batches * batch)
    inputs = [records(items[n : n + batch], n // 4) for n in range(0, len(items), batch)]
    captures = [(c.vendor, CODEC.encode(c.capture)) for c in items if c.capture is not None]
    decisions = measure_decisions(world, inputs, rounds)
    macs = measure_macs(captures, rounds)
    topic = measure_topic_lookups([r for batch in inputs for r in batch], rounds)
    best = min(macs, key=lambda name: macs[name]["cpu_us_per_capture"])
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "openssl": ssl.OPENSSL_VERSION,
        "settings": {
            "batches": batches,
            "batch_size": batch,
            "worker_batch_size": Settings().batch_size,
            "rounds": rounds,
            "audit_partitions": AUDIT_PARTITIONS,
            "enrolled_per_tenant": len(world.enrollments) // len(world.tenants),
            "tenants": list(world.tenants),
            "vendors": dict(sorted(Counter(c.vendor for c in items).items())),
            "mac": "HMAC-SHA256 over the record's value, 32-byte key per vendor, compare_digest",
        },
        "record_bytes": sum(len(v) for _, v in captures) // max(1, len(captures)),
        "decision": decisions,
        "mac": macs,
        "best_mac": best,
        "mac_share_of_decision": {
            "cpu": macs[best]["cpu_us_per_capture"] / decisions["cpu_us_per_capture"],
            "wall": macs[best]["wall_us_per_capture"] / decisions["wall_us_per_capture"],
        },
        "topic_lookup": topic,
    }


def markdown(result: dict[str, Any]) -> str:
    s, d, share, t = result["settings"], result["decision"], result["mac_share_of_decision"], result["topic_lookup"]
    vendors = ", ".join(f"{v} {n:,}" for v, n in s["vendors"].items())
    lines = [
        f"# Binding vendors to cameras: per-vendor topics vs a per-vendor MAC ({d['captures']:,} captures, "
        f"~{result['record_bytes']:,} bytes each, one process, one run)",
        "",
        f"Settings: {s['batches']} x {s['batch_size']:,} captures per batch (the worker's batch size: "
        f"{s['worker_batch_size']:,}), median of "
        f"{s['rounds']} rounds; {s['enrolled_per_tenant']} enrolled per tenant ({', '.join(s['tenants'])}); "
        f"captures by vendor: {vendors}; MAC: {s['mac']}; Python {result['python']}, {result['openssl']}.",
        "",
        "| per capture | CPU µs | wall µs | share of a decision (CPU) |",
        "|---|---:|---:|---:|",
        f"| decision: `process_batch` (decode, screen, protect and search, audit chain, governed event) "
        f"| {d['cpu_us_per_capture']:,.1f} | {d['wall_us_per_capture']:,.1f} | 100% |",
        "| binding by per-vendor topics under ACLs: Kafka authorises the writer, the gateway adds no check | 0 | 0 | 0% |",
        f"| - naming the vendor from the record's topic, as the decision does now (`TopicNames.vendor_of`, "
        f"inside the decision's figure) | {t['vendor_of']['cpu_us_per_capture']:,.2f} | {t['vendor_of']['wall_us_per_capture']:,.2f} | "
        f"{100 * t['vendor_of']['cpu_us_per_capture'] / d['cpu_us_per_capture']:.2f}% |",
        f"| - the same memoised per topic (a dict lookup; not what the gateway does now) "
        f"| {t['memoised']['cpu_us_per_capture']:,.2f} | {t['memoised']['wall_us_per_capture']:,.2f} | "
        f"{100 * t['memoised']['cpu_us_per_capture'] / d['cpu_us_per_capture']:.2f}% |",
    ]
    for name, m in result["mac"].items():
        lines.append(
            f"| binding by MAC: verify HMAC-SHA256 with `{name}` | {m['cpu_us_per_capture']:,.2f} | "
            f"{m['wall_us_per_capture']:,.2f} | {100 * m['cpu_us_per_capture'] / d['cpu_us_per_capture']:.2f}% |"
        )
    lines += [
        "",
        f"The best MAC ({result['best_mac']}) adds {result['mac'][result['best_mac']]['cpu_us_per_capture']:,.2f} µs, "
        f"{100 * share['cpu']:.2f}% of a decision's CPU ({100 * share['wall']:.2f}% of its wall time), to every capture. "
        "Either way the decision names the capture's vendor (from its topic, or the MAC's key id) and compares it "
        "with the camera's. Decisions: " + ", ".join(f"{k} {n:,}" for k, n in d["decisions"].items()) + ".",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--batch", type=int, default=None, help="captures per batch (default: the worker's)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    result = run(args.batches, args.batch, args.rounds)
    write_results("vendor_binding", result, markdown(result))


if __name__ == "__main__":
    main()
