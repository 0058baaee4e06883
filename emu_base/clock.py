"""The one clock abstraction.

Sans-IO cores never read a clock: callers pass ``now`` in. Asyncio shells ask a :class:`Clock`.
:class:`LoopClock` reads the running event loop, so under ``looptime`` (virtual time in tests) every
shell, timer and wall-clock timestamp moves on the virtual clock together.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol

from emu_base.sansio import Cancellable


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds (for timers and durations)."""

    def wall(self) -> float:
        """Seconds since the epoch (for timestamps on the wire and in logs)."""

    async def sleep(self, seconds: float) -> None: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> Cancellable:
        """Run ``callback`` once ``now()`` reaches ``when`` (a past ``when`` runs it at the next turn)."""


class LoopClock:
    """Time of the running asyncio loop; wall time is anchored once and advanced with loop time."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wall0 = 0.0
        self._mono0 = 0.0

    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._wall0 = time.time()
            self._mono0 = loop.time()
        return loop

    def now(self) -> float:
        return self._bind().time()

    def wall(self) -> float:
        loop = self._bind()
        return self._wall0 + (loop.time() - self._mono0)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def call_at(self, when: float, callback: Callable[[], None]) -> Cancellable:
        # loop.time() is what now() returns, so the loop's own timer heap serves (and looptime
        # moves it in virtual time).
        return self._bind().call_at(when, callback)


class _ManualTimer:
    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock that only moves when told to; for driving sans-IO cores in unit tests.

    ``advance`` runs the callbacks of ``call_at`` that fall due, in deadline order, with ``now()``
    set to each one's deadline while it runs, as a loop would.
    """

    def __init__(self, start: float = 0.0, wall0: float = 1_700_000_000.0) -> None:
        self._now = start
        self._wall0 = wall0 - start
        self._heap: list[tuple[float, int, _ManualTimer]] = []
        self._seq = itertools.count()

    def call_at(self, when: float, callback: Callable[[], None]) -> Cancellable:
        timer = _ManualTimer(callback)
        heapq.heappush(self._heap, (when, next(self._seq), timer))
        return timer

    def next_timer(self) -> float | None:
        """The earliest pending deadline, or None."""
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._wall0 + self._now

    def advance(self, seconds: float) -> None:
        target = self._now + seconds
        while (when := self.next_timer()) is not None and when <= target:
            _, _, timer = heapq.heappop(self._heap)
            self._now = max(self._now, when)
            timer.callback()
        self._now = target

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)
