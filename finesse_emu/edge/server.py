"""The client-path proxy of one Finesse node: it owns the node's client-facing ports and carries the
bytes to the node (or its Notification Service) listening on an internal address, through the
toxics of :mod:`finesse_emu.edge.core`.

One process holds one node's ports (REST http/https, XMPP, XMPP over TLS, BOSH/WebSocket over http
and https). TLS passes through untouched: the proxy sees bytes, the node's certificate still names
the public address. Faults are Toxiproxy's (``client_latency``, ``client_bandwidth``,
``client_slicer``, ``client_timeout``, ``client_reset``: emu_base/faults.py), posted to the proxy's
control plane (emu_base/admin.py) for one port kind or all and one direction or both; they reach new
and existing connections, and ``DELETE /emu/faults`` heals them.

The proxy outlives the node behind it: killing the node or its Prosody leaves the public port
listening. A connection the upstream refuses is reset at once (the client connected, then reads
ECONNRESET), where without the proxy the client's connect itself would be refused (ECONNREFUSED):
a client that treats the two alike sees no difference; one that tells them apart should know it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import socket
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from emu_base import faults as F
from emu_base.admin import admin_routes, bound_port
from emu_base.clock import Clock, LoopClock
from emu_base.httpbody import app_runner
from emu_base.logs import get_logger
from emu_base.sansio import Driver
from finesse_emu.edge.core import Close, Deliver, Eof, Pipe, PipeOutput, Reset, Toxics

log = get_logger()

READ_SIZE = 64 * 1024
UPSTREAM, DOWNSTREAM = "upstream", "downstream"


@dataclass(frozen=True)
class Route:
    """One public port of the node and where its bytes go."""

    kind: str  # one of emu_base.faults.EDGE_PORTS but "all"
    host: str
    port: int
    upstream_host: str
    upstream_port: int

    @classmethod
    def parse(cls, text: str) -> Route:
        """``KIND=HOST:PORT,UPSTREAM_HOST:UPSTREAM_PORT`` (the ``--route`` option), or ValueError."""
        kind, sep, rest = text.partition("=")
        if not sep or kind not in F.EDGE_PORTS or kind == "all":
            raise ValueError(
                f"route {text!r}: KIND=HOST:PORT,UPSTREAM_HOST:PORT, KIND one of {F.EDGE_PORTS[1:]}"
            )
        try:
            public, upstream = rest.split(",")
            host, port = public.rsplit(":", 1)
            up_host, up_port = upstream.rsplit(":", 1)
            return cls(kind, host, int(port), up_host, int(up_port))
        except ValueError:
            raise ValueError(f"route {text!r}: KIND=HOST:PORT,UPSTREAM_HOST:PORT") from None


def toxics_of(active: list[F.Fault], port: str, direction: str) -> Toxics:
    """What the active faults do to one direction of one port kind (a later fault overrides an
    earlier one of the same kind)."""
    t: dict[str, Any] = {}
    for fault in active:
        p = fault.params
        if p["port"] not in ("all", port) or p["direction"] not in ("both", direction):
            continue
        if fault.kind == F.CLIENT_LATENCY.name:
            t.update(latency=p["ms"] / 1000, jitter=p["jitter_ms"] / 1000)
        elif fault.kind == F.CLIENT_BANDWIDTH.name:
            t.update(rate=p["rate_kb_s"] * 1000)
        elif fault.kind == F.CLIENT_SLICER.name:
            t.update(slice_size=p["size_bytes"], slice_delay=p["delay_ms"] / 1000)
        elif fault.kind == F.CLIENT_TIMEOUT.name:
            t.update(blackhole=True, close_after=p["close_after_ms"] / 1000 or None)
        elif fault.kind == F.CLIENT_RESET.name:
            t.update(reset_after=p["after_ms"] / 1000)
    return Toxics(**t)


def reset_connection(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), not a FIN: the peer reads ECONNRESET."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class Connection:
    """One client connection and its upstream: two pipes, each driven on the proxy's clock."""

    def __init__(
        self,
        proxy: EdgeProxy,
        route: Route,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        seed: int,
    ) -> None:
        self.route = route
        self._proxy = proxy
        self._client, self._upstream = client, upstream
        now = proxy.clock.now()
        self.pipes: dict[str, tuple[Pipe, Driver[PipeOutput]]] = {}
        for i, (direction, dst) in enumerate(((UPSTREAM, upstream[1]), (DOWNSTREAM, client[1]))):
            pipe = Pipe(now, None, seed * 2 + i)
            driver: Driver[PipeOutput] = Driver(pipe, proxy.clock, self._sink(dst))
            self.pipes[direction] = (pipe, driver)
        self._eofs = 0
        self._reset = False
        self.closed = asyncio.Event()
        self.apply()

    def apply(self) -> None:
        """The proxy's current toxics for this connection's port, from now on."""
        now = self._proxy.clock.now()
        for direction, (pipe, driver) in self.pipes.items():
            pipe.set_toxics(now, self._proxy.toxics(self.route.kind, direction))
            driver.pump()

    async def run(self) -> None:
        tasks = [
            asyncio.create_task(self._copy(self._client[0], UPSTREAM, self._upstream[1])),
            asyncio.create_task(self._copy(self._upstream[0], DOWNSTREAM, self._client[1])),
        ]
        try:
            await self.closed.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for _, driver in self.pipes.values():
                driver.close()
            if not self._reset:  # a reset already aborted both
                for writer in (self._client[1], self._upstream[1]):
                    writer.close()

    async def _copy(self, reader: asyncio.StreamReader, direction: str, dst: asyncio.StreamWriter) -> None:
        pipe, driver = self.pipes[direction]
        try:
            while True:
                data = await reader.read(READ_SIZE)
                now = self._proxy.clock.now()
                if not data:
                    pipe.eof_received(now)
                    driver.pump()
                    return
                pipe.data_received(now, data)
                driver.pump()
                await dst.drain()  # the other side's pace: no unbounded buffer without a toxic
        except ConnectionError:
            # The node (or the client) reset its side: the client sees the same.
            self._finish(reset=True)

    def _sink(self, dst: asyncio.StreamWriter) -> Callable[[PipeOutput], None]:
        def on_output(output: PipeOutput) -> None:
            if isinstance(output, Deliver):
                if not dst.is_closing():
                    dst.write(output.data)
            elif isinstance(output, Eof):
                if dst.can_write_eof() and not dst.is_closing():
                    dst.write_eof()
                self._eofs += 1
                if self._eofs == 2:
                    self._finish(reset=False)
            elif isinstance(output, Close):
                self._finish(reset=False)
            elif isinstance(output, Reset):
                self._finish(reset=True)

        return on_output

    def _finish(self, reset: bool) -> None:
        if self.closed.is_set():
            return
        if reset:
            self._reset = True
            for writer in (self._client[1], self._upstream[1]):
                reset_connection(writer)
        self.closed.set()


