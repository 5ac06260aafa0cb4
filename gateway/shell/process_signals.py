"""The worker process's own signal handling, safer than mode's defaults.

mode answers SIGUSR1 by logging every task's stack *with its local variables* — which in this
worker include raw captures and protected templates — and SIGUSR2 by entering pdb, which hangs
a pod that has no terminal. Here SIGUSR1 logs where each task waits, without locals, and
SIGUSR2 is ignored with a warning.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from typing import Any

from faust.worker import Worker

log = logging.getLogger("facegate")


def _awaited(awaitable: Any) -> Iterator[tuple[str, int, str]]:
    """The chain of coroutines a task waits in, innermost last (a task's own stack shows only
    its outermost frame)."""
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "ag_frame", None)
        if frame is None:
            return
        yield frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "ag_await", None)


def task_stacks() -> str:
    """Where every asyncio task of the running loop is waiting: file, line and function only."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        out.write(f"{task.get_name()}:\n")
        for filename, line, name in _awaited(task.get_coro()):
            out.write(f"  {filename}:{line} in {name}\n")
    return out.getvalue()


class GatewayWorker(Worker):
    async def _cry(self) -> None:
        log.warning("asyncio tasks (no locals):\n%s", task_stacks())

    def _enter_debugger(self) -> None:
        log.warning("SIGUSR2 ignored: no debugger in a FaceGate worker")
