"""The Faust worker: one agent per input topic, feeds for the registries, web endpoints.

The capture agent takes batches of events, hands them to the core's pipeline, produces what it
returns, waits until Kafka acknowledged all of it, and only then records the decisions (audit ids) as seen
and lets Faust commit the offsets (at-least-once; ids are deterministic so consumers dedupe).
An unexpected error ends the process without committing, and a batch cut short by a stop or a
rebalance is never acknowledged (acks.py): it is redone by the partition's next owner, never lost.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, cast

import faust
from faust.app.base import BootStrategy
from faust.exceptions import ConsumerNotStarted
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as FaustConsumer
from faust.transport.drivers.aiokafka import Producer as FaustProducer
from faust.types import TP
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.contract.topics import TopicKind, TopicNames, durability
from gateway.core.audit.chain import ChainHead
from gateway.core.audit.signing import completeness_checkpoint, partition_checkpoint, sign_checkpoint, signing_time
from gateway.core.audit.tlog import EMPTY_ROOT, leaf_hash
from gateway.core.context import Context
from gateway.core.lifecycle.dispatch import in_slices
from gateway.core.lifecycle.erasure import DueErasure, due_erasures, erase_each, still_due, sweep_slices
from gateway.core.messages import InputRecord, Output, in_produce_order
from gateway.core.pipeline import process_batch
from gateway.core.records import UNKNOWN_TENANT
from gateway.kafka.provisioning import admin_client, cluster_brokers, ensure_tenant_topics
from gateway.shell.acks import hold, release
from gateway.shell.app_loop import OnTheAppLoop
from gateway.shell.audit_tail import AuditTail
from gateway.shell.backlog import Backlog
from gateway.shell.batches import ready_batches, records_behind
from gateway.shell.checkpoint_watch import CheckpointWatch
from gateway.shell.feeds import Apply, FeedReader
from gateway.shell.fetch_lanes import FetchLanes
from gateway.shell.handoff import QuickHandOff
from gateway.shell.heap import FULL_PASSES
from gateway.shell.metrics import GatewayMetrics, faust_sensors, register_scraped
from gateway.shell.partitions import Partitions
from gateway.shell.periodic import Periodic, repeat
from gateway.shell.runtime import Runtime
from gateway.shell.stall import StallClock
from gateway.shell.turns import Turns

log = logging.getLogger("facegate")

CRASH_EXIT_CODE = 70  # EX_SOFTWARE: restart me, the batch was not committed
# Enrollments looked at between two turns of the event loop: a few us each when not due, ~75 us when
# due (a whole gallery is, after a key's revocation): 10,000 held /healthz for 3 s (bench/PROFILES.md).
SWEEP_SLICE = 1_000
DRAIN_SECONDS = 20  # a stop waits this long for the batch in flight (the chart's grace period is 60 s)
RESIGN_IDLE_SECONDS = 60.0  # an idle chain's head is signed again this often: a stalled stream shows
Timed = Callable[[str, float], None]  # told how long a phase of a batch took (seconds)


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
            topic_replication_factor=_faust_replication(settings),  # its assignor's leader topic
            store="memory://",
            web_host=settings.web_host,
            web_port=settings.web_port,
            web_tables_enabled=False,  # the table endpoint would expose registry contents
            web_router_enabled=False,  # /router/... would list every worker and the topics (tenants, vendors) it reads
            broker_session_timeout=settings.session_timeout_ms / 1000,
            broker_heartbeat_interval=min(3.0, settings.session_timeout_ms / 3000),
            stream_wait_empty=False,
            producer_acks=-1,
            # Client tuning (bench/PROFILES.md): Faust's 16 KB producer batch holds seven captures and its
            # 1 MB fetch and 4,096-event stream buffer starve a batch of 256; acks stay all (-1).
            producer_max_batch_size=settings.producer_max_batch_bytes,
            producer_linger=settings.producer_linger_ms / 1000,
            consumer_max_fetch_size=settings.consumer_max_fetch_bytes,
            stream_buffer_maxsize=settings.stream_buffer_maxsize,
            web_in_thread=False,
            datadir=str(datadir),
        )
        # Idempotent outside transactions too (Faust enables it only inside them), before the
        # producer is first made: a retry is never written twice nor ahead of a later record.
        if settings.producer_idempotence:
            cast(Any, self.app.transport).Producer = IdempotentProducer
        fetch = settings.consumer_fetch_min_bytes, settings.consumer_fetch_max_wait_ms
        interval = settings.lifecycle_fetch_interval_ms / 1000
        lanes = FetchLanes(lambda topic: self.names.vendor_of(topic) is not None, interval) if interval else None
        cast(Any, self.app.transport).Consumer = fetching(*fetch, lanes)
        self.stall = StallClock(time.monotonic)
        self.turns = Turns()  # a batch is decided in slices, the event loop's turn between them
        self.lifecycle_turns = Turns()  # learned apart: a lifecycle record costs what a capture does not
        self.sweep_turns = Turns()  # and an erasure what neither does
        self.metrics.produce_stalled.set_function(self.stall.oldest)
        faust_sensors(self.app, self.metrics.registry, settings.faust_metrics)
        register_scraped(self.metrics.registry, self.app, self._assigned, self.runtime.state.enrolled_counts)
        # The tenants whose topics this worker reads (fixed at start): decisions are counted under
        # their names, anything else under _unknown, so a label's values stay bounded.
        self.tenants = frozenset(self.runtime.tenants)
        self.metrics.declare(self.tenants)  # at 0 from start, so that an alert's first increase counts
        self._declare_tables()
        # Read when scraped: set by the signing task itself, it froze while signing waited on Kafka
        # (below min.insync.replicas) and read about 0 just after each signing, so it never alerted.
        self.metrics.checkpoint_age.set_function(lambda: self.partitions.checkpoint_age(time.time()))
        self._declare_agents()
        self._declare_rebalance_handlers()
        self._declare_web()

    # -- state ------------------------------------------------------------------------------
    def _declare_tables(self) -> None:
        state = self.runtime.state
        feeds: dict[str, Apply] = {
            self.names.enrolled: state.apply_enrollment,
            self.names.withdrawals: state.apply_withdrawal,
        }
        for tenant in self.tenants:  # a tenant's own topics: what names another changes nothing
            feeds[self.names.cameras(tenant)] = partial(state.apply_camera, tenant)
            feeds[self.names.consent(tenant)] = partial(state.apply_consent, tenant)
        self.feeds = FeedReader(self.settings, feeds)
        self.app.boot_strategy = LoadedBeforeJoining(self.app, self.feeds)
        self.audit_tail = AuditTail(self.settings, self.names.audit)
        self.partitions = Partitions()
        # The completeness note's writer: whoever owns audit partition 0 (docs/audit-format.md §6).
        self.checkpoint_watch = CheckpointWatch(self.settings, self.names.audit, self.settings.partitions)
        self.completeness: tuple[list[tuple[int, bytes]], float] | None = None  # last listing, when signed
        # The 1 s timer's note and the shutdown's final one, one at a time: each note's time must
        # exceed the last one's, known only once it is produced (the watch guards only its reads).
        self.completeness_turn = asyncio.Lock()
        self.backlog = Backlog()  # the oldest undecided raw capture's age (retention alert)
        self.reenrollment: dict[str, int] = {}  # last logged: templates to re-enroll, per model

    # -- agents -----------------------------------------------------------------------------
    def _declare_agents(self) -> None:
        # Each vendor's captures and each tenant's records on their own topics (only they may write
        # them). All co-partitioned (same partition count, same subscribers), so partition p of every
        # input belongs to one worker, which alone appends to audit partition p.
        vendors = [self.names.captures(vendor) for vendor in self.settings.vendors]
        raw = self.app.topic(*vendors, key_serializer="raw", value_serializer="raw")
        tenants = [topic for tenant in sorted(self.tenants) for topic in self.names.tenant_inputs(tenant)]
        lifecycle_topics = self.app.topic(*tenants, key_serializer="raw", value_serializer="raw")
        settings = self.settings

        @self.app.agent(raw, concurrency=1, name="facegate.captures")
        async def captures(stream: faust.StreamT[bytes]) -> None:
            # An event is acknowledged only once decided, i.e. once Kafka took its outputs (acks.py).
            batches = ready_batches(stream, settings.batch_size, settings.batch_wait_ms / 1000, self._behind)
            async for events in batches:
                await self._decide_held(events, partial(self.handle, events))

        @self.app.agent(lifecycle_topics, concurrency=1, name="facegate.lifecycle")
        async def lifecycle(stream: faust.StreamT[bytes]) -> None:
            batches = ready_batches(stream, settings.batch_size, settings.batch_wait_ms / 1000, self._behind)
            async for events in batches:
                await self._decide_held(events, partial(self.decide_lifecycle, events))

        def every(seconds: float) -> Callable[[Periodic], Periodic]:
            """Started with the app, `seconds` apart: not with mode's timers, which warn whenever
            a run waited behind a flood longer than its interval (periodic.py)."""

            def started(work: Periodic) -> Periodic:
                self.app.task(partial(repeat, self.app, seconds, work))
                return work

            return started

        every(settings.sweep_interval_ms / 1000)(self.sweep)

        @every(5.0)
        async def gauges() -> None:
            self.metrics.ignored.set(self.runtime.state.ignored_records)
            self.metrics.ready.set(1 if self.is_ready() else 0)
            self.metrics.feed_lag.set(min(self.feeds.lag.seconds(time.monotonic()), 1e9))
            self.retention_gauges()
            FULL_PASSES.report()

        every(1.0)(self.sign_heads)

        # Apart: reading every partition's checkpoints from the log takes longer the busier the
        # group, and must not delay this worker's own checkpoints.
        every(1.0)(self.sign_completeness)

        @self.app.on_before_shutdown.connect  # type: ignore[arg-type]
        async def drain(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
            # Faust cancels the agents after this, then commits what was acknowledged. Deciding
            # nothing new and letting the batch in flight finish means a restart redoes nothing;
            # a batch stuck past the bound (Kafka unreachable) is left to the next owner.
            if await self.partitions.drain(DRAIN_SECONDS):
                await self.sign_heads(final=True)
                await self.sign_completeness(final=True)
            else:  # both under the lock the batch holds: its next owner's to sign once it redid it
                log.warning("stopping with a batch in flight after %ds; its next owner redoes it", DRAIN_SECONDS)
            await self.checkpoint_watch.stop()

        @every(60.0)
        async def forget_old_event_ids() -> None:
            self.partitions.forget_before(int(time.time() * 1000) - settings.dedupe_window_ms)

    def _declare_rebalance_handlers(self) -> None:
        @self.app.on_partitions_revoked.connect  # type: ignore[arg-type]
        async def forget_heads(sender: Any, revoked: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
            await self._give_up(revoked)

        # A stopping app's revocation closes the consumer at once and sends no signal (Faust
        # 0.15.3, App._on_partitions_revoked): the group then handed the partitions on while the
        # batch in flight was still writing, and the next owner's redo forked the audit log
        # beside it. Stopping or not, the partitions are given up only once it has finished.
        revoke_in_faust = self.app._on_partitions_revoked

        async def on_revoked(revoked: set[TP]) -> None:
            if self.app.should_stop:
                try:  # bounded as the stop's own wait is
                    async with asyncio.timeout(DRAIN_SECONDS):
                        await self._give_up(revoked)
                except TimeoutError:
                    # Leaving the group would hand the partitions on while the producer still
                    # retries the batch, which could land after their next owner's redo. Gone
                    # without leaving, the group waits out the session first.
                    log.error("stopping with a batch in flight after %ds while the group takes its partitions; "
                              "exiting without leaving the group", DRAIN_SECONDS)  # fmt: skip
                    os._exit(CRASH_EXIT_CODE)
            await revoke_in_faust(revoked)

        self.app._on_partitions_revoked = on_revoked  # type: ignore[method-assign]  # before the consumer is made

        @self.app.on_partitions_assigned.connect  # type: ignore[arg-type]
        async def take_over(sender: Any, assigned: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
            await self.partitions.assign({tp.partition for tp in assigned if self.names.vendor_of(tp.topic)})

        @self.app.on_rebalance_complete.connect  # type: ignore[arg-type]
        async def recovered(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
            if not self.ready and (kept := self.runtime.state.unconfigured(self.tenants)):  # the feeds loaded
                log.warning(
                    "the enrolled topic holds templates of tenant(s) not configured (%s): nothing decides or "
                    "erases them; configure the tenant again and run `facegate consent delete-all` "
                    '(docs/operations.md, "Tenants and vendors")',
                    ", ".join(f"{tenant}: {count}" for tenant, count in kept.items()),
                )
            self.partitions.settle()
            self.ready = True
            self.metrics.ready.set(1 if self.is_ready() else 0)
            self.metrics.feed_lag.set(min(self.feeds.lag.seconds(time.monotonic()), 1e9))

    async def _give_up(self, revoked: Iterable[TP]) -> None:
        """Faust awaits this before the group moves on: holding the lock, the batch in flight
        finishes (Kafka acknowledges it) before a new owner can read these chains' heads."""
        captures = [tp for tp in revoked if self.names.vendor_of(tp.topic)]
        await self.partitions.revoke({tp.partition for tp in captures})
        self.backlog.forget((tp.topic, tp.partition) for tp in captures)

    def _behind(self, events: Sequence[Any]) -> int:
        """Records Kafka holds past these events: they join the batch before it is decided."""
        return records_behind(events, self._highwater)

    def _assigned(self) -> set[Any]:
        """The input partitions this worker holds now (none before its consumer has started)."""
        try:
            return set(self.app.consumer.assignment())
        except (AssertionError, ConsumerNotStarted):
            return set()

    def _highwater(self, tp: Any) -> int | None:
        """The partition's high watermark as last fetched; None once it is no longer ours."""
        try:
            return cast(int | None, self.app.consumer.highwater(tp))
        except (AssertionError, ConsumerNotStarted):  # aiokafka asserts the partition is assigned
            return None

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

    async def handle(self, events: list[Any]) -> list[Any]:
        """Decide a batch; returns the events decided (the others' partitions were revoked while
        the batch waited, or the worker is stopping: their partitions' next owner decides them)."""
        started = time.perf_counter()
        # How long the oldest event waited for this batch: Faust's monitor stamps each message
        # (monotonic seconds) as it hands it to the streams.
        taken = time.monotonic()
        queued = taken - min((e.message.time_in or taken for e in events), default=taken)
        # Fail closed: nothing is decided before the tables have recovered and the feeds caught up.
        await self.app.tables.wait_until_recovery_completed()
        await self.feeds.caught_up.wait()
        arrived = datetime.now(UTC) - timedelta(seconds=time.perf_counter() - started)
        await self.partitions.settled.wait()
        async with self.partitions.lock:
            events = [e for e in events if self.partitions.ours(e.message.partition)]
            if not events:
                return []
            records = [_input(e.message) for e in events]
            self.backlog.deciding(((r.topic, r.partition), r.timestamp_ms) for r in records)
            ctx = await self._context({r.partition for r in records})
            phases = self.metrics.batch_phases
            decide_at = time.perf_counter()
            phases.labels("queued").observe(queued)
            phases.labels("wait").observe(decide_at - started)
            deciding = await self.turns.decide(
                records, lambda some: ctx.decide_each(some, lambda part, tried: process_batch(part, tried, arrived))
            )
            phases.labels("decide").observe(deciding)
            await self._commit(ctx, lambda phase, seconds: phases.labels(phase).observe(seconds))
            self.backlog.decided(((r.topic, r.partition), r.offset, r.timestamp_ms) for r in records)
        elapsed = time.perf_counter() - started
        for _ in records:
            self.metrics.latency.observe(elapsed)
        self.metrics.batch_captures.observe(len(records))
        return events

    async def decide_lifecycle(self, events: list[Any]) -> list[Any]:
        """Enrollments, consent records, share requests and camera registrations, decided in order
        by the core's lifecycle steps (in slices, the event loop's turn between them: turns.py)
        and committed together; a refusal that may only mean the feeds have not read the consent
        or enrollment it needs yet, or a share allowed before they read what came before it, is
        decided again once they have (with what came before it committed first). Returns the
        events decided (the others' partitions were revoked meanwhile: their new owner decides them)."""
        await self.feeds.caught_up.wait()
        await self.partitions.settled.wait()
        async with self.partitions.lock:
            events = [e for e in events if self.partitions.ours(e.message.partition)]
            records = [_input(e.message) for e in events]
            start, synced = 0, False
            while start < len(records):
                ctx = await self._context({r.partition for r in records[start:]}, synced=synced)
                decided = await self.lifecycle_turns.decide_until(records[start:], in_slices(ctx, retried=synced))
                if decided:
                    await self._commit(ctx)
                start += decided
                if start < len(records):
                    # One sync covers every record of the batch (all fetched before it), also when it
                    # timed out (the lag bound guards what follows): after it the run stops only for a
                    # share waiting for an enrollment the batch itself wrote (dispatch.worth_redoing).
                    consents = {self.names.consent(t) for r in records[start:] if (t := self.names.tenant_of(r.topic))}
                    await self.feeds.sync({*consents, self.names.enrolled})
                    synced = True
            return events

    async def sweep(self) -> None:
        """Erase enrollments past expiry or retention on the partitions this worker owns (R11).
        Judging what is due reads what tenants wrote: a judgement that fails (a bug) is logged by its
        kind and counted, and the next sweep tries again; raised, it would stop this worker, and every
        worker again on restart. Erasing is confined per subject (`erase_each`); producing and
        committing fail as any batch's do."""
        if not self.ready or not self.feeds.caught_up.is_set() or not self.partitions.settled.is_set():
            return
        by_partition: dict[int, list[DueErasure]] = {}
        state, now = self.runtime.state, datetime.now(UTC)
        try:
            for keys in sweep_slices(state, now, SWEEP_SLICE):
                for due in due_erasures(state, now, self.partitions.ours, keys):
                    by_partition.setdefault(due.partition, []).append(due)
                # Batches are decided between slices: walking 2M enrollments at once held every
                # capture in flight for seconds each sweep.
                await asyncio.sleep(0)
        except Exception as exc:  # never a cancellation: that ends the worker's work as it should
            self._sweep_failed(exc)
            return
        # A commit per batch, the lock released between two and the loop's turn between slices: a
        # key revoked (or a day's enrollments past retention) at 1M subjects per tenant makes a
        # quarter of a million erasures per partition due at once (~0.35 ms each), which in one step
        # would hold every capture and the liveness probe for over a minute.
        size = self.settings.batch_size
        for partition, items in sorted(by_partition.items()):
            for start in range(0, len(items), size):
                found = items[start : start + size]
                async with self.partitions.lock:
                    if not self.partitions.ours(partition):
                        break
                    # The lifecycle agent may have decided some of these subjects since the walk
                    # (a re-enrollment, a renewed consent, a withdrawal): once the feeds have read
                    # what it wrote, only those still due are erased.
                    consents = {self.names.consent(d.tenant_id) for d in found}
                    if not await self.feeds.sync({self.names.enrolled, *consents}):
                        return  # the feeds lag behind: the next sweep looks again
                    ctx = await self._context({partition})
                    try:
                        erasing = still_due(self.runtime.state, ctx.now, self.partitions.ours, found)
                    except Exception as exc:
                        self._sweep_failed(exc)
                        return
                    await self.sweep_turns.decide(erasing, partial(erase_each, ctx))
                    await self._commit(ctx)

    def _sweep_failed(self, exc: Exception) -> None:
        log.error(
            "the retention sweep could not judge what is due (%s); the next sweep tries again", type(exc).__name__
        )
        self.metrics.internal_errors.inc()

    async def _context(self, partitions: set[int], *, synced: bool = False) -> Context:
        """A context for deciding inputs of these partitions, their audit chains loaded from the log."""
        since = int(time.time() * 1000) - self.settings.dedupe_window_ms
        audit_partitions = self.settings.partitions
        for partition in self.partitions.unloaded(p % audit_partitions for p in partitions):
            self.partitions.load(partition, await self.audit_tail.history(partition, since))
        state, now = self.runtime.state, datetime.now(UTC)
        behind = self.feeds_behind()
        if behind:
            self.metrics.feeds_behind_decisions.inc()
        heads = self.partitions.heads()
        return Context(
            state, self.names, heads, self.partitions.seen, now, audit_partitions, feeds_behind=behind, synced=synced
        )

    def retention_gauges(self) -> None:
        """The oldest undecided raw capture's age beside the raw retention (the alert compares them),
        and enrolled templates made under another calibration: counted, and logged when they change."""

        highwaters: dict[Hashable, int | None] = {}
        for partition in self.partitions.owned:
            for vendor in self.settings.vendors:
                where = (self.names.captures(vendor), partition)
                try:
                    highwaters[where] = self.app.consumer.highwater(TP(*where))
                except Exception:  # not fetched yet, or the consumer is restarting: nothing known
                    highwaters[where] = None
        self.metrics.oldest_undecided.set(self.backlog.oldest_undecided_seconds(int(time.time() * 1000), highwaters))
        self.metrics.raw_retention.set(self.settings.raw_retention_ms / 1000)
        counts = self.runtime.state.needing_reenrollment()
        for model in counts.keys() | self.reenrollment.keys():
            self.metrics.needing_reenrollment.labels(model).set(counts.get(model, 0))
            if counts.get(model, 0) != self.reenrollment.get(model, 0):
                log.warning(
                    "%d enrolled template(s) of model %s were made under another calibration than this worker's "
                    "(%s): not matched or shared until their subjects re-enroll",
                    counts.get(model, 0), model, getattr(self.runtime.state.calibrations.get(model), "label", "none"),
                )  # fmt: skip
        self.reenrollment = counts

    def feeds_behind(self) -> bool:
        return self.feeds.lagging(self.settings.feed_lag_bound_ms / 1000)

    async def _commit(self, ctx: Context, timed: Timed | None = None) -> None:
        """Produce a decision's outputs; once Kafka holds them, advance the chain heads."""
        result = ctx.result
        await self.produce(result.outputs, timed)
        # Acknowledged by Kafka: these heads may now be signed; each record is the next leaf of its tree.
        leaves: dict[int, list[bytes]] = {}
        for output in result.outputs:
            if output.topic == self.names.audit and output.partition is not None:
                leaves.setdefault(output.partition, []).append(leaf_hash(output.value or b""))
        self.partitions.commit(ctx.heads, result.seen, int(time.time() * 1000), leaves)
        self.metrics.duplicates.inc(result.duplicates)
        for where in result.errors:  # where, never what: the record may hold biometric data
            log.error("a record could not be decided and was rejected: %s", where)
            self.metrics.internal_errors.inc()
        self.metrics.count((t if t in self.tenants else UNKNOWN_TENANT, outcome) for t, outcome in result.decisions)

    async def sign_heads(self, final: bool = False) -> None:
        """Sign each partition's head that moved since its last checkpoint (R19): the tree as a C2SP
        checkpoint note with its frontier, and the chain head as 0.1.0 signed it. Under the lock, as
        a batch: a revocation waits for a checkpoint in flight, which would otherwise land after the
        next owner's (a log going back to a smaller tree, to a verifier). Once stopping, only the
        stop's own (`final`) signs: the timer's, stuck on Kafka, would hold the lock past the stop."""
        key_id, private_key = self.runtime.state.keyring.signing_key()
        async with self.partitions.lock:
            if self.partitions.stopping and not final:  # asked again once the lock is had: it waited
                return
            heads = self.partitions.unsigned(time.time(), RESIGN_IDLE_SECONDS)
            outputs = []
            for partition, head in heads.items():
                state = self.partitions.states[partition]
                at = signing_time(state.checkpoint.time if state.checkpoint else None, datetime.now(UTC))
                if state.tree.size == head.seq + 1:
                    record, state.checkpoint = partition_checkpoint(
                        private_key, key_id, self.settings.audit_log_name, partition, head, state.tree.copy(), at
                    )
                else:  # a log from before the tree whose first records are gone: the chain alone is signed
                    record = sign_checkpoint(private_key, key_id, partition, head, at)
                encoded = self.runtime.state.codec.encode(record)
                outputs.append(Output(self.names.audit, record.checkpoint_id.encode(), encoded, partition))
            if outputs:
                await self.produce(outputs)
                self.partitions.mark_signed(heads, time.time())

    async def sign_completeness(self, final: bool = False) -> None:
        """The owner of audit partition 0 signs what the log says every partition's newest checkpoint
        is, when that changed and at least every RESIGN_IDLE_SECONDS (idle too, so a stall shows).
        One at a time: the final note follows the timer's in flight, never races it."""
        async with self.completeness_turn:
            await self._sign_completeness(final)

    async def _sign_completeness(self, final: bool) -> None:
        audit_zero = [p for p in self.partitions.owned if p % self.settings.partitions == 0]
        if not audit_zero or not self.ready or (self.partitions.stopping and not final):
            return
        newest = await self.checkpoint_watch.read()
        if newest is None:
            return  # the shutdown stopped the watch while this timer's turn waited
        partitions = range(self.settings.partitions)
        listing = [(newest[p].size, newest[p].root) if p in newest else (0, EMPTY_ROOT) for p in partitions]
        if self.completeness is not None:
            last, signed_at = self.completeness
            if last == listing and time.time() - signed_at < RESIGN_IDLE_SECONDS:
                return
        key_id, private_key = self.runtime.state.keyring.signing_key()
        zero = self.partitions.states.get(0)
        head = zero.signed if zero is not None and zero.signed is not None else ChainHead()
        at = signing_time(self.checkpoint_watch.completeness_time, datetime.now(UTC))
        record = completeness_checkpoint(private_key, key_id, self.settings.audit_log_name, listing, head, at)
        async with self.partitions.lock:
            # Partition 0 went to another worker meanwhile (stopping, too: ours() is False then)?
            # It signs from now on.
            if not any(p in self.partitions.owned if final else self.partitions.ours(p) for p in audit_zero):
                return
            await self.produce(
                [Output(self.names.audit, record.checkpoint_id.encode(), self.runtime.state.codec.encode(record), 0)]
            )
        self.checkpoint_watch.completeness_time = at
        self.completeness = (listing, time.time())

    async def produce(self, outputs: list[Output], timed: Timed | None = None) -> None:
        """Produce a decision's effects, then its audit records, then its erasures' tombstones
        (`in_produce_order`), each step acknowledged before the next: a capture in the audit log is
        one whose outputs Kafka already holds, so a redo that skips it as decided loses nothing, and
        an erasure cut short is found and finished again. `timed(phase, seconds)` is told how long
        each step took ("effects", "audit", and "enrolled" when there are tombstones)."""
        await self.ensure_topics({o.topic for o in outputs})
        for phase, some in in_produce_order(outputs, self.names.audit, self.names.enrolled):
            began = time.perf_counter()
            await self._produce_all(some)
            if timed is not None:
                timed(phase, time.perf_counter() - began)

    async def _produce_all(self, outputs: list[Output]) -> None:
        """Send everything in order, then wait for every acknowledgement. The idempotent producer
        retries what Kafka refuses for a while (a leader moving, too few in-sync replicas) by itself,
        in order and once, so this waits rather than fails (the stall clock shows it: /readyz). An
        error that reaches here is final, and resending part of the batch would reorder or repeat
        audit records: exit without committing; the next owner redoes the batch (deduped by audit id)."""
        if not outputs:
            return
        failed = await send_in_order(self.app.producer, outputs, self.stall)
        if failed:
            kinds = sorted({type(e).__name__ for e in failed})
            log.error("Kafka refused %d of %d records for good (%s); exiting without committing", len(failed),
                      len(outputs), ", ".join(kinds))  # fmt: skip
            os._exit(CRASH_EXIT_CODE)

    async def ensure_topics(self, topics: set[str]) -> None:
        """Per-tenant topics are created the first time a tenant is seen (development) or provisioned."""
        missing = topics - self.known_topics
        if not missing:
            return
        tenants = {tenant for topic in missing if (tenant := self.names.tenant_of(topic)) is not None}
        if tenants:
            await asyncio.to_thread(ensure_tenant_topics, self.settings, sorted(tenants))
        self.known_topics |= missing

    # -- web --------------------------------------------------------------------------------
    def is_ready(self) -> bool:
        """Deciding now: started, feeds caught up, not recovering or rebalancing (/readyz, facegate_ready)."""
        return (
            self.ready
            and self.feeds.caught_up.is_set()
            and not self.feeds_behind()
            and not self.app.in_recovery
            and not self.app.rebalancing
            and not self.stall.stalled(self.settings.produce_stall_ms / 1000)  # waiting on Kafka: deciding nothing
        )

    def _declare_web(self) -> None:
        worker = self

        @self.app.page("/healthz")
        class Health(View):
            async def get(self, request: Request) -> Response:
                return self.json({"status": "ok"})

        @self.app.page("/readyz")
        class Ready(View):
            async def get(self, request: Request) -> Response:
                ready = worker.is_ready()
                return self.json({"ready": ready}, status=200 if ready else 503)

        @self.app.page("/metrics")
        class Metrics(View):
            async def get(self, request: Request) -> Response:
                body = generate_latest(worker.metrics.registry)
                return self.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0])


