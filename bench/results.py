"""Where every benchmark leaves its figures: bench/results/<name>.json and <name>.md, and stdout."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def write_results(name: str, data: Any, table: str) -> None:
    """The figures and their table, each naming the code that measured them."""
    code = revision()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps({"code": code, "results": data}, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(f"{table.rstrip()}\n\nMeasured at {code}.\n")
    print(table)


def revision() -> str:
    """The commit checked out, and whether files it tracks were changed: figures name their code."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=RESULTS.parent, capture_output=True, text=True, check=True).stdout

    try:
        commit = git("rev-parse", "--short=12", "HEAD").strip()
        changed = bool(git("status", "--porcelain", "--untracked-files=no").strip())
    except (OSError, subprocess.CalledProcessError):
        return "code outside a git checkout"
    return f"commit {commit}" + (" with uncommitted changes" if changed else "")


def rss_bytes(pid: int | str = "self") -> int:
    """Resident memory of a process (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU seconds a process has used (Linux /proc/<pid>/stat, its own accounting)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
