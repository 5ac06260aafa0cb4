"""Every benchmark's figures name the code that measured them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench import results


def test_figures_in_the_repository_name_their_commit() -> None:
    assert re.fullmatch(r"commit [0-9a-f]{12}( with uncommitted changes)?", results.revision())


def test_written_figures_carry_their_code_in_both_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(results, "RESULTS", tmp_path / "results")  # outside any checkout
    results.write_results("demo", [{"rate": 1.0}], "| rate |\n|---:|\n| 1 |\n")
    written = json.loads((tmp_path / "results" / "demo.json").read_text())
    assert written == {"code": "code outside a git checkout", "results": [{"rate": 1.0}]}
    assert (tmp_path / "results" / "demo.md").read_text().endswith("\n\nMeasured at code outside a git checkout.\n")
