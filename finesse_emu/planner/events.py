"""The discrete-event loop of the planner: a heap of ``(time, seq, callback, argument)``.

Nothing sleeps and nothing touches a socket: ``run`` pops the earliest entry, moves ``now`` to its
time and calls it. ``seq`` breaks ties in scheduling order, so two runs with the same inputs call
the same callbacks in the same order (the planner's determinism rests on this).

The loop is the planner's inner loop (a 24,000-agent run pops about two million entries), so it is
kept to bare tuples and ``heapq``: no handle objects. ``SimClock`` lends the loop to
``emu_base.sansio.Driver`` (one small handle per machine deadline, which a cancel marks stale), so
the planner drives the desktop machine with the same driver as the asyncio client.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

from emu_base.sansio import Cancellable

Callback = Callable[[Any], None]


class Simulator:
    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._heap: list[tuple[float, int, Callback, Any]] = []
        self._seq = 0
        self.processed = 0  # callbacks run so far (reported, and a guard in tests)

    def at(self, when: float, callback: Callback, arg: Any = None) -> None:
        """Call ``callback(arg)`` at virtual time ``when`` (never in the past)."""
        self._seq += 1
        heapq.heappush(self._heap, (when if when > self.now else self.now, self._seq, callback, arg))

    def after(self, delay: float, callback: Callback, arg: Any = None) -> None:
        self.at(self.now + delay, callback, arg)

    def run(self, until: float | None = None) -> None:
        """Run until nothing is scheduled, or until the next entry is later than ``until``."""
        heap, pop = self._heap, heapq.heappop
        limit = float("inf") if until is None else until
        count = 0
        while heap and heap[0][0] <= limit:
            when, _, callback, arg = pop(heap)
            self.now = when
            callback(arg)
            count += 1
        self.processed += count
        if until is not None and until > self.now:
            self.now = until

    def __len__(self) -> int:
        return len(self._heap)


class _SimTimer:
    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def _fire(timer: _SimTimer) -> None:
    if not timer.cancelled:
        timer.callback()


class SimClock:
    """A :class:`Simulator` seen as the clock of ``emu_base.sansio.Driver`` (``now``, ``call_at``)."""

    __slots__ = ("sim",)

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def now(self) -> float:
        return self.sim.now

    def call_at(self, when: float, callback: Callable[[], None]) -> Cancellable:
        timer = _SimTimer(callback)
        self.sim.at(when, _fire, timer)
        return timer
