"""A stack dump requested with SIGUSR1 shows where tasks wait, never their variables; the worker's
root logger stays at the level asked for."""

from __future__ import annotations

import asyncio
import logging

from gateway.shell.process_signals import task_stacks


def test_task_dump_has_no_locals() -> None:
    parked, never = asyncio.Event(), asyncio.Event()

    async def holds_a_template() -> None:
        template = b"\x01\x02raw-template-bytes"  # a local the dump must not show
        parked.set()
        await never.wait()  # where the dump finds it; cancelled
        del template

    async def main() -> str:
        task = asyncio.create_task(holds_a_template(), name="capture-agent")
        await parked.wait()
        dump = task_stacks()
        task.cancel()
        return dump

    dump = asyncio.run(main())
    assert "capture-agent" in dump and "holds_a_template" in dump
    assert "raw-template-bytes" not in dump


def test_named_roots_show_coroutines_awaited_through_a_wrapper() -> None:
    parked, never = asyncio.Event(), asyncio.Event()

    async def decide_batch() -> None:
        parked.set()
        await never.wait()  # where the dump finds it; cancelled

    class Actor:  # like Faust's: awaited through __await__, which hides the coroutine
        def __init__(self) -> None:
            self.it = decide_batch()

        def __await__(self):  # type: ignore[no-untyped-def]
            return self.it.__await__()

    async def main() -> tuple[str, str]:
        actor = Actor()

        async def run_actor() -> None:
            await actor

        task = asyncio.create_task(run_actor(), name="agent-task")
        await parked.wait()
        dumps = task_stacks(), task_stacks({"agent captures": actor.it})
        task.cancel()
        return dumps

    plain, with_roots = asyncio.run(main())
    assert "decide_batch" not in plain  # the chain stops at the wrapper
    assert "agent captures:" in with_roots and "decide_batch" in with_roots


def test_the_workers_keep_the_root_logger_at_the_level_asked_for_unlike_fausts_spinner() -> None:
    import faust
    from faust.worker import Worker

    from bench.forward_app import QuietWorker
    from gateway.shell.process_signals import GatewayWorker

    root = logging.getLogger()
    saved = root.level, list(root.handlers)

    def debug_after_setup(kind: type[Worker]) -> bool:
        root.handlers = [logging.NullHandler()]
        root.setLevel(logging.WARNING)
        app = faust.App(f"spinner-{kind.__name__}", broker="kafka://127.0.0.1:1", web_enabled=False)
        kind(app, loglevel="warn", quiet=True).on_setup_root_logger(root, logging.WARNING)
        return root.isEnabledFor(logging.DEBUG)

    try:
        assert debug_after_setup(Worker)  # Faust's: every library's debug call builds a record
        assert not debug_after_setup(GatewayWorker) and not debug_after_setup(QuietWorker)
    finally:
        root.setLevel(saved[0])
        root.handlers = saved[1]
