"""Waiting inside one event loop for what another task does."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(condition: Callable[[], bool], turns: int = 1000) -> None:
    """Give other tasks turns of the loop until they made `condition` true (bounded)."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")
