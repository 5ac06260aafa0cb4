"""A container's CPU limit, read from its cgroup, caps a search's threads unless the operator set them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.cpus import DERIVED, configure, quota_cpus, search_threads


@pytest.mark.parametrize(
    ("files", "cpus"),
    [
        ({"cpu.max": "150000 100000\n"}, 2),  # cgroup v2: 1.5 CPUs -> 2 threads
        ({"cpu.max": "50000 100000\n"}, 1),
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "100000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1),  # cgroup v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({"cpu.max": "garbage"}, None),
        ({}, None),
    ],
)
def test_a_containers_cpu_quota_is_read_in_whole_cpus(tmp_path: Path, files: dict[str, str], cpus: int | None) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert quota_cpus(tmp_path) == cpus


def test_a_search_uses_at_most_the_quota_unless_told(tmp_path: Path) -> None:
    assert search_threads({}, tmp_path) is None  # no quota: OpenMP counts the affinity itself
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    assert search_threads({}, tmp_path) == "1"
    cpus = len(os.sched_getaffinity(0))
    (tmp_path / "cpu.max").write_text(f"{(cpus + 1) * 100000} 100000\n")  # more than the process may run on
    assert search_threads({}, tmp_path) == str(cpus)
    assert search_threads({"OMP_NUM_THREADS": "8"}, tmp_path) is None  # the operator's word wins
    for given in ("8,2", "+4", " 4 "):  # a count per nesting level; as strtoul reads them
        assert search_threads({"OMP_NUM_THREADS": given}, tmp_path) is None


@pytest.mark.parametrize(
    "ignored", ["0", "", "0,2", "4,0", "4,x", "four", "-1", " ", "\u00b2", "\u0663", "99999999999999999999"]
)
def test_a_count_openmp_ignores_is_replaced_by_the_quotas(tmp_path: Path, ignored: str) -> None:
    """OpenMP would count every CPU of the node instead (a chart's `requests.cpu: "0"` once gave 0)."""
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    environ = {"OMP_NUM_THREADS": ignored}
    configure(environ, tmp_path)
    assert environ["OMP_NUM_THREADS"] == "1"


def test_a_child_works_out_its_own_threads_but_keeps_the_operators(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    environ = {"OMP_NUM_THREADS": "2", DERIVED: "2"}  # what a parent derived under another quota
    configure(environ, tmp_path)
    assert environ == {"OMP_NUM_THREADS": "1", DERIVED: "1"}
    (tmp_path / "cpu.max").write_text("max 100000\n")
    configure(environ, tmp_path)  # no quota here: OpenMP's own count, not the parent's
    assert environ == {}
    for operators in ({"OMP_NUM_THREADS": "4"}, {"OMP_NUM_THREADS": "4", DERIVED: "2"}):
        environ = dict(operators)
        configure(environ, tmp_path)
        assert environ == {"OMP_NUM_THREADS": "4"}
