"""The chart, rendered by the real helm binary (scripts/install builds it) for each ci/*.yaml."""

from __future__ import annotations

import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "facegate"
VALUE_SETS = sorted(p.name for p in (CHART / "ci").glob("*.yaml"))
TOOLS = Path(os.environ.get("FACEGATE_CACHE_DIR", Path.home() / ".cache" / "facegate")) / "tools"
KUBE_VERSION = "1.31.0"  # what helm's capabilities report; the objects are validated for 1.29-1.33 too


def tool(name: str) -> Path:
    path = TOOLS / ("checkov/bin/checkov" if name == "checkov" else f"bin/{name}")  # helm, promtool
    if not path.is_file():
        pytest.skip(f"{name} is not installed at {path}; run scripts/install")  # a failure in CI
    return path


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tool("helm")), *args], capture_output=True, text=True, timeout=120, check=False)


@cache
def rendered_text(value_set: str, *extra: str) -> str:
    result = helm("template", "rel", str(CHART), "-n", "facegate", "--kube-version", KUBE_VERSION,
                  "-f", str(CHART / "ci" / value_set), *extra)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def rendered(value_set: str, *extra: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(rendered_text(value_set, *extra)) if d]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def values_of(value_set: str) -> dict[str, Any]:
    """The value set merged over the chart's defaults (maps merge, anything else replaces)."""

    def merge(base: Any, over: Any) -> Any:
        if isinstance(base, dict) and isinstance(over, dict):
            return {**base, **{k: merge(base.get(k), v) for k, v in over.items()}}
        return over

    defaults, chosen = (yaml.safe_load(path.read_text()) for path in (CHART / "values.yaml", CHART / "ci" / value_set))
    merged: dict[str, Any] = merge(defaults, chosen)
    return merged
