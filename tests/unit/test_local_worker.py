"""A local worker that does not exit 0 at its stop says why where the test's report shows it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gateway.brokers.process import BrokerProcess
from gateway.shell.local import LocalWorker


def _worker(tmp_path: Path, script: str) -> LocalWorker:
    worker = LocalWorker(tmp_path / "worker.log", {})
    worker.process = BrokerProcess([sys.executable, "-c", script], tmp_path / "worker.log", worker.env)
    worker.process.start()
    return worker


def test_a_worker_that_crashes_at_its_stop_logs_the_end_of_its_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """CI showed only `assert 1 == 0` for a worker that crashed while stopping: its log stayed behind."""
    script = (
        "import signal, sys\n"
        "def crash(*_): print('Crashed reason=ConsumerStoppedError()', flush=True); sys.exit(1)\n"
        "signal.signal(signal.SIGTERM, crash)\n"
        "print('ready', flush=True)\n"
        "while True: signal.pause()\n"  # waiting for the signal, as a worker does
    )
    worker = _worker(tmp_path, script)
    worker.process.wait_until(lambda: "ready" in worker.log_tail(), 30, "the stand-in's start")
    assert worker.stop() == 1
    assert "worker exited 1 at its stop" in caplog.text and "Crashed reason=ConsumerStoppedError()" in caplog.text


def test_an_orderly_stop_logs_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    worker = _worker(tmp_path, "print('stopped in order', flush=True)\n")
    assert worker.process.wait() == 0
    assert worker.stop() == 0 and "worker exited" not in caplog.text
