"""How a test waits: poll an observable condition, with a bound, and say what never happened.

``await eventually(probe, "what is awaited")`` calls ``probe`` (a function, or a coroutine function)
until ``until(value)`` holds (truthiness by default) and returns that value; after ``within``
seconds it raises an AssertionError naming what was awaited and the last value seen. The bound is
on the event loop's clock, so under ``looptime`` it is virtual time like everything else.

:func:`eventually_blocking` is the same for a test that is not a coroutine (it drives processes
with blocking calls), on ``time.monotonic``.

A test never sleeps to let something happen: it waits for the thing. The only sleeps left in tests
advance a virtual clock on purpose, or hold a real-time window open to show that something does
NOT happen during it (each says so where it stands).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast, overload

T = TypeVar("T")

DEFAULT_WITHIN = 5.0
DEFAULT_EVERY = 0.01
_MAX_REPR = 400


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."


class _Poll:
    """What one wait has seen so far: the last value or error, for the failure message. Both loops
    below share it and differ only in how they sleep and await."""

    def __init__(self, what: str, within: float, until: Callable[[Any], object]) -> None:
        self.what, self.within, self.until = what, within, until
        self.seen, self.last, self.error = False, cast(object, None), cast(BaseException | None, None)

    def holds(self, value: object) -> bool:
        self.seen, self.last, self.error = True, value, None
        return bool(self.until(value))

    def failure(self) -> AssertionError:
        last = _shown(self.last) if self.seen else "nothing (the probe never returned)"
        message = f"not within {self.within:g} s: {self.what}; last value seen: {last}"
        if self.error is not None:
            message += f"; last error: {self.error!r}"
        return AssertionError(message)


@overload
async def eventually(
    probe: Callable[[], Awaitable[T]],
    what: str,
    *,
    until: Callable[[T], object] = ...,
    within: float = ...,
    every: float = ...,
    retry: tuple[type[BaseException], ...] = ...,
) -> T: ...


@overload
async def eventually(
    probe: Callable[[], T],
    what: str,
    *,
    until: Callable[[T], object] = ...,
    within: float = ...,
    every: float = ...,
    retry: tuple[type[BaseException], ...] = ...,
) -> T: ...


async def eventually(
    probe: Callable[[], Any],
    what: str,
    *,
    until: Callable[[Any], object] = bool,
    within: float = DEFAULT_WITHIN,
    every: float = DEFAULT_EVERY,
    retry: tuple[type[BaseException], ...] = (),
) -> Any:
    """Poll ``probe`` every ``every`` seconds until ``until(value)``; return that value.

    ``retry``: exception types a probe may raise while the condition is not there yet (a port not
    open yet, say); any other exception fails the test at once.
    """
    loop = asyncio.get_running_loop()
    deadline, poll = loop.time() + within, _Poll(what, within, until)
    while True:
        try:
            result = probe()
            value = await result if inspect.isawaitable(result) else result
        except retry as exc:
            poll.error = exc
        else:
            if poll.holds(value):
                return value
        if loop.time() >= deadline:
            raise poll.failure()
        await asyncio.sleep(every)


def eventually_blocking(
    probe: Callable[[], T],
    what: str,
    *,
    until: Callable[[T], object] = bool,
    within: float = DEFAULT_WITHIN,
    every: float = 0.05,
    retry: tuple[type[BaseException], ...] = (),
) -> T:
    """:func:`eventually` for a test that is not a coroutine (blocking probes, real time)."""
    deadline, poll = time.monotonic() + within, _Poll(what, within, until)
    while True:
        try:
            value = probe()
        except retry as exc:
            poll.error = exc
        else:
            if poll.holds(value):
                return value
        if time.monotonic() >= deadline:
            raise poll.failure()
        time.sleep(every)
