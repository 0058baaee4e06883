"""A node with ``capacity="4vcpu"`` over real sockets: requests queue as the capacity model says.

The model's service times are lower bounds a loaded host cannot beat (it can only add to them), so
these tests assert what the model guarantees (work over vCPUs, the Agent PG one login at a time)
and never an upper bound: not a benchmark, never flaky on a slow host.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from emu_base.timers import Timers
from finesse_emu.capacity import COSTS, Kind
from tests.integration.test_finesse_node import HOST, basic, deployment

GADGETS = 100
SIGN_INS = 20
# Emulated seconds run twice as slow as real ones: the model's delays double, the host's own work
# does not, so the bounds stand well clear of what the host takes without the model.
SCALE = 2.0


async def _gadgets(http: aiohttp.ClientSession, port: int) -> float:
    """Seconds from sending GADGETS JSP gadget requests at once to the last answer."""

    async def one() -> None:
        async with http.get(f"http://{HOST}:{port}/desktop/gadgets/xml/team") as resp:
            assert resp.status == 200
            await resp.read()

    started = time.monotonic()
    await asyncio.gather(*(one() for _ in range(GADGETS)))
    return time.monotonic() - started


async def test_gadgets_queue_for_four_vcpus() -> None:
    # No reload distribution: its pacing of gadget requests would hide the model's queue.
    async with deployment(timers=Timers.build(SCALE), capacity="4vcpu", reload_distribution=False) as dep:
        assert dep.node.capacity_gate is not None
        assert dep.node.http_port is not None
        took = await _gadgets(dep.http, dep.node.http_port)
        # Work conserving: 100 gadgets of 11 emulated ms on 4 vCPUs cannot all be answered in under
        # 0.275 emulated seconds (0.55 s at time_scale 2).
        assert took >= GADGETS * COSTS.service(Kind.XML_GADGET) / 4 * SCALE
        assert dep.node.capacity_gate.queued >= GADGETS


async def test_sign_ins_go_through_the_agent_pg_one_at_a_time() -> None:
    async with deployment(timers=Timers.build(SCALE), capacity="4vcpu") as dep:

        async def sign_in(k: int) -> int:
            agent, body = str(1000 + k), f"<User><state>LOGIN</state><extension>{2000 + k}</extension></User>"
            url = f"http://{HOST}:{dep.node.http_port}/finesse/api/User/{agent}"
            headers = {**basic(agent), "Content-Type": "application/xml"}
            async with dep.http.put(url, data=body, headers=headers) as resp:
                return resp.status

        started = time.monotonic()
        statuses = await asyncio.gather(*(sign_in(k) for k in range(SIGN_INS)))
        took = time.monotonic() - started
        assert statuses == [202] * SIGN_INS
        # 20 logins through the PG at 20.3 emulated ms each: at least 0.406 emulated seconds (0.81 s
        # at time_scale 2), whatever the 4 vCPUs do.
        assert took >= SIGN_INS * COSTS.pg_sign_in * SCALE


async def test_capacity_none_puts_no_gate_in_front() -> None:
    async with deployment(timers=Timers.build(SCALE)) as dep:
        assert dep.node.capacity_gate is None
        app_middlewares = dep.node.rest_app().middlewares
        assert not any(getattr(m, "__name__", "") == "capacity" for m in app_middlewares)
