"""A development worker, constructed and never started: its wiring is tested without a broker."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from gateway.settings import Settings
from gateway.shell import worker as worker_module
from gateway.shell.runtime import build_runtime
from gateway.shell.worker import Worker


def unstarted_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tenants: Iterable[str]) -> Worker:
    """Reading `tenants` and vendor lumen, with development keys (none from the environment)."""
    monkeypatch.delenv("FACEGATE_KEYRING", raising=False)
    monkeypatch.delenv("FACEGATE_KEYRING_FILE", raising=False)
    monkeypatch.setattr(worker_module, "_faust_replication", lambda settings: 1)  # it asks the brokers
    return Worker(build_runtime(Settings(cache_dir=tmp_path, tenants=list(tenants), vendors=["lumen"])))
