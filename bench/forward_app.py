"""Baselines (b), (b') and (b''): a Faust agent that forwards each record unchanged (run as its own process).

It reads every given source topic (the vendors' capture topics, as the worker does) into one sink.

(b) library defaults, one `await send` per event. (b') tuned client settings (TUNED) and batches:
`take_events(1000)`, every send of a batch issued, then all of its acknowledgements awaited.
(b'') (b') with the worker's Faust consumer class (gateway/shell/worker.py `fetching`: served on
the app's event loop, the quick hand-off, fetches answered after 100 ms or the first byte, at the
settings' defaults): the consumer work FaceGate ships, deciding nothing (its producer stays (b')'s).
All produce with acks=all, as FaceGate does.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any, cast

import faust
from faust.worker import Worker

from gateway.settings import Settings
from gateway.shell.worker import fetching

MODES = ("defaults", "tuned", "tuned-shell")

TUNED: dict[str, Any] = {
    "producer_max_batch_size": 1 << 20,  # a 16 KB default batch holds seven 2.1 KB records
    "producer_linger": 0.005,
    "consumer_max_fetch_size": 8 << 20,
    "stream_buffer_maxsize": 16_384,
}
BATCH = 1000


class QuietWorker(Worker):
    """Faust's worker without its terminal spinner, which at WARN keeps the root logger at DEBUG
    and so builds a record for every debug call no handler writes: it cost the tuned forwarder a
    third or more of its backlog rate (bench/PROFILES.md). The gateway's worker starts without it
    too (gateway/shell/process_signals.py)."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None
        super().on_setup_root_logger(logger, level)


def build(
    bootstrap: str, app_id: str, sources: list[str], sink: str, datadir: str, tuned: bool = False, shell: bool = False
) -> faust.App:
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        key_serializer="raw",
        value_serializer="raw",
        processing_guarantee="at_least_once",
        store="memory://",
        web_enabled=False,
        broker_session_timeout=6.0,
        producer_acks=-1,
        datadir=datadir,
        Worker=QuietWorker,
        **(TUNED if tuned else {}),
    )
    if shell:  # the worker's consumer, at its default fetch settings (not the environment's)
        fetch = (Settings.model_fields[f"consumer_fetch_{name}"].default for name in ("min_bytes", "max_wait_ms"))
        cast(Any, app.transport).Consumer = fetching(*fetch)
    output = app.topic(sink, key_serializer="raw", value_serializer="raw")
    source_topic = app.topic(*sources, key_serializer="raw", value_serializer="raw")  # every vendor's, as the worker

    if tuned:

        @app.agent(source_topic, concurrency=1)
        async def forward_batches(stream: faust.StreamT[bytes]) -> None:
            async for events in cast(Any, stream).take_events(BATCH, 0.005):
                sent = [await output.send(key=e.key, value=e.value) for e in events]
                await asyncio.gather(*sent)

    else:

        @app.agent(source_topic, concurrency=1)
        async def forward(stream: faust.StreamT[bytes]) -> None:
            async for event in stream.events():
                await output.send(key=event.key, value=event.value)

    return app


if __name__ == "__main__":
    bootstrap, app_id, sources, sink, datadir = sys.argv[1:6]  # sources: comma-separated topics
    mode = sys.argv[6] if len(sys.argv) > 6 else "defaults"
    if mode not in MODES:
        sys.exit(f"unknown mode {mode!r}: one of {', '.join(MODES)}")
    application = build(bootstrap, app_id, sources.split(","), sink, datadir, mode != "defaults", mode == "tuned-shell")
    sys.argv = [sys.argv[0], "worker", "-l", "warn"]
    application.main()
