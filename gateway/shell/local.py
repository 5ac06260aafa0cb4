"""A worker run as a child process on this machine: for the demo, the end-to-end tests and the
benchmarks, which all need a real worker next to a real broker."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

from gateway.brokers.process import BrokerError, BrokerProcess, free_port

log = logging.getLogger("facegate.local")


class LocalWorker:
    running_instances: ClassVar[set[LocalWorker]] = set()  # so test harnesses can clean up after failures

    def __init__(self, log_path: Path, env: dict[str, str]) -> None:
        self.web_port = free_port()
        self.env = {
            **os.environ,
            "FACEGATE_WEB_PORT": str(self.web_port),
            "FACEGATE_WEB_HOST": "127.0.0.1",
            "FACEGATE_SESSION_TIMEOUT_MS": "6000",
            **env,
        }
        argv = [
            sys.executable,
            "-m",
            "gateway",
            "run",
            "--no-provision",
            "--loglevel",
            os.environ.get("FACEGATE_WORKER_LOGLEVEL", "info"),
        ]
        self.process = BrokerProcess(argv, log_path, self.env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as response:  # noqa: S310 - our loopback worker
                return int(response.status), response.read().decode()
        except OSError as exc:
            return int(getattr(exc, "code", 0) or 0), ""

    def metric(self, name: str, **labels: str) -> float:
        """Sum of a Prometheus metric's samples whose labels include `labels`."""
        total = 0.0
        wanted = [f'{k}="{v}"' for k, v in labels.items()]
        for line in self.get("/metrics")[1].splitlines():
            if line.startswith(name) and all(w in line for w in wanted):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def start(self, timeout: float = 90.0) -> None:
        self.process.start()
        LocalWorker.running_instances.add(self)
        self.process.wait_until(lambda: self.get("/readyz")[0] == 200, timeout, "FaceGate worker readiness")

    def wait_until(self, condition: Callable[[], object], timeout: float, what: str) -> None:
        """Like the process's wait, but a worker still running at the deadline is asked where
        its tasks wait (SIGUSR1), and the answer is part of the error."""
        try:
            self.process.wait_until(condition, timeout, what)
        except BrokerError as exc:
            if not self.running():
                raise
            raise BrokerError(f"{exc}\n{self.task_dump()}") from None

    def task_dump(self, timeout: float = 10.0) -> str:
        """The worker's asyncio tasks and the coroutines each waits in, from its log."""
        from gateway.shell.process_signals import TASK_DUMP_MARKER as marker  # imports Faust: only when needed

        before = self.process.log_text().count(marker)
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.process.log_text()
            if text.count(marker) > before:
                return marker + text.rsplit(marker, 1)[1]
            time.sleep(0.1)  # poll interval while the worker writes its dump
        return "(the worker wrote no task dump)"

    def wait_for_enrolled(self, count: int, timeout: float = 60.0) -> None:
        self.wait_until(
            lambda: self.metric("facegate_enrolled_subjects") >= count,
            timeout,
            f"{count} enrollments applied",
        )

    def running(self) -> bool:
        return self.process.running()

    def stop(self) -> int | None:
        """Stop the worker (SIGTERM, then SIGKILL after 30 s); its exit code. An orderly stop
        exits 0; otherwise the end of its log is logged, where a test's report or CI shows it."""
        LocalWorker.running_instances.discard(self)
        code = self.process.stop(timeout=30)
        if code not in (0, None):
            log.warning("worker exited %s at its stop; the end of its log:\n%s", code, self.log_tail())
        return code

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """The worker stopped where it stands (SIGSTOP) until the block ends (SIGCONT): it decides,
        sends and answers nothing meanwhile, so a test can order a fault before the worker's next
        step rather than race it. Longer than the session timeout, it also leaves its group; and its
        clocks run on meanwhile (a produce in flight counts the frozen time as stalled)."""
        if not self.running():  # a reaped worker's pid may be another process's by now
            raise BrokerError(f"cannot freeze a worker that exited\n{self.log_tail()}")
        self.process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        LocalWorker.running_instances.discard(self)
        self.process.kill()

    def log_tail(self, lines: int = 30) -> str:
        return self.process.log_tail(lines)
