"""Reload distribution over real sockets: a node with its default settings spreads a burst of desktop
content requests ("failover and consequent desktop reloads are evenly distributed to prevent
overwhelming of the Finesse server"); with ``reload_distribution: false`` it serves them at once."""

from __future__ import annotations

import asyncio

from emu_base.timers import Timers
from finesse_emu.server.reload import CONTENT_PER_DESKTOP
from tests.helpers import eventually
from tests.integration.test_finesse_node import HOST, Deployment, deployment

# Large enough that the spread (the whole reload of every desktop over reload_spread, 0.8 s here)
# is well above what the node needs to serve the content unpaced on a loaded machine.
SCALE = 0.1


async def reload_everyone(d: Deployment) -> tuple[int, list[float]]:
    """Every desktop of the node reloads at once (its gadgets and resources): the number of
    desktops and when each answer came, in seconds from the first request."""
    desktops = await eventually(lambda: len(d.node.directory), "directory loaded", until=lambda n: n > 0)
    base = f"http://{HOST}:{d.node.http_port}/desktop"
    paths = [f"/gadgets/xml/g{i}" for i in range(6)] + [f"/resources/r{i}.js" for i in range(4)]
    assert len(paths) == CONTENT_PER_DESKTOP
    loop = asyncio.get_running_loop()
    t0 = loop.time()

    async def fetch(path: str) -> float:
        async with d.http.get(f"{base}{path}") as resp:
            await resp.read()
            assert resp.status == 200
        return loop.time() - t0

    done = await asyncio.gather(*(fetch(p) for _ in range(desktops) for p in paths))
    return desktops, sorted(done)


def bounds(desktops: int, timers: Timers) -> tuple[float, float]:
    """The default policy's rate (requests per real second) and burst for this node."""
    rate = desktops * CONTENT_PER_DESKTOP / timers.reload_spread
    return rate, max(rate * timers.reload_burst, CONTENT_PER_DESKTOP)


async def test_by_default_a_burst_of_reloads_is_spread() -> None:
    timers = Timers.build(SCALE)
    async with deployment(timers) as d:
        assert d.node.config.reload_distribution  # nothing configured: on
        desktops, done = await reload_everyone(d)
        rate, burst = bounds(desktops, timers)
        # Served at most `burst` at once, then at the rate: answered by t, at most burst + rate * t.
        for i, t in enumerate(done):
            assert i + 1 <= burst + rate * t + 1, (i, t)
        # Evenly over the spread (no request waits longer: tests/unit/test_reload_distribution.py).
        assert done[-1] >= (len(done) - burst) / rate


async def test_switched_off_a_burst_of_reloads_is_served_at_once() -> None:
    timers = Timers.build(SCALE)
    async with deployment(timers, reload_distribution=False) as d:
        desktops, done = await reload_everyone(d)
        rate, burst = bounds(desktops, timers)
        # Faster than the default policy would ever allow.
        assert done[-1] < (len(done) - burst) / rate, done[-1]
