"""The tests' one way to wait (tests/helpers.py): it returns what it waited for, or says what never came."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tests.helpers import eventually, eventually_blocking


async def test_eventually_returns_the_value_that_met_the_condition() -> None:
    counter = itertools.count()
    assert await eventually(lambda: next(counter), "the counter at 3", until=lambda n: n >= 3) == 3


async def test_eventually_awaits_a_coroutine_probe() -> None:
    calls: list[int] = []

    async def probe() -> list[int]:
        calls.append(len(calls))
        await asyncio.sleep(0)
        return list(calls)

    assert await eventually(probe, "two calls", until=lambda seen: len(seen) == 2) == [0, 1]


@pytest.mark.looptime
async def test_eventually_names_what_it_awaited_and_the_last_value_seen() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(AssertionError, match=r"not within 2 s: side B active; last value seen: 'idle'"):
        await eventually(lambda: "idle", "side B active", until=lambda role: role == "active", within=2.0)
    assert 2.0 <= loop.time() - start < 2.1  # virtual time: the bound is on the loop's clock


@pytest.mark.looptime
async def test_eventually_retries_only_the_errors_it_is_told_to() -> None:
    attempts = itertools.count()

    def flaky() -> int:
        n = next(attempts)
        if n < 2:
            raise ConnectionRefusedError("not yet")
        return n

    assert await eventually(flaky, "a connection", retry=(ConnectionRefusedError,)) == 2
    with pytest.raises(ValueError):  # not in retry: fails at once
        await eventually(lambda: int("x"), "never retried", retry=(ConnectionRefusedError,))
    with pytest.raises(AssertionError, match=r"nothing \(the probe never returned\); last error: OSError"):
        await eventually(lambda: (_ for _ in ()).throw(OSError("down")), "up", within=0.1, retry=(OSError,))


def test_eventually_blocking_same_contract() -> None:
    counter = itertools.count()
    assert (
        eventually_blocking(lambda: next(counter), "the counter at 2", until=lambda n: n >= 2, every=0) == 2
    )
    with pytest.raises(AssertionError, match=r"not within 0.05 s: a miracle; last value seen: False"):
        eventually_blocking(lambda: False, "a miracle", within=0.05, every=0.01)
