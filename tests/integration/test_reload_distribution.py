"""Reload distribution over real sockets: a node with its default settings spreads a burst of desktop
content requests ("failover and consequent desktop reloads are evenly distributed to prevent
overwhelming of the Finesse server"); with ``reload_distribution: false`` it serves them at once. The
rate follows the node's own desktop layout: a node whose layout has fewer gadgets admits less."""

from __future__ import annotations

import asyncio

from emu_base.timers import Timers
from finesse_emu.server.reload import DESKTOP_RESOURCES
from tests.helpers import eventually
from tests.integration.test_finesse_node import HOST, Deployment, deployment

# Large enough that the spread (the whole reload of every desktop over reload_spread, 0.8 s here)
# is well above what the node needs to serve the content unpaced on a loaded machine.
SCALE = 0.1


async def reload_everyone(d: Deployment, gadgets: int = 6) -> tuple[int, list[float]]:
    """Every desktop of the node reloads at once (the ``gadgets`` of its layout and its resources):
    the number of desktops and when each answer came, in seconds from the first request."""
    desktops = await eventually(lambda: len(d.node.directory), "directory loaded", until=lambda n: n > 0)
    await eventually(lambda: d.node.layouts.content.desktops, "content known", until=lambda n: n == desktops)
    base = f"http://{HOST}:{d.node.http_port}/desktop"
    paths = [f"/gadgets/xml/g{i}" for i in range(gadgets)]
    paths += [f"/resources/r{i}.js" for i in range(DESKTOP_RESOURCES)]
    loop = asyncio.get_running_loop()
    t0 = loop.time()

    async def fetch(path: str) -> float:
        async with d.http.get(f"{base}{path}") as resp:
            await resp.read()
            assert resp.status == 200
        return loop.time() - t0

    done = await asyncio.gather(*(fetch(p) for _ in range(desktops) for p in paths))
    return desktops, sorted(done)


def bounds(desktops: int, timers: Timers, gadgets: int = 6) -> tuple[float, float]:
    """The default policy's rate (requests per real second) and burst for this node, whose layout
    has ``gadgets`` gadgets."""
    per_desktop = gadgets + DESKTOP_RESOURCES
    rate = desktops * per_desktop / timers.reload_spread
    return rate, max(rate * timers.reload_burst, per_desktop)


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
        assert d.node.stats["content_paced"] > 0


async def test_switched_off_a_burst_of_reloads_is_served_at_once() -> None:
    timers = Timers.build(SCALE)
    async with deployment(timers, reload_distribution=False) as d:
        desktops, done = await reload_everyone(d)
        _rate, burst = bounds(desktops, timers)
        # No request was held (how fast they came back depends on the host: no time bound here);
        # the same reload under the default policy holds most of them.
        assert len(done) > burst and d.node.stats["content_paced"] == 0


async def test_the_rate_follows_the_nodes_layout() -> None:
    """A node whose layout has 2 gadgets: its desktops load 6 requests each (not the 10 of the
    default desktop), so the rate is 6 per desktop over the spread, and the burst held to it."""
    timers = Timers.build(SCALE)
    async with deployment(timers, layout={"xml": 2}) as d:
        desktops, done = await reload_everyone(d, gadgets=2)
        rate, burst = bounds(desktops, timers, gadgets=2)
        assert d.node.layouts.content.requests == desktops * (2 + DESKTOP_RESOURCES)
        for i, t in enumerate(done):
            assert i + 1 <= burst + rate * t + 1, (i, t)
        # Spread at the layout's rate: slower than a fixed 10 requests per desktop would serve them.
        assert done[-1] >= (len(done) - burst) / rate
        assert done[-1] > (len(done) - burst) / (desktops * 10 / timers.reload_spread)
