"""`facegate demo` runs from nothing on the embedded broker and exits 0 with every decision right."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.tansu


def test_demo_runs_and_every_decision_is_right(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "FACEGATE_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "demo", "--duration", "3", "--rate", "60", "--no-live"],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "every capture got the decision the rules require" in result.stdout
    assert "decisions by rule and tenant" in result.stdout
    for rule in ("R01", "R04", "R05", "R06"):
        assert f"│ {rule}" in result.stdout