class EdgeProxy:
    """The client-path proxy of one node: its routes, its faults, its control plane."""

    def __init__(
        self,
        name: str,
        routes: list[Route],
        admin_host: str,
        admin_port: int,
        token: str | None = None,
        seed: int = 0,
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self.routes = routes
        self.admin_host, self.admin_port = admin_host, admin_port
        self.clock: Clock = clock or LoopClock()
        self.faults = F.FaultRegistry(
            F.EDGE, {kind: self._changed for kind in F.KINDS.of(F.EDGE)}, after=self._apply
        )
        self._token = token
        self._seeds = itertools.count(seed * 1_000_003)
        self._servers: dict[str, asyncio.Server] = {}
        self.ports: dict[str, int] = {}
        self.connections: set[Connection] = set()
        self._admin_runner: web.AppRunner | None = None
        self._toxics: dict[tuple[str, str], Toxics] = {}
        self.stats = {"accepted": 0, "upstream_refused": 0}

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        for route in self.routes:
            server = await asyncio.start_server(
                functools.partial(self._accept, route),
                route.host,
                route.port,
                reuse_address=True,
            )
            self._servers[route.kind] = server
            self.ports[route.kind] = server.sockets[0].getsockname()[1]
        self._admin_runner = app_runner(
            admin_routes(self.name, "edge", self.health, self.faults, self._token), access_log=None
        )
        await self._admin_runner.setup()
        site = web.TCPSite(self._admin_runner, self.admin_host, self.admin_port, reuse_address=True)
        await site.start()
        self.admin_port = bound_port(site)
        log.info("edge_listening", name=self.name, ports=self.ports, admin_port=self.admin_port)

    async def stop(self) -> None:
        for server in self._servers.values():
            server.close()
        for conn in list(self.connections):
            conn._finish(reset=False)
        if self._admin_runner is not None:
            await self._admin_runner.cleanup()
        for server in self._servers.values():
            await server.wait_closed()

    def health(self) -> Mapping[str, Any]:
        return {
            "state": "up",
            "ports": self.ports,
            "routes": {r.kind: f"{r.upstream_host}:{r.upstream_port}" for r in self.routes},
            "connections": len(self.connections),
            **self.stats,
        }

    # -- faults ----------------------------------------------------------------------------------
    def _changed(self, fault: F.Fault, active: bool) -> None:
        """Every kind does the same: the toxics are recomputed from the active faults (``after``)."""

    def _apply(self) -> None:
        active = self.faults.active()
        self._toxics = {
            (r.kind, d): toxics_of(active, r.kind, d) for r in self.routes for d in (UPSTREAM, DOWNSTREAM)
        }
        for conn in list(self.connections):
            conn.apply()

    def toxics(self, port: str, direction: str) -> Toxics:
        return self._toxics.get((port, direction), Toxics())

    # -- connections -----------------------------------------------------------------------------
    async def _accept(self, route: Route, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats["accepted"] += 1
        try:
            upstream = await asyncio.open_connection(route.upstream_host, route.upstream_port)
        except OSError as exc:
            # The node or its Prosody is down: the client's connection is reset at once.
            self.stats["upstream_refused"] += 1
            log.info("edge_upstream_refused", port=route.kind, error=str(exc))
            reset_connection(writer)
            return
        conn = Connection(self, route, (reader, writer), upstream, next(self._seeds))
        self.connections.add(conn)
        try:
            await conn.run()
        finally:
            self.connections.discard(conn)
