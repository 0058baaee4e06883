"""The event loop of the emulator's Python processes that run desktops or serve them.

uvloop when it is installed (a dependency on Linux), else asyncio's own; ``FINESSE_EMU_LOOP``
(``asyncio`` or ``uvloop``) chooses, and child processes (the launcher's nodes, swarm slices)
inherit it. In the 2000-desktop failover bench, where the machine is CPU-bound, uvloop took about
20% off the swarm's CPU and 0.5 s off the p95 (docs/benchmarks.md). Tests run on their own loops
(pytest-asyncio, looptime).
"""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory, or None when uvloop is not installed."""
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


class LoopChoiceError(RuntimeError):
    pass


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory ``run`` uses (None: asyncio's own): $FINESSE_EMU_LOOP, else uvloop if installed."""
    choice = os.environ.get("FINESSE_EMU_LOOP", "").lower()
    if choice == "asyncio":
        return None
    if choice not in ("", "uvloop"):
        raise LoopChoiceError(f"FINESSE_EMU_LOOP={choice!r}: asyncio or uvloop")
    factory = uvloop_factory()
    if factory is None and choice == "uvloop":
        raise LoopChoiceError("FINESSE_EMU_LOOP=uvloop: uvloop is not installed (pip install uvloop)")
    return factory


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