class LoadedBeforeJoining(BootStrategy):
    """Faust's services in Faust's order, the feed reader just before the consumer; the reader
    counts as started only once caught up, so a worker joins its consumer group only when it can
    decide. Joining first, a worker loading 1M enrolled subjects per tenant held its share of the
    partitions undecided for minutes, and its event loop, busy loading, answered the group's
    rebalances too late, so it was evicted and rejoined every few seconds, each time pausing the
    whole group. The web server starts before the feeds, so /healthz answers while they load."""

    def __init__(self, app: faust.App, feeds: FeedReader) -> None:
        super().__init__(app)
        self.feeds = feeds

    def server(self) -> Iterable[Any]:
        services = list(super().server())
        at = services.index(self.app.consumer)
        return [*services[:at], self.feeds, *services[at:]]


class IdempotentProducer(FaustProducer):
    """Faust's aiokafka producer with idempotence (and so acks=all) always on."""

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


def fetching(min_bytes: int, max_wait_ms: int, lanes: FetchLanes | None = None) -> type:
    """Faust's consumer, its fetches held by the broker until `min_bytes` are ready or `max_wait_ms`
    passed (Faust fixes 1 byte and 1.5 s, so a paced load is fetched a few records at a time), each
    asking for the partitions `lanes` chooses (fetch_lanes.py), each message handed to the streams
    at once when it can be (handoff.py), served on the app's event loop rather than a thread of
    its own (app_loop.py)."""

    class Thread(OnTheAppLoop):
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_min_bytes, consumer._fetch_max_wait_ms = min_bytes, max_wait_ms  # read by start()
            return consumer

        async def on_start(self) -> None:
            await super().on_start()  # makes and starts the aiokafka consumer, and so its fetcher
            if lanes is not None:
                lanes.install(cast(Any, self._consumer)._fetcher)

    class Consumer(QuickHandOff, FaustConsumer):
        def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
            return Thread(self, loop=self.loop, beacon=self.beacon)

    return Consumer


