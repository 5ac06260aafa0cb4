"""The worker process's own signal handling and logging, safer than mode's and Faust's defaults.

mode answers SIGUSR1 by logging every task's stack *with its local variables* — which in this
worker include raw captures and protected templates — and SIGUSR2 by entering pdb, which hangs
a pod that has no terminal. Here SIGUSR1 logs where each task waits, without locals, and
SIGUSR2 is ignored with a warning.

Faust's worker draws a terminal spinner at log levels WARN and above, and for it sets the root
logger to DEBUG for the life of the process: every debug call of every library (aiokafka's
fetcher for each fetch, Faust for each message it publishes) then builds a record that no
handler writes. Here there is no spinner, and the root logger keeps the level asked for.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from faust.worker import Worker

log = logging.getLogger("facegate")
TASK_DUMP_MARKER = "asyncio tasks (no locals):"


def _awaited(awaitable: Any) -> Iterator[tuple[str, int, str]]:
    """The chain of coroutines a task waits in, innermost last (a task's own stack shows only
    its outermost frame)."""
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "ag_frame", None)
        if frame is None:
            return
        yield frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "ag_await", None)


def task_stacks(roots: Mapping[str, Any] | None = None) -> str:
    """Where every asyncio task of the running loop is waiting: file, line and function only.
    `roots` adds named coroutines that a task awaits through a wrapper the chain cannot cross
    (Faust awaits each agent through its actor's `__await__`)."""
    out = io.StringIO()
    named = [(task.get_name(), task.get_coro()) for task in asyncio.all_tasks()]
    for name, coroutine in [*named, *(roots or {}).items()]:
        out.write(f"{name}:\n")
        for filename, line, function in _awaited(coroutine):
            out.write(f"  {filename}:{line} in {function}\n")
    return out.getvalue()


class GatewayWorker(Worker):
    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None
        super().on_setup_root_logger(logger, level)

    async def _cry(self) -> None:
        agents = {
            f"agent {agent.name} #{n}": actor.it
            for agent in self.app.agents.values()
            for n, actor in enumerate(getattr(agent, "_actors", ()))
        }
        log.warning("%s\n%s", TASK_DUMP_MARKER, task_stacks(agents))

    def _enter_debugger(self) -> None:
        log.warning("SIGUSR2 ignored: no debugger in a FaceGate worker")
