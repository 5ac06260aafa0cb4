"""Where a benchmark's processes run: all of them on every core (the default, as a small host runs
them), or the pipeline under test on a core of its own and everything else (the broker, the load
generator, the measuring consumers) on the others, as a node that gives each worker a whole core
runs it (Kubernetes' static CPU manager and a Guaranteed pod with a whole CPU; docs/operations.md).

Linux's CPU affinity belongs to a thread, and a process started from a thread inherits the thread's:
`Cores.enter()` moves the benchmark's main thread to the shared cores before the broker starts, and
a pipeline under test is started (or, in process, run) inside `Cores.under_test()`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Cores:
    own: frozenset[int]  # the pipeline under test: a worker with its threads, a forwarder, the in-process hop
    rest: frozenset[int]  # the broker, the load generator, the measuring consumers

    @classmethod
    def shared(cls) -> Cores:
        every = frozenset(os.sched_getaffinity(0))
        return cls(every, every)

    @classmethod
    def pinned(cls) -> Cores:
        """The last core this process may use for the pipeline under test, the others for the rest."""
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) < 2:
            raise SystemExit(f"a pinned run needs two cores; this process may use {cores}")
        return cls(frozenset(cores[-1:]), frozenset(cores[:-1]))

    @property
    def is_pinned(self) -> bool:
        return self.own != self.rest

    def enter(self) -> None:
        """The calling thread, and every process it starts from now on, on `rest`: where all but the
        pipeline under test runs."""
        os.sched_setaffinity(0, self.rest)

    @contextmanager
    def under_test(self) -> Iterator[None]:
        """The calling thread, and the processes it starts meanwhile, on the pipeline's cores."""
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, self.own)
        try:
            yield
        finally:
            os.sched_setaffinity(0, before)

    def describe(self) -> str:
        if not self.is_pinned:
            return f"every process on cores {_cpus(self.rest)}"
        return f"the pipeline under test on core {_cpus(self.own)}; the broker, load generator and measuring consumers on {_cpus(self.rest)}"


def _cpus(cores: frozenset[int]) -> str:
    return ",".join(str(c) for c in sorted(cores))


SHARED = Cores.shared()
