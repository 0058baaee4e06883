"""The sans-IO driver and ``Clock.call_at`` on the manual clock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from emu_base.clock import LoopClock, ManualClock
from emu_base.sansio import Driver


@dataclass
class Ticker:
    """A core that fires every ``period`` until stopped, and echoes inputs."""

    period: float
    start: float = 0.0
    fired: list[float] = field(default_factory=list)
    _out: list[str] = field(default_factory=list)
    _next: float | None = None

    def __post_init__(self) -> None:
        self._next = self.start + self.period

    def say(self, now: float, text: str) -> None:
        self._out.append(f"{text}@{now}")

    def stop(self, now: float) -> None:
        self._next = None

    def outputs(self) -> list[str]:
        out, self._out = self._out, []
        return out

    def next_deadline(self) -> float | None:
        return self._next

    def handle_timer(self, now: float) -> None:
        assert self._next is not None and now >= self._next
        self.fired.append(now)
        self._out.append(f"tick@{now}")
        self._next = now + self.period


def test_manual_clock_runs_due_callbacks_in_order_at_their_deadline() -> None:
    clock = ManualClock()
    seen: list[tuple[str, float]] = []
    clock.call_at(2.0, lambda: seen.append(("b", clock.now())))
    clock.call_at(1.0, lambda: seen.append(("a", clock.now())))
    late = clock.call_at(3.0, lambda: seen.append(("c", clock.now())))
    late.cancel()
    clock.advance(5.0)
    assert seen == [("a", 1.0), ("b", 2.0)]
    assert clock.now() == 5.0
    assert clock.next_timer() is None


def test_driver_drains_outputs_and_fires_the_core_timer() -> None:
    clock = ManualClock()
    core = Ticker(period=1.0)
    seen: list[str] = []
    driver = Driver(core, clock, seen.append)
    core.say(clock.now(), "hello")
    driver.pump()
    assert seen == ["hello@0.0"]
    clock.advance(3.5)
    assert core.fired == [1.0, 2.0, 3.0]
    assert seen[1:] == ["tick@1.0", "tick@2.0", "tick@3.0"]
    core.stop(clock.now())
    driver.pump()
    clock.advance(10.0)
    assert core.fired == [1.0, 2.0, 3.0]


def test_output_handler_may_feed_the_core_again_without_recursion() -> None:
    clock = ManualClock()
    core = Ticker(period=100.0)
    seen: list[str] = []

    def on_output(out: str) -> None:
        seen.append(out)
        if out.startswith("ping"):
            core.say(clock.now(), "pong")
            driver.pump()

    driver = Driver(core, clock, on_output)
    core.say(0.0, "ping")
    driver.pump()
    assert seen == ["ping@0.0", "pong@0.0"]


def test_closed_driver_fires_nothing() -> None:
    clock = ManualClock()
    core = Ticker(period=1.0)
    driver = Driver(core, clock, lambda _: None)
    driver.pump()
    driver.close()
    clock.advance(5.0)
    assert core.fired == []


async def test_loop_clock_call_at_uses_loop_time() -> None:
    clock = LoopClock()
    core = Ticker(period=0.01, start=clock.now())
    seen: list[str] = []
    driver = Driver(core, clock, seen.append)
    driver.pump()
    for _ in range(200):
        if len(core.fired) >= 3:
            break
        await asyncio.sleep(0.01)
    driver.close()
    assert len(core.fired) >= 3
    assert all(b > a for a, b in zip(core.fired, core.fired[1:], strict=False))
