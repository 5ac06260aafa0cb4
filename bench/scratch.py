"""A benchmark's scratch folder: its brokers' logs and data, its workers' logs.

A run leaves one to two GB of broker data behind, so a run that ends well removes its folder; one
that fails keeps it, and says where, for its logs. FACEGATE_BENCH_KEEP=1 keeps every folder.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scratch(prefix: str = "facegate-bench-") -> Iterator[Path]:
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield work
    except BaseException:
        print(f"the benchmark failed; its brokers' and workers' logs are in {work}", file=sys.stderr)
        raise
    if os.environ.get("FACEGATE_BENCH_KEEP") == "1":
        print(f"kept {work} (FACEGATE_BENCH_KEEP=1)", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
