"""The event loop of the processes that run desktops (swarm, scenarios, chaos runs, benchmarks).

The standard asyncio loop, or uvloop with ``FINESSE_EMU_LOOP=uvloop`` (when it is installed; it is
not a dependency). In the 2000-desktop failover bench uvloop's gain was within the run-to-run
spread (docs/benchmarks.md), so it stays a choice, like the node's ``--uvloop``. Tests run on their
own loops (pytest-asyncio, looptime).
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
    """The factory ``run`` uses: None (asyncio's own) unless $FINESSE_EMU_LOOP is ``uvloop``."""
    choice = os.environ.get("FINESSE_EMU_LOOP", "asyncio").lower() or "asyncio"
    if choice == "asyncio":
        return None
    if choice != "uvloop":
        raise LoopChoiceError(f"FINESSE_EMU_LOOP={choice!r}: asyncio or uvloop")
    factory = uvloop_factory()
    if factory is None:
        raise LoopChoiceError("FINESSE_EMU_LOOP=uvloop: uvloop is not installed (pip install uvloop)")
    return factory


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
