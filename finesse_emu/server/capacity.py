"""The live driver of the capacity model: a queue in front of the node's REST handling.

With ``NodeConfig.capacity`` set (``finesse-emu up --capacity 4vcpu|8vcpu``), every request to the
node's web port waits for the same model the planner runs (``finesse_emu.capacity``: the node's
vCPUs as a c-server FIFO queue, the Agent PG's serial login processing, the egress link; docs/
planner.md, "One model") before the node answers it. A node under failover load is then as slow
as the product's: a client tested here meets the sign-in that takes seconds, not milliseconds.
With ``none`` (the default) there is no middleware at all.

The model's time is emulated seconds; the node's clock runs in real seconds, scaled by
``time_scale`` (``Timers``): a request the model serves in 0.011 emulated seconds waits 0.0011 s at
time_scale 0.1.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from emu_base.clock import Clock
from emu_base.sansio import Cancellable, Driver
from finesse_emu.capacity import Capacity, Kind, NodeCapacity, Output, Served, profile
from finesse_emu.server.paths import API, SYSTEM_INFO_NODE

GADGETS = "/desktop/gadgets/"
RESOURCES = "/desktop/resources/"


class EmulatedClock:
    """The node's clock seen in emulated seconds (real seconds divided by ``time_scale``)."""

    __slots__ = ("clock", "scale")

    def __init__(self, clock: Clock, time_scale: float) -> None:
        self.clock = clock
        self.scale = time_scale

    def now(self) -> float:
        return self.clock.now() / self.scale

    def call_at(self, when: float, callback: Callable[[], None]) -> Cancellable:
        return self.clock.call_at(when * self.scale, callback)


async def classify(request: web.Request) -> Kind | None:
    """The model's kind of ``request``; None: not the product's work (the emulator's own routes)."""
    path = request.path
    if path == SYSTEM_INFO_NODE:
        return Kind.SYSTEMINFO
    if path.startswith(API):
        # PUT User LOGIN: the node's work, then the Agent PG's (the body is read once and cached
        # by aiohttp for the handler).
        user = request.method == "PUT" and path.startswith(f"{API}/User/") and path.count("/") == 4
        return Kind.SIGN_IN if user and b"LOGIN" in await request.read() else Kind.REST
    if path.startswith(GADGETS):
        return Kind.JSP_GADGET if path.startswith(f"{GADGETS}jsp/") else Kind.XML_GADGET
    if path.startswith(RESOURCES):
        # The browser holds it (a conditional request: 304) or fetches it whole.
        held = "If-None-Match" in request.headers or "If-Modified-Since" in request.headers
        return Kind.RESOURCE if held else Kind.RESOURCE_FULL
    return None


def gate(config_capacity: str, clock: Clock, time_scale: float) -> CapacityGate | None:
    """The node's gate for its ``capacity`` setting; None for "none" (no middleware at all)."""
    capacity = profile(config_capacity)
    return None if capacity is None else CapacityGate(capacity, clock, time_scale)


def install(app: web.Application, capacity_gate: CapacityGate | None) -> None:
    """Put the gate in front of ``app``'s handlers (innermost: the journal and the metrics outside
    it see the time a request waited); nothing for "none"."""
    if capacity_gate is not None:
        app.middlewares.append(capacity_gate.middleware())


class CapacityGate:
    """One node's capacity core on the node's clock; requests wait for their ``Served``."""

    def __init__(self, capacity: Capacity, clock: Clock, time_scale: float) -> None:
        self.core = NodeCapacity(capacity)
        self.clock = EmulatedClock(clock, time_scale)
        self.driver: Driver[Output] = Driver(self.core, self.clock, self._on_output)
        self._ids = itertools.count()
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self.queued = 0  # requests submitted to the model so far

    def _on_output(self, output: Output) -> None:
        if isinstance(output, Served):
            future = self._waiting.pop(output.request_id, None)  # type: ignore[call-overload]
            if future is not None and not future.done():  # a client gone meanwhile: cancelled
                future.set_result(None)

    async def admit(self, kind: Kind) -> None:
        """Wait until the model has served a request of ``kind`` that arrives now."""
        request_id = next(self._ids)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        self.queued += 1
        self.core.serve(self.clock.now(), request_id, kind)
        self.driver.pump()
        try:
            await future
        finally:
            self._waiting.pop(request_id, None)

    def middleware(self) -> Middleware:
        @web.middleware
        async def capacity(request: web.Request, handler: Handler) -> web.StreamResponse:
            kind = await classify(request)
            if kind is not None:
                await self.admit(kind)
            return await handler(request)

        return capacity

    def close(self) -> None:
        self.driver.close()
