"""The CPUs a worker may use: a container's CPU limit, which its CPU affinity does not show.

A pod limited to one CPU (a CFS quota) still sees every CPU of its node, and OpenMP counts threads
by the affinity, so a large 1:N search would split between CPUs the worker may not use. Importing
`gateway` sets OMP_NUM_THREADS from the limit when the operator left it unset, and marks it as its
own (DERIVED): a process it starts (a local worker, a benchmark's, perhaps pinned to one core)
inherits the variable, and works out its own rather than taking the parent's for the operator's.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")
DERIVED = "FACEGATE_DERIVED_OMP_NUM_THREADS"  # the OMP_NUM_THREADS that `configure` set


def quota_cpus(root: Path = CGROUP) -> int | None:
    """Whole CPUs the CPU quota allows (cgroup v2 `cpu.max`, else v1's CFS quota, as a container
    sees its own at the mount's root), rounded up; None without one."""
    try:
        if (root / "cpu.max").exists():
            quota, period = (root / "cpu.max").read_text().split()[:2]
        else:
            quota = (root / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (root / "cpu" / "cpu.cfs_period_us").read_text().strip()
        if quota in ("max", "-1"):
            return None
        return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError, ZeroDivisionError):
        return None


def given(environ: Mapping[str, str]) -> bool:
    """Whether OMP_NUM_THREADS holds counts OpenMP takes: a positive integer, or a list of them
    (one per nesting level), each as C's strtoul reads it (spaces, an optional +, ASCII digits,
    at most 2**64 - 1). OpenMP (libgomp) ignores the whole value otherwise ("0", "4,0", "", "four")
    and counts the CPUs itself, all of a node's in a pod without a CPU limit; so such a value
    counts as unset here."""
    counts = environ.get("OMP_NUM_THREADS", "").split(",")
    return all(_count(c.strip().removeprefix("+")) for c in counts)


def _count(text: str) -> bool:
    return text.isascii() and text.isdigit() and 0 < int(text) < 2**64


def search_threads(environ: Mapping[str, str], root: Path = CGROUP) -> str | None:
    """OMP_NUM_THREADS for a process whose operator left it unset (or set to what OpenMP ignores):
    the CPUs it may run on, at most its quota; None where OpenMP's own count (the affinity) is
    already right."""
    if given(environ):
        return None
    quota = quota_cpus(root)
    if quota is None:
        return None
    return str(min(len(os.sched_getaffinity(0)), quota))


def configure(environ: MutableMapping[str, str], root: Path = CGROUP) -> None:
    """Set OMP_NUM_THREADS in `environ` (`search_threads`) unless the operator set it; a value a
    FaceGate parent derived is not the operator's, and is worked out again."""
    if DERIVED in environ and environ.get("OMP_NUM_THREADS") == environ[DERIVED]:
        del environ["OMP_NUM_THREADS"]
    environ.pop(DERIVED, None)
    threads = search_threads(environ, root)
    if threads is not None:
        environ["OMP_NUM_THREADS"] = environ[DERIVED] = threads
