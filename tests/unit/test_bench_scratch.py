"""A benchmark's scratch folder goes once the run ended well, and stays, named, when it failed."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from bench.scratch import scratch


@pytest.fixture(autouse=True)
def _in_tmp_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the folders kept go with the test's


def test_a_run_that_ends_well_leaves_no_broker_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACEGATE_BENCH_KEEP", raising=False)
    with scratch() as work:
        (work / "kafka" / "data").mkdir(parents=True)
        (work / "kafka" / "data" / "segment.log").write_bytes(b"x" * 1024)
    assert not work.exists()
    assert work.parent == Path(tempfile.gettempdir())


def test_a_failed_run_keeps_its_logs_and_says_where(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FACEGATE_BENCH_KEEP", raising=False)
    kept: list[Path] = []
    with pytest.raises(RuntimeError), scratch() as work:
        kept.append(work)
        (work / "worker.log").write_text("the end of a worker's log")
        raise RuntimeError("a broker did not start")
    assert (kept[0] / "worker.log").read_text() == "the end of a worker's log"
    assert str(kept[0]) in capsys.readouterr().err


def test_facegate_bench_keep_keeps_every_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEGATE_BENCH_KEEP", "1")
    with scratch("facegate-bench-test-") as work:
        (work / "worker.log").write_text("kept")
    assert (work / "worker.log").read_text() == "kept"
    assert work.name.startswith("facegate-bench-test-")
