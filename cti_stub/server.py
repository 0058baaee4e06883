"""The asyncio shell around :class:`CtiServerCore` and :class:`DuplexArbiter`.

One process = one PG side: the GED-188 listener, the private link to the other side (side B dials
side A; JSON lines), the control plane on the admin port. Both cores run under an
:class:`emu_base.sansio.Driver`, which arms their timers (idle timeouts, calls, takeover) on the
clock; the shell feeds them inputs and turns their outputs into writes, closes and log lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from aiohttp import web

from cti_stub.admin import add_cti_routes
from cti_stub.core import Close, CoreConfig, CtiServerCore, IdleMode, Notice, Output, Replicate, Role, Send
from cti_stub.duplex import AskPeerToTakeOver, BecomeActive, BecomeIdle, Decision, DuplexArbiter
from cti_stub.metrics import CtiMetrics
from cti_stub.model import OUTSIDE_NUMBERS, DeskSettings, PeripheralModel
from cti_stub.peer_link import PeerLink
from emu_base import faults as F
from emu_base.admin import admin_routes, bound_port
from emu_base.clock import Clock, LoopClock
from emu_base.directory import AgentRecord
from emu_base.httpbody import app_runner
from emu_base.logs import get_logger
from emu_base.sansio import Cancellable, Driver
from emu_base.timers import Timers

log = get_logger()

DEFAULT_PORTS = {"A": 42027, "B": 43027}


@dataclass
class ServerConfig:
    side: str = "A"
    host: str = "127.0.0.1"
    port: int | None = None  # None: the side's default (42027 A, 43027 B); 0: any free port
    peer: tuple[str, int] | None = None  # the other side's private link address
    link_host: str | None = None
    link_port: int | None = None  # None: port + 1
    admin_host: str | None = None
    admin_port: int | None = None  # None: port + 2; -1: no admin server
    admin_token: str | None = None
    preferred: bool | None = None  # None: side A is preferred
    load: int = 0
    peripheral_id: int = 5000
    idle_mode: IdleMode = IdleMode.NOT_LISTENING
    mrd_auto_restore: bool = False
    agents: list[AgentRecord] = field(default_factory=list)
    # Agent Desk Settings for agents whose file says none (cti_stub.model.DeskSettings).
    wrap_up_on_incoming: str = "NOT_ALLOWED"
    wrap_up_on_outgoing: str = "NOT_ALLOWED"
    # The dial plan's outside numbers (a regular expression a DialedNumber must match whole).
    outside_numbers: str = OUTSIDE_NUMBERS


class WallTimers:
    """The cores count in wall seconds (agent and call times are streamed to the other side); the
    driver's timers run on the shell's clock, whose wall time moves with its monotonic time."""

    def __init__(self, clock: Clock, side: str) -> None:
        self._clock = clock
        self._side = side

    def now(self) -> float:
        return self._clock.wall()

    def call_at(self, when: float, callback: Callable[[], None]) -> Cancellable:
        return self._clock.call_at(when - self._clock.wall() + self._clock.now(), self._guarded(callback))

    def _guarded(self, callback: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                callback()
            except Exception:
                # Logged with the side rather than by the loop's default handler; the next input
                # (a heartbeat, a peer ping) pumps the driver, which arms the timer again.
                log.exception("cti_timer_failed", side=self._side)

        return run


class _CtiProtocol(asyncio.Protocol):
    def __init__(self, server: CtiServer) -> None:
        self.server = server
        self.sid = 0

    def connection_made(self, base: asyncio.BaseTransport) -> None:
        # uvloop's transports quack like asyncio.Transport without subclassing it.
        transport = cast(asyncio.Transport, base)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        self.sid = self.server.core.open_session(
            self.server.clock.wall(), f"{peer[0]}:{peer[1]}" if peer else ""
        )
        self.server.transports[self.sid] = transport
        self.server.pump()

    def data_received(self, data: bytes) -> None:
        self.server.core.data_received(self.server.clock.wall(), self.sid, data)
        self.server.pump()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.transports.pop(self.sid, None)
        self.server.core.session_lost(self.server.clock.wall(), self.sid)
        self.server.pump()


class CtiServer:
    def __init__(
        self, config: ServerConfig, timers: Timers | None = None, clock: Clock | None = None
    ) -> None:
        self.config = config
        self.timers = timers or Timers.build()
        self.clock: Clock = clock or LoopClock()
        side = config.side.upper()
        if side not in DEFAULT_PORTS:
            raise ValueError("side must be A or B")
        self.side = side
        self.port = DEFAULT_PORTS[side] if config.port is None else config.port
        desk = DeskSettings(config.wrap_up_on_incoming, config.wrap_up_on_outgoing, self.timers.wrap_up_time)
        self.model = PeripheralModel(
            config.agents,
            config.peripheral_id,
            config.load,
            desk,
            self.timers.time_scale,
            outside_numbers=config.outside_numbers,
        )
        self.core = CtiServerCore(
            self.model,
            CoreConfig.from_timers(
                self.timers,
                side=side,
                peripheral_id=config.peripheral_id,
                idle_mode=config.idle_mode,
                mrd_auto_restore=config.mrd_auto_restore,
            ),
        )
        self._wall_timers = WallTimers(self.clock, side)
        self._core_driver = Driver(self.core, self._wall_timers, self._on_core_output)
        self.faults = F.FaultRegistry(
            F.CTI,
            {
                F.IGNORE_HEARTBEATS: self._ignore_heartbeats,
                F.FAIL_HEARTBEATS: self._fail_heartbeats,
                F.OFFLINE: self._offline,
                F.REFUSE_SESSIONS: self._refuse_sessions,
                F.DROP_SESSIONS: self._drop_sessions,
                F.DEACTIVATE: self._deactivate,
                F.LATENCY: self._set_latency,
            },
            after=self._after_fault,
        )
        self.transports: dict[int, asyncio.Transport] = {}
        self.arbiter: DuplexArbiter | None = None
        self._arbiter_driver: Driver[Decision] | None = None
        self._listener: asyncio.Server | None = None
        self.peer_link = PeerLink(
            side,
            self.clock,
            self.timers,
            on_up=self._peer_link_up,
            on_message=self._peer_message,
            on_down=self._peer_link_down,
        )
        self._admin_runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._listener_tasks: set[asyncio.Task[None]] = set()
        self._listener_lock = asyncio.Lock()
        self._latency = 0.0
        self._refusing = False
        self.admin_port: int | None = None
        self.link_port: int | None = None
        self.metrics = CtiMetrics(self)  # GET /metrics on the control plane (docs/metrics.md)

    # -- lifecycle -----------------------------------------------------------------------------------
    async def start(self) -> None:
        cfg = self.config
        preferred = cfg.preferred if cfg.preferred is not None else self.side == "A"
        self.arbiter = DuplexArbiter(
            self.side, preferred, self.timers.cti_takeover_delay, cfg.peer is not None, self.clock.wall()
        )
        self._arbiter_driver = Driver(self.arbiter, self._wall_timers, self._on_decision)
        if cfg.peer is not None or cfg.link_port is not None:
            link_port = cfg.link_port if cfg.link_port is not None else (self.port + 1 if self.port else 0)
            self.link_port = await self.peer_link.listen(cfg.link_host or cfg.host, link_port)
        if cfg.admin_port != -1:
            await self._start_admin()
        if cfg.peer is not None and self.side == "B":
            dial = self.peer_link.dial(cfg.peer)
            self._tasks.append(asyncio.create_task(dial, name=f"cti-{self.side}-dial"))
        self._pump_arbiter()
        self.pump()
        await self._update_listener()
        log.info(
            "cti_started",
            side=self.side,
            host=cfg.host,
            port=self.port,
            admin_port=self.admin_port,
            link_port=self.link_port,
            peer=cfg.peer,
            agents=len(cfg.agents),
            time_scale=self.timers.time_scale,
        )

    async def stop(self) -> None:
        self._core_driver.close()
        if self._arbiter_driver is not None:
            self._arbiter_driver.close()
        tasks = [*self._tasks, *self._listener_tasks]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for transport in list(self.transports.values()):
            transport.abort()
        self.peer_link.close()
        if self._admin_runner is not None:
            await self._admin_runner.cleanup()
        log.info("cti_stopped", side=self.side)

    # -- outputs -------------------------------------------------------------------------------------
    def pump(self) -> None:
        """After every input fed to the core: hand its outputs to the sockets, re-arm its timer."""
        self._core_driver.pump()

    def _on_core_output(self, out: Output) -> None:
        if isinstance(out, Send):
            transport = self.transports.get(out.sid)
            if transport is None or transport.is_closing():
                return
            if self._latency > 0:
                asyncio.get_running_loop().call_later(self._latency, self._late_write, transport, out.data)
            else:
                transport.write(out.data)
        elif isinstance(out, Close):
            transport = self.transports.get(out.sid)
            if transport is not None:
                if self._latency > 0:
                    asyncio.get_running_loop().call_later(self._latency, transport.close)
                else:
                    transport.close()
        elif isinstance(out, Replicate):
            self._link_send(out.payload)
        elif isinstance(out, Notice):
            log.info(out.event, **{"side": self.side, **out.fields})

    @staticmethod
    def _late_write(transport: asyncio.Transport, data: bytes) -> None:
        if not transport.is_closing():
            transport.write(data)

    # -- duplex --------------------------------------------------------------------------------------
    def _pump_arbiter(self) -> None:
        if self._arbiter_driver is not None:
            self._arbiter_driver.pump()

    def _on_decision(self, d: Decision) -> None:
        now = self.clock.wall()
        if isinstance(d, BecomeActive):
            self.core.become_active(now, d.reason, d.takeover)
            self._link_send({"t": "role", "role": Role.ACTIVE.value})
            self._link_send(self.core.snapshot())
        elif isinstance(d, BecomeIdle):
            self.core.become_idle(now, d.reason)
            self._link_send({"t": "role", "role": Role.IDLE.value})
        elif isinstance(d, AskPeerToTakeOver):
            self._link_send({"t": "takeover"})
        self.pump()
        # A decision may come from the takeover timer, with nobody awaiting: open or close the
        # listener in a task of its own.
        task = asyncio.get_running_loop().create_task(self._update_listener())
        self._listener_tasks.add(task)
        task.add_done_callback(self._listener_tasks.discard)

    def _wants_listener(self) -> bool:
        if self._refusing:
            return False
        return self.core.role is Role.ACTIVE or self.config.idle_mode is not IdleMode.NOT_LISTENING

    async def _update_listener(self) -> None:
        async with self._listener_lock:  # one create_server at a time
            await self._reconcile_listener()

    async def _reconcile_listener(self) -> None:
        want = self._wants_listener()
        if want and self._listener is None:
            loop = asyncio.get_running_loop()
            try:
                self._listener = await loop.create_server(
                    lambda: _CtiProtocol(self), self.config.host, self.port, reuse_address=True, backlog=4096
                )
            except OSError as exc:
                log.error("cti_listen_failed", side=self.side, port=self.port, error=str(exc))
                return
            self.port = self._listener.sockets[0].getsockname()[1]
            log.info("cti_listening", side=self.side, host=self.config.host, port=self.port)
        elif not want and self._listener is not None:
            self._listener.close()
            self._listener = None
            log.info("cti_not_listening", side=self.side, port=self.port)

    @property
    def listening(self) -> bool:
        return self._listener is not None

    def _link_send(self, payload: dict[str, Any]) -> None:
        if payload.get("t") in ("agent", "call", "snapshot") and self.core.role is not Role.ACTIVE:
            return
        self.peer_link.send(payload)

    def _peer_link_up(self) -> None:
        assert self.arbiter is not None
        self.arbiter.on_link_up(self.clock.wall())
        self._pump_arbiter()
        self._link_send({"t": "hello", "side": self.side, "role": self.core.role.value})
        if self.core.role is Role.ACTIVE:
            self._link_send(self.core.snapshot())

    async def _peer_message(self, payload: dict[str, Any]) -> None:
        assert self.arbiter is not None
        now = self.clock.wall()
        kind = payload["t"]
        if kind in ("hello", "role"):
            self.arbiter.on_peer_role(now, Role(payload["role"]))
        elif kind == "takeover":
            self.arbiter.on_takeover_request(now)
        elif kind in ("snapshot", "agent", "call"):
            self.core.apply_replica(now, payload)
        self._pump_arbiter()
        await self._update_listener()

    async def _peer_link_down(self) -> None:
        assert self.arbiter is not None
        self.arbiter.on_link_down(self.clock.wall())
        self._pump_arbiter()
        await self._update_listener()

    # -- faults --------------------------------------------------------------------------------------
    # The fault kinds are emu_base/faults.py; what each does to this side is bound here.
    def _ignore_heartbeats(self, fault: F.Fault, active: bool) -> None:
        client = fault.params["client"] or "*"
        if active:
            self.core.silent_clients.add(client)
        else:
            self.core.silent_clients.discard(client)

    def _fail_heartbeats(self, fault: F.Fault, active: bool) -> None:
        self.core.fail_heartbeats = active

    def _offline(self, fault: F.Fault, active: bool) -> None:
        self.core.offline = active
        if active:
            self.core.drop_all(self.clock.wall(), "offline fault", failure_event=True)

    def _refuse_sessions(self, fault: F.Fault, active: bool) -> None:
        self._refusing = active

    def _drop_sessions(self, fault: F.Fault, active: bool) -> None:
        self.core.drop_all(self.clock.wall(), "drop_sessions fault", client=fault.params["client"] or None)

    def _deactivate(self, fault: F.Fault, active: bool) -> None:
        if self.arbiter is not None:
            self.arbiter.deactivate(self.clock.wall())
            self._pump_arbiter()

    def _set_latency(self, fault: F.Fault, active: bool) -> None:
        self._latency = fault.params["ms"] / 1000.0 if active else 0.0

    async def _after_fault(self) -> None:
        self.pump()
        await self._update_listener()

    # -- admin ---------------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        sessions = list(self.core.sessions.values())
        return {
            "state": self.core.role.value,
            "side": self.side,
            "host": self.config.host,
            "port": self.port,
            "listening": self.listening,
            "sessions": len(sessions),
            "open_sessions": sum(1 for s in sessions if s.opened),
            "logged_in_agents": self.model.logged_in_count(),
            "active_calls": len(self.model.calls),
            "peer_link": self.peer_link.up,
            "peer_role": self.arbiter.peer_role.value if self.arbiter and self.arbiter.peer_role else None,
            "load": self.model.load,
            "idle_mode": self.config.idle_mode.value,
            "faults": [f.to_json() for f in self.faults.active()],
            "stats": dict(self.core.stats),
        }

    def admin_app(self) -> web.Application:
        """The control plane: the /emu routes of every component and the CTI stub's own."""
        app = admin_routes(
            f"cti-{self.side.lower()}",
            "cti",
            self.health,
            self.faults,
            self.config.admin_token,
            self.metrics.registry,
        )
        add_cti_routes(app, self)
        return app

    async def _start_admin(self) -> None:
        self._admin_runner = app_runner(self.admin_app(), access_log=None)
        await self._admin_runner.setup()
        port = (
            self.config.admin_port
            if self.config.admin_port is not None
            else (self.port + 2 if self.port else 0)
        )
        site = web.TCPSite(
            self._admin_runner, self.config.admin_host or self.config.host, port, reuse_address=True
        )
        await site.start()
        self.admin_port = bound_port(site)
