"""Runs the atheris fuzzer on every input topic (decoder, pipeline, lifecycle) for a bounded number of inputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[1] / "fuzz" / "fuzz_decoder.py"


@pytest.mark.timeout(300)
def test_atheris_finds_nothing_in_20000_inputs(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    result = subprocess.run(
        [sys.executable, str(HARNESS), "-runs=20000", "-max_len=4096", "-seed=2026", str(corpus)],
        capture_output=True, text=True, timeout=280, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done 20000 runs" in result.stderr
    assert not list(tmp_path.glob("crash-*")), "atheris saved a crashing input"
