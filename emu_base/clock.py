"""The one clock abstraction.

Sans-IO cores never read a clock: callers pass ``now`` in. Asyncio shells ask a :class:`Clock`.
:class:`LoopClock` reads the running event loop, so under ``looptime`` (virtual time in tests) every
shell, timer and wall-clock timestamp moves on the virtual clock together.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds (for timers and durations)."""

    def wall(self) -> float:
        """Seconds since the epoch (for timestamps on the wire and in logs)."""

    async def sleep(self, seconds: float) -> None: ...


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


class ManualClock:
    """A clock that only moves when told to; for driving sans-IO cores in unit tests."""

    def __init__(self, start: float = 0.0, wall0: float = 1_700_000_000.0) -> None:
        self._now = start
        self._wall0 = wall0 - start

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._wall0 + self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        self._now += max(0.0, seconds)
        await asyncio.sleep(0)
