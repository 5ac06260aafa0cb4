"""Helpers for tests against a real broker: names no other test uses, and waiting on a condition."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


def eventually(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    """Wait for a condition that another process makes true (metadata propagation, consumers)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout:.0f}s")
        time.sleep(0.1)  # poll interval


@dataclass(frozen=True)
class Unique:
    """Names no other test uses: a topic prefix and consumer group ids."""

    token: str

    @property
    def prefix(self) -> str:
        return f"{self.token}."

    def topic(self, name: str) -> str:
        return f"{self.token}.{name}"

    def group(self, name: str = "g") -> str:
        return f"{self.token}-{name}"
