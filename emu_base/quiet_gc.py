"""Garbage collection for long-lived processes with bursts: full passes between bursts.

A swarm of thousands of desktops, or a node serving them, keeps a few hundred thousand long-lived,
GC-tracked objects (slixmpp clients and stanzas are graphs of handlers, matchers and plugins).
CPython's full collection walks all of them: in a 2000-desktop failover bench a pass took up to
1.6 s in the swarm and 0.3 s in the subscriber, and both ran several in the middle of the failover
while every desktop waited (docs/benchmarks.md). So, once a burst has died down (an activity
counter stops moving for ``quiet`` seconds), the process collects once and freezes what survives
(``gc.freeze``): later automatic passes walk only the objects made since. Automatic full passes
stay on, ten times rarer, as a bound on the garbage a long burst can hold; frozen objects that die
are reclaimed at the next quiet collection, which unfreezes first.

``QuietPolicy`` is the pure decision (tested on its own); ``QuietCollector`` the loop around it.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass

# Automatic full passes after this many middle-generation passes (CPython's default is 10).
AUTOMATIC_FULL_AFTER = 100


@dataclass
class QuietPolicy:
    """Collect ``quiet`` seconds after the last activity, once per burst, and no more often than
    every ``min_interval`` seconds (a full pass is about a second at 2000 desktops)."""

    quiet: float = 2.0
    min_interval: float = 30.0
    last_activity: float | None = None
    collected_at: float | None = None

    def activity(self, now: float) -> None:
        self.last_activity = now

    def due(self, now: float) -> bool:
        if self.last_activity is None or now - self.last_activity < self.quiet:
            return False
        if self.collected_at is None:
            return True
        return self.collected_at < self.last_activity and now - self.collected_at >= self.min_interval

    def collected(self, now: float) -> None:
        self.collected_at = now


class QuietCollector:
    """Watches ``activity`` (any counter that moves while the process is busy) every
    ``check_every`` seconds and collects when ``QuietPolicy`` says so. ``stop`` restores the
    collector's thresholds and unfreezes everything."""

    def __init__(
        self,
        activity: Callable[[], int],
        quiet: float = 2.0,
        min_interval: float = 30.0,
        check_every: float = 0.5,
    ) -> None:
        self.activity = activity
        self.policy = QuietPolicy(quiet, min_interval)
        self.check_every = check_every
        self.passes = 0
        self.seconds = 0.0  # time spent in the quiet passes
        self._seen: int | None = None
        self._thresholds = gc.get_threshold()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._thresholds = gc.get_threshold()
            gc.set_threshold(self._thresholds[0], self._thresholds[1], AUTOMATIC_FULL_AFTER)
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.check_every)
            self.tick(time.monotonic())

    def tick(self, now: float) -> bool:
        """One check: notes activity, collects if due. True when it collected."""
        seen = self.activity()
        if seen != self._seen:
            self._seen = seen
            self.policy.activity(now)
        if not self.policy.due(now):
            return False
        t0 = time.monotonic()
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        took = time.monotonic() - t0
        self.policy.collected(now + took)
        self.passes += 1
        self.seconds += took
        return True

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
            gc.set_threshold(*self._thresholds)
        gc.unfreeze()