async def send_in_order(producer: Any, outputs: Sequence[Output], stall: StallClock) -> list[BaseException]:
    """Send every output in order and wait for all acknowledgements, timed by `stall`; returns the
    errors (none: Kafka holds every record). A cancelled send cancels the caller: never acknowledged."""
    with stall.waiting():
        futures = []
        try:
            for o in outputs:
                futures.append(await producer.send(o.topic, o.key, o.value, o.partition, None, None))
        except Exception as exc:  # Faust's ProducerSendError: the records before it may be sent
            return [exc]
        results = await asyncio.gather(*futures, return_exceptions=True)
    if any(isinstance(r, asyncio.CancelledError) for r in results):
        raise asyncio.CancelledError
    return [r for r in results if isinstance(r, BaseException)]


def _faust_replication(settings: Any) -> int:
    """Replication of Faust's own topic (its assignor's leader topic): the durable topics', capped
    at the brokers the cluster lists (a one-broker development cluster: 1)."""
    wanted, _ = durability(settings, TopicKind.STATE)
    try:
        admin = admin_client(settings)
        try:
            brokers = cluster_brokers(admin)
        finally:
            admin.close()
    except Exception as exc:  # the admin client raises many kinds; Faust's own start reports Kafka
        log.warning("cannot count the brokers (%s); Faust's topic gets %d replica(s)", type(exc).__name__,
                    settings.replication_factor)  # fmt: skip
        return int(settings.replication_factor)
    return max(1, min(wanted, brokers))


def _input(message: Any) -> InputRecord:
    """A Faust message as the core reads it (Faust's timestamp is in seconds, the record's in ms)."""
    timestamp_ms = round(message.timestamp * 1000) if message.timestamp else 0
    return InputRecord(message.topic, message.partition, message.offset, message.value, timestamp_ms, message.key)


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
