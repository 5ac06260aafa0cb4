"""The CPUs a worker may use: a container's CPU limit, which its CPU affinity does not show.

A pod limited to one CPU (a CFS quota) still sees every CPU of its node, and OpenMP counts threads
by the affinity, so a large 1:N search would split between CPUs the worker may not use. Importing
`gateway` sets OMP_NUM_THREADS from the limit when the operator left it unset.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


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


def search_threads(environ: Mapping[str, str], root: Path = CGROUP) -> str | None:
    """OMP_NUM_THREADS for a process whose operator left it unset: the CPUs it may run on, at most
    its quota; None where OpenMP's own count (the affinity) is already right."""
    if "OMP_NUM_THREADS" in environ:
        return None
    quota = quota_cpus(root)
    if quota is None:
        return None
    return str(min(len(os.sched_getaffinity(0)), quota))
