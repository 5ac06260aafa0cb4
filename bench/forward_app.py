"""Baseline (b): a Faust agent that forwards each record unchanged (run as its own process)."""

from __future__ import annotations

import sys

import faust


def build(bootstrap: str, app_id: str, source: str, sink: str, datadir: str) -> faust.App:
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        key_serializer="raw",
        value_serializer="raw",
        processing_guarantee="at_least_once",
        store="memory://",
        web_enabled=False,
        broker_session_timeout=6.0,
        datadir=datadir,
    )
    output = app.topic(sink, key_serializer="raw", value_serializer="raw")

    @app.agent(app.topic(source, key_serializer="raw", value_serializer="raw"), concurrency=1)
    async def forward(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await output.send(key=event.key, value=event.value)

    return app


if __name__ == "__main__":
    bootstrap, app_id, source, sink, datadir = sys.argv[1:6]
    application = build(bootstrap, app_id, source, sink, datadir)
    sys.argv = [sys.argv[0], "worker", "-l", "warn"]
    application.main()
