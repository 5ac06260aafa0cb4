"""The Faust worker: one agent per input topic, feeds for the registries, web endpoints.

The capture agent takes batches of events, hands them to the core's pipeline, produces what it
returns, waits until Kafka acknowledged all of it, and only then records the event ids as seen
and lets Faust commit the offsets (at-least-once; ids are deterministic so consumers dedupe).
An unexpected error ends the process without committing, and a batch cut short by a stop or a
rebalance is never acknowledged (acks.py): it is redone by the partition's next owner, never lost.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, cast

import faust
from faust.sensors.prometheus import setup_prometheus_sensors
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.contract.topics import TopicNames
from gateway.contract.vocabulary import Decision
from gateway.core.audit.chain import ChainHead
from gateway.core.audit.signing import sign_checkpoint
from gateway.core.lifecycle.enrollment import enroll
from gateway.core.lifecycle.erasure import DueErasure, due_erasures, erase, on_consent
from gateway.core.lifecycle.sharing import share
from gateway.core.lifecycle.step import Step
from gateway.core.messages import BatchResult, InputRecord, Output
from gateway.core.pipeline import process_batch
from gateway.kafka.provisioning import ensure_tenant_topics
from gateway.shell.acks import hold, release
from gateway.shell.audit_tail import AuditTail, PartitionHistory
from gateway.shell.feeds import FeedReader
from gateway.shell.metrics import GatewayMetrics
from gateway.shell.runtime import Runtime

log = logging.getLogger("facegate")

CRASH_EXIT_CODE = 70  # EX_SOFTWARE: restart me, the batch was not committed
DRAIN_SECONDS = 20  # a stop waits this long for the batch in flight (the chart's grace period is 60 s)
_REFUSALS = (Decision.BLOCKED, Decision.SHARE_BLOCKED)


class Worker:
    """Builds the Faust app around a Runtime; `app` is what `faust worker` runs."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        settings = runtime.settings
        self.settings = settings
        self.names = TopicNames(settings.topic_prefix)
        self.metrics = GatewayMetrics()
        self.ready = False
        self.known_topics: set[str] = set()
        datadir = settings.cache_dir / "faust" / settings.app_id  # Faust's default is the working directory
        datadir.mkdir(parents=True, exist_ok=True)
        self.app = faust.App(
            settings.app_id,
            broker=[f"kafka://{server}" for server in settings.bootstrap_servers.split(",")],
            broker_credentials=_credentials(settings),
            key_serializer="raw",
            value_serializer="raw",
            processing_guarantee="at_least_once",
            topic_partitions=settings.partitions,
            topic_replication_factor=settings.replication_factor,
            store="memory://",
            web_host=settings.web_host,
            web_port=settings.web_port,
            web_tables_enabled=False,  # the table endpoint would expose registry contents
            broker_session_timeout=settings.session_timeout_ms / 1000,
            broker_heartbeat_interval=min(3.0, settings.session_timeout_ms / 3000),
            stream_wait_empty=False,
            producer_acks=-1,
            web_in_thread=False,
            datadir=str(datadir),
        )
        setup_prometheus_sensors(self.app, pattern="/faust-metrics", registry=self.metrics.registry)
        self._declare_tables()
        self._declare_agents()
        self._declare_rebalance_handlers()
        self._declare_web()

    # -- state ------------------------------------------------------------------------------
    def _declare_tables(self) -> None:
        state = self.runtime.state
        self.feeds = FeedReader(
            self.settings,
            {
                self.names.cameras: state.apply_camera,
                self.names.consent: state.apply_consent,
                self.names.enrolled: state.apply_enrollment,
            },
        )
        self.app.add_dependency(self.feeds)
        # Chain heads are read from the audit log itself when a partition is first written
        # after start-up or a rebalance: the log is the truth, so a redo continues the chain.
        self.heads: dict[int, ChainHead] = {}
        self.decided: dict[int, PartitionHistory] = {}
        self.signed: dict[int, ChainHead] = {}
        self.audit_tail = AuditTail(self.settings, self.names.audit)
        # Captures, lifecycle records, sweeps and their audit records share the chains: one at a time.
        self.audit_lock = asyncio.Lock()
        # Partitions (of every input topic, co-partitioned) this worker owns once a rebalance has
        # settled. Events fetched before a revocation may still sit in a batch buffer: they wait
        # for the rebalance to settle, then are decided here if the partition is still ours, or
        # left unacknowledged to its new owner.
        self.owned: set[int] = set()
        self.settled = asyncio.Event()
        self.stopping = False  # set on shutdown: nothing new is decided, the batch in flight ends

    # -- agents -----------------------------------------------------------------------------
    def _declare_agents(self) -> None:
        raw = self.app.topic(self.names.raw, key_serializer="raw", value_serializer="raw")
        # Co-partitioned with the raw captures (same partition count, same subscribers), so partition
        # p of every input belongs to one worker, which alone appends to audit partition p.
        lifecycle_topics = self.app.topic(
            self.names.consent,
            self.names.enroll,
            self.names.share_requests,
            key_serializer="raw",
            value_serializer="raw",
        )
        settings = self.settings

        @self.app.agent(raw, concurrency=1, name="facegate.captures")
        async def captures(stream: faust.StreamT[bytes]) -> None:
            # An event is acknowledged only once decided, i.e. once Kafka took its outputs (acks.py).
            batches = cast(Any, stream).take_events(settings.batch_size, settings.batch_wait_ms / 1000)
            async for events in batches:
                await self._decide_held(events, partial(self.handle, events))

        @self.app.agent(lifecycle_topics, concurrency=1, name="facegate.lifecycle")
        async def lifecycle(stream: faust.StreamT[bytes]) -> None:
            async for event in stream.events():
                await self._decide_held([event], partial(self.decide_lifecycle, event))

        @self.app.timer(interval=settings.sweep_interval_ms / 1000)  # type: ignore[untyped-decorator]
        async def retention_sweep() -> None:
            await self.sweep()

        @self.app.timer(interval=5.0)  # type: ignore[untyped-decorator]
        async def gauges() -> None:
            state = self.runtime.state
            for tenant in {t for (t, _, _) in state.indexes}:
                self.metrics.enrolled.labels(tenant).set(state.enrolled_count(tenant))
            self.metrics.ignored.set(state.ignored_records)

        @self.app.timer(interval=1.0)  # type: ignore[untyped-decorator]
        async def checkpoints() -> None:
            await self.sign_heads()

        @self.app.on_before_shutdown.connect  # type: ignore[arg-type]
        async def drain(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
            # Faust cancels the agents after this, then commits what was acknowledged. Deciding
            # nothing new and letting the batch in flight finish means a restart redoes nothing;
            # a batch stuck past the bound (Kafka unreachable) is left to the next owner.
            self.stopping = True
            try:
                async with asyncio.timeout(DRAIN_SECONDS), self.audit_lock:
                    pass
            except TimeoutError:
                log.warning("stopping with a batch in flight after %ds; its next owner redoes it", DRAIN_SECONDS)
            await self.sign_heads()

        @self.app.timer(interval=60.0)  # type: ignore[untyped-decorator]
        async def forget_old_event_ids() -> None:
            cutoff = int(time.time() * 1000) - settings.dedupe_window_ms
            for history in self.decided.values():
                history.forget_before(cutoff)

    def _declare_rebalance_handlers(self) -> None:
        @self.app.on_partitions_revoked.connect  # type: ignore[arg-type]
        async def forget_heads(sender: Any, revoked: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
            # Faust awaits this before the group moves on: holding the lock, the batch in flight
            # finishes (Kafka acknowledges it) before a new owner can read these chains' heads.
            self.settled.clear()
            async with self.audit_lock:
                for tp in revoked:
                    if tp.topic == self.names.raw:
                        self.owned.discard(tp.partition)
                        self.heads.pop(tp.partition, None)
                        self.decided.pop(tp.partition, None)
                        self.signed.pop(tp.partition, None)

        @self.app.on_partitions_assigned.connect  # type: ignore[arg-type]
        async def take_over(sender: Any, assigned: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
            async with self.audit_lock:
                self.owned = {tp.partition for tp in assigned if tp.topic == self.names.raw}

        @self.app.on_rebalance_complete.connect  # type: ignore[arg-type]
        async def recovered(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
            self.settled.set()
            self.ready = True
            self.metrics.ready.set(1)

    async def _decide_held(self, events: list[Any], decide: Callable[[], Awaitable[list[Any]]]) -> None:
        """Run `decide` on events held unacknowledged (acks.py) and release those it decided. An
        unexpected error ends the process without committing them: redone after a restart."""
        hold(events)
        try:
            decided = await decide()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("unexpected error; exiting without committing %d events", len(events))
            os._exit(CRASH_EXIT_CODE)
        release(decided)

    def _ours(self, partition: int) -> bool:
        """Whether this worker decides the partition now: it owns it and is not stopping."""
        return partition in self.owned and not self.stopping

    async def handle(self, events: list[Any]) -> list[Any]:
        """Decide a batch; returns the events decided (the others' partitions were revoked while
        the batch waited, or the worker is stopping: their partitions' next owner decides them)."""
        started = time.perf_counter()
        # Fail closed: nothing is decided before the tables have recovered and the feeds caught up.
        await self.app.tables.wait_until_recovery_completed()
        await self.feeds.caught_up.wait()
        arrived = datetime.now(UTC) - timedelta(seconds=time.perf_counter() - started)
        await self.settled.wait()
        async with self.audit_lock:
            events = [e for e in events if self._ours(e.message.partition)]
            if not events:
                return []
            records = [
                InputRecord(e.message.topic, e.message.partition, e.message.offset, e.message.value) for e in events
            ]
            await self._load_history({r.partition for r in records})
            heads = dict(self.heads)
            result = process_batch(
                records,
                self.runtime.state,
                self.names,
                heads,
                self._seen,
                datetime.now(UTC),
                self.settings.partitions,
                arrived,
            )
            await self._commit(result, heads)
        elapsed = time.perf_counter() - started
        for _ in records:
            self.metrics.latency.observe(elapsed)
        return events

    async def decide_lifecycle(self, event: Any) -> list[Any]:
        """An enrollment, consent record or share request, decided by the core's lifecycle steps;
        returns [event], or [] if its partition was revoked meanwhile (its new owner decides it)."""
        await self.feeds.caught_up.wait()
        await self.settled.wait()
        message = event.message
        record = InputRecord(message.topic, message.partition, message.offset, message.value, message.timestamp)
        key = message.key.decode("utf-8", "replace") if message.key is not None else None

        def decide(step: Step) -> None:
            if message.topic == self.names.enroll:
                enroll(record, step)
            elif message.topic == self.names.share_requests:
                share(record, step)
            else:
                on_consent(record, key, step)

        async with self.audit_lock:
            if not self._ours(message.partition):
                return []
            if message.topic == self.names.consent and key is not None:
                # Bind a withdrawal here, before its ERASED record exists: no capture this worker
                # decides after that record can be forwarded, even if the feed is behind.
                self.runtime.state.apply_consent(key, message.value, message.partition, message.offset)
            await self._load_history({record.partition})
            step = self._step(record.partition)
            decide(step)
            refused = any(o.decision in _REFUSALS for _, o in step.result.decisions)
            if refused and message.topic != self.names.consent:
                # The consent or enrollment may have been written just before this request: read
                # the feeds up to now and decide again (the core is pure, so a redo is free).
                await self.feeds.sync({self.names.consent, self.names.enrolled})
                step = self._step(record.partition)
                decide(step)
            await self._commit(step.result, step.heads)
            return [event]

    async def sweep(self) -> None:
        """Erase enrollments past expiry or retention on the partitions this worker owns (R11)."""
        if not self.ready or not self.feeds.caught_up.is_set() or not self.settled.is_set():
            return
        by_partition: dict[int, list[DueErasure]] = {}
        for due in due_erasures(self.runtime.state, datetime.now(UTC), self._ours):
            by_partition.setdefault(due.partition, []).append(due)
        for partition, items in sorted(by_partition.items()):
            async with self.audit_lock:
                if not self._ours(partition):
                    continue
                await self._load_history({partition})
                step = self._step(partition)
                for due in items:
                    erase(step, due)
                await self._commit(step.result, step.heads)

    def _step(self, partition: int) -> Step:
        audit_partition = partition % self.settings.partitions
        return Step(self.runtime.state, self.names, dict(self.heads), self._seen, datetime.now(UTC), audit_partition)

    def _seen(self, partition: int, event_id: str) -> bool:
        return event_id in self.decided[partition].decided

    async def _load_history(self, partitions: set[int]) -> None:
        """Chain heads and recent event ids of audit partitions first written since start or rebalance."""
        since = int(time.time() * 1000) - self.settings.dedupe_window_ms
        for partition in sorted(partitions - set(self.heads)):
            history = await self.audit_tail.history(partition, since)
            self.heads[partition], self.decided[partition] = history.head, history

    async def _commit(self, result: BatchResult, heads: dict[int, ChainHead]) -> None:
        """Produce a decision's outputs; once Kafka holds them, advance the chain heads."""
        await self.produce(result.outputs)
        # Acknowledged by Kafka: these heads may now be signed. A partition revoked while this was
        # in flight is not resurrected: its next owner reads its head back from the log.
        self.heads.update({p: head for p, head in heads.items() if p in self.decided})
        now_ms = int(time.time() * 1000)
        for partition, event_id in result.seen:
            if partition in self.decided:
                self.decided[partition].decided[event_id] = now_ms
        self.metrics.duplicates.inc(result.duplicates)
        known = {c.tenant_id for c in self.runtime.state.cameras.values()}
        for tenant, outcome in result.decisions:
            self.metrics.count(tenant if tenant in known else "_unknown", outcome)

    async def sign_heads(self) -> None:
        """Sign each partition's chain head that moved since its last checkpoint (R19)."""
        key_id, private_key = self.runtime.state.keyring.signing_key()
        now = datetime.now(UTC)
        outputs, heads = [], {}
        for partition, head in list(self.heads.items()):
            if head.seq >= 0 and self.signed.get(partition) != head:
                checkpoint = sign_checkpoint(private_key, key_id, partition, head, now)
                outputs.append(
                    Output(
                        self.names.audit,
                        checkpoint.checkpoint_id.encode(),
                        self.runtime.state.codec.encode(checkpoint),
                        partition,
                    )
                )
                heads[partition] = head
        if outputs:
            await self.produce(outputs)
            self.signed.update(heads)

    async def produce(self, outputs: list[Output]) -> None:
        """Produce a decision's effects, then its audit records: a decision in the audit log is
        one whose outputs Kafka already holds, so a redo that skips it as decided loses nothing."""
        await self.ensure_topics({o.topic for o in outputs})
        await self._produce_all([o for o in outputs if o.topic != self.names.audit])
        await self._produce_all([o for o in outputs if o.topic == self.names.audit])

    async def _produce_all(self, outputs: list[Output]) -> None:
        """Send everything, then wait for every acknowledgement; retry until Kafka takes it."""
        producer = self.app.producer
        delay = 0.2
        pending = outputs
        while pending:
            futures = [await producer.send(o.topic, o.key, o.value, o.partition, None, None) for o in pending]
            results = await asyncio.gather(*futures, return_exceptions=True)
            failed = [o for o, r in zip(pending, results, strict=True) if isinstance(r, BaseException)]
            if failed:
                log.warning("Kafka did not take %d of %d records; retrying in %.1fs", len(failed), len(pending), delay)
                await asyncio.sleep(delay)  # back-off before retrying a failed produce
                delay = min(delay * 2, 5.0)
            pending = failed

    async def ensure_topics(self, topics: set[str]) -> None:
        """Per-tenant topics are created the first time a tenant is seen (development) or provisioned."""
        missing = topics - self.known_topics
        if not missing:
            return
        tenants = {t.split(marker, 1)[1] for t in missing for marker in (".governed.", ".erasure.") if marker in t}
        if tenants:
            await asyncio.to_thread(ensure_tenant_topics, self.settings, sorted(tenants))
        self.known_topics |= missing

    # -- web --------------------------------------------------------------------------------
    def _declare_web(self) -> None:
        worker = self

        @self.app.page("/healthz")
        class Health(View):
            async def get(self, request: Request) -> Response:
                return self.json({"status": "ok"})

        @self.app.page("/readyz")
        class Ready(View):
            async def get(self, request: Request) -> Response:
                ready = (
                    worker.ready
                    and worker.feeds.caught_up.is_set()
                    and not worker.app.in_recovery
                    and not worker.app.rebalancing
                )
                return self.json({"ready": ready}, status=200 if ready else 503)

        @self.app.page("/metrics")
        class Metrics(View):
            async def get(self, request: Request) -> Response:
                body = generate_latest(worker.metrics.registry)
                return self.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0])


def _credentials(settings: Any) -> Any:
    import ssl

    from gateway.settings import SecurityProtocol

    context = ssl.create_default_context(cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None)
    if settings.security_protocol is SecurityProtocol.SSL:
        return faust.SSLCredentials(context)
    if settings.security_protocol in (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL):
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password.get_secret_value() if settings.sasl_password else None,
            mechanism=settings.sasl_mechanism,
            ssl_context=context if settings.security_protocol is SecurityProtocol.SASL_SSL else None,
        )
    return None
