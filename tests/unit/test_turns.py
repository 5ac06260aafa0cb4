"""A batch is decided in slices of about a turn's budget, the event loop's turn between them
(gateway/shell/turns.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from gateway.shell.turns import Turns

TICK = 2.0**-6  # binary fractions: the slice sizes below are exact, not rounded down by float error


class Clock:
    """Deciding costs `per_item` seconds per item on this clock, and nothing else moves it."""

    def __init__(self, per_item: float) -> None:
        self.now, self.per_item = 0.0, per_item
        self.slices: list[list[int]] = []

    def __call__(self) -> float:
        return self.now

    def decide(self, some: Sequence[int]) -> None:
        """Decides a slice: records it and spends its time."""
        self.slices.append(list(some))
        self.now += self.per_item * len(some)


def test_every_item_is_decided_once_in_order_in_slices_of_the_budget() -> None:
    clock = Clock(per_item=TICK)
    turns = Turns(budget=5 * TICK, least=2, clock=clock)
    spent = asyncio.run(turns.decide(list(range(23)), clock.decide))
    assert [i for s in clock.slices for i in s] == list(range(23))
    # The first slice is the least; from then on five items fill the budget.
    assert [len(s) for s in clock.slices] == [2, 5, 5, 5, 5, 1]
    assert spent == 23 * TICK
    assert turns.size == 5  # learned for the next batch


def test_the_event_loop_runs_between_slices() -> None:
    clock = Clock(per_item=TICK)
    turns = Turns(budget=2 * TICK, least=1, clock=clock)
    ran: list[str] = []

    async def scenario() -> None:
        async def other() -> None:  # a probe's request, a fetched message's hand-off
            ran.append("other")

        def decide(some: Sequence[int]) -> None:
            if not ran:  # scheduled while the first slice is decided
                asyncio.get_running_loop().create_task(other())
            ran.append(f"slice {list(some)}")
            clock.decide(some)

        await turns.decide([1, 2, 3], decide)

    asyncio.run(scenario())
    assert ran == ["slice [1]", "other", "slice [2, 3]"]


def test_a_batch_within_the_budget_is_one_slice_and_gives_no_turn() -> None:
    clock = Clock(per_item=TICK)
    turns = Turns(budget=100 * TICK, least=4, clock=clock)
    turns.size = 100  # learned from earlier batches

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        turned = loop.create_future()
        loop.call_soon(turned.set_result, True)
        await turns.decide(list(range(60)), clock.decide)
        assert not turned.done(), "the whole batch was decided without giving the loop a turn"

    asyncio.run(scenario())
    assert [len(s) for s in clock.slices] == [60]


def test_slow_items_never_shrink_a_slice_below_the_least() -> None:
    clock = Clock(per_item=10 * TICK)  # each item alone takes ten budgets
    turns = Turns(budget=TICK, least=3, clock=clock)
    asyncio.run(turns.decide(list(range(7)), clock.decide))
    assert [len(s) for s in clock.slices] == [3, 3, 1]


def test_deciding_until_stops_where_a_slice_was_cut_short() -> None:
    clock = Clock(per_item=TICK)
    turns = Turns(budget=4 * TICK, least=2, clock=clock)
    stop_at = 7  # the item before which the decision stops (a refusal worth deciding again later)

    def decide(some: Sequence[int]) -> int:
        done = [i for i in some if i < stop_at]
        clock.decide(done)
        return len(done)

    decided = asyncio.run(turns.decide_until(list(range(20)), decide))
    assert decided == stop_at
    assert [i for s in clock.slices for i in s] == list(range(stop_at))
    assert [len(s) for s in clock.slices] == [2, 4, 1]  # nothing offered after the cut


def test_deciding_until_decides_every_item_when_nothing_stops_it() -> None:
    clock = Clock(per_item=TICK)
    turns = Turns(budget=3 * TICK, least=1, clock=clock)

    def decide(some: Sequence[int]) -> int:
        clock.decide(some)
        return len(some)

    assert asyncio.run(turns.decide_until(list(range(10)), decide)) == 10
    assert [len(s) for s in clock.slices] == [1, 3, 3, 3]
