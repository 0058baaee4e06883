"""Finesse's CTI link wired to a duplex CTI server (sides A and B) in memory, on a ManualClock.

What h11's ConnectionPair is to h11: both ends are the real sans-IO cores (``CtiLink`` on the
Finesse side, ``CtiServerCore`` plus ``DuplexArbiter`` per PG side), and this module is the wire
between them. Bytes from ``data_to_send()`` go to the side's ``data_received``; the side's ``Send``
outputs come back to the link; the arbiters' decisions and the replication records travel over an
in-memory private link as the JSON lines the stub's shell writes. Nothing opens a socket or sleeps:
time moves only in :meth:`CtiPair.run` / :meth:`CtiPair.run_until`, straight to the next deadline.

What the asyncio shells do is mirrored here, no more: a side accepts TCP only while it listens
(active, or an idle mode other than NOT_LISTENING), a killed side resets its connections and the
peer sees the private link drop, a hung side (SIGSTOP) still accepts TCP but never answers and its
peer notices after the link timeout. The private link comes up at once when both sides run (the
shell redials every ping interval).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cti_stub.core import Close, CoreConfig, CtiServerCore, IdleMode, Notice, Replicate, Role, Send
from cti_stub.core import Output as ServerOutput
from cti_stub.duplex import AskPeerToTakeOver, BecomeActive, BecomeIdle, Decision, DuplexArbiter
from cti_stub.model import PeripheralModel
from cti_stub.peer_link import MIN_PEER_LINK_TIMEOUT
from emu_base.clock import ManualClock
from emu_base.directory import generate
from emu_base.timers import Timers
from finesse_emu.server.cti import CloseRequested, ConnectRequested, CtiLink, CtiLinkConfig, Output
from ged188 import Message


class Cores:
    """Every call the pair makes into the three cores, in one place.

    The cores speak one vocabulary (``emu_base.sansio``: ``now`` first, ``outputs()``,
    ``next_deadline()`` / ``handle_timer(now)``); this class is where the pair meets it.
    """

    # --- Finesse's CtiLink (monotonic time) ---
    @staticmethod
    def link_start(link: CtiLink, now: float) -> None:
        link.start(now)

    @staticmethod
    def link_connection_made(link: CtiLink, now: float) -> None:
        link.connection_made(now)

    @staticmethod
    def link_connection_failed(link: CtiLink, now: float, reason: str) -> None:
        link.connection_failed(now, reason)

    @staticmethod
    def link_connection_lost(link: CtiLink, now: float, reason: str) -> None:
        link.connection_lost(now, reason)

    @staticmethod
    def link_data_received(link: CtiLink, now: float, data: bytes) -> None:
        link.data_received(now, data)

    @staticmethod
    def link_handle_timer(link: CtiLink, now: float) -> None:
        link.handle_timer(now)

    @staticmethod
    def link_next_deadline(link: CtiLink) -> float | None:
        return link.next_deadline()

    @staticmethod
    def link_outputs(link: CtiLink) -> list[Output]:
        return link.outputs()

    @staticmethod
    def link_data_to_send(link: CtiLink) -> bytes:
        return link.data_to_send()

    @staticmethod
    def link_request(link: CtiLink, now: float, msg: Message) -> int:
        return link.request(now, msg)

    # --- the PG side's CtiServerCore (wall time, as the stub's shell passes it) ---
    @staticmethod
    def server_open_session(core: CtiServerCore, now: float, peer: str) -> int:
        return core.open_session(now, peer)

    @staticmethod
    def server_data_received(core: CtiServerCore, now: float, sid: int, data: bytes) -> None:
        core.data_received(now, sid, data)

    @staticmethod
    def server_session_lost(core: CtiServerCore, now: float, sid: int) -> None:
        core.session_lost(now, sid)

    @staticmethod
    def server_handle_timer(core: CtiServerCore, now: float) -> None:
        core.handle_timer(now)

    @staticmethod
    def server_next_deadline(core: CtiServerCore) -> float | None:
        return core.next_deadline()

    @staticmethod
    def server_outputs(core: CtiServerCore) -> list[ServerOutput]:
        return core.outputs()

    @staticmethod
    def server_become_active(core: CtiServerCore, now: float, reason: str, takeover: bool) -> None:
        core.become_active(now, reason, takeover)

    @staticmethod
    def server_become_idle(core: CtiServerCore, now: float, reason: str) -> None:
        core.become_idle(now, reason)

    @staticmethod
    def server_drop_all(core: CtiServerCore, now: float, reason: str, failure_event: bool) -> None:
        core.drop_all(now, reason, failure_event=failure_event)

    @staticmethod
    def server_snapshot(core: CtiServerCore) -> dict[str, Any]:
        return core.snapshot()

    @staticmethod
    def server_apply_replica(core: CtiServerCore, now: float, payload: dict[str, Any]) -> None:
        core.apply_replica(now, payload)

    # --- the PG side's DuplexArbiter (wall time) ---
    @staticmethod
    def arbiter_new(
        side: str, preferred: bool, takeover_delay: float, has_peer: bool, now: float
    ) -> DuplexArbiter:
        return DuplexArbiter(side, preferred, takeover_delay, has_peer, now)

    @staticmethod
    def arbiter_outputs(arbiter: DuplexArbiter) -> list[Decision]:
        return arbiter.outputs()

    @staticmethod
    def arbiter_handle_timer(arbiter: DuplexArbiter, now: float) -> None:
        arbiter.handle_timer(now)

    @staticmethod
    def arbiter_next_deadline(arbiter: DuplexArbiter) -> float | None:
        return arbiter.next_deadline()

    @staticmethod
    def arbiter_link_up(arbiter: DuplexArbiter, now: float) -> None:
        arbiter.on_link_up(now)

    @staticmethod
    def arbiter_link_down(arbiter: DuplexArbiter, now: float) -> None:
        arbiter.on_link_down(now)

    @staticmethod
    def arbiter_peer_role(arbiter: DuplexArbiter, now: float, role: Role) -> None:
        arbiter.on_peer_role(now, role)

    @staticmethod
    def arbiter_takeover_request(arbiter: DuplexArbiter, now: float) -> None:
        arbiter.on_takeover_request(now)

    @staticmethod
    def arbiter_deactivate(arbiter: DuplexArbiter, now: float) -> None:
        arbiter.deactivate(now)


E = TypeVar("E")
SIDES = {"A": ("A", "pg-a", 42027), "B": ("B", "pg-b", 43027)}
# The client's ClientID seen by the server (session "peer" string; any name does).
CLIENT_PEER = "finesse:40000"


@dataclass
class PgSide:
    """One CTI Server process: its core, its arbiter and what the shell keeps about it."""

    name: str
    core: CtiServerCore
    arbiter: DuplexArbiter
    idle_mode: IdleMode
    alive: bool = True
    hung: bool = False  # SIGSTOPped: the kernel still accepts TCP, the process answers nothing
    refusing: bool = False  # the refuse_sessions fault
    notices: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)

    @property
    def model(self) -> PeripheralModel:
        return self.core.model

    @property
    def role(self) -> Role:
        return self.core.role

    @property
    def listening(self) -> bool:
        """The shell's ``_wants_listener``; a dead side listens on nothing."""
        if not self.alive or self.refusing:
            return False
        return self.core.role is Role.ACTIVE or self.idle_mode is not IdleMode.NOT_LISTENING

    @property
    def running(self) -> bool:
        return self.alive and not self.hung

    def notice_events(self) -> list[str]:
        return [event for _, event, _ in self.notices]


@dataclass
class _Connection:
    side: str
    sid: int | None  # None on a hung side: accepted by the kernel, never seen by the core


class CtiPair:
    """A Finesse CTI link and a duplex CTI server, wired in memory. See the module docstring."""

    def __init__(
        self,
        timers: Timers | None = None,
        *,
        sides: tuple[str, ...] = ("A", "B"),
        idle_mode: dict[str, IdleMode] | None = None,
        agents: int = 10,
        load: int = 0,
        start: float = 1000.0,
        **link_overrides: Any,
    ) -> None:
        # Times near 1000 keep "now + (deadline - now) == deadline" exact in floating point; wall time
        # equal to monotonic time keeps the sides' (wall) deadlines exact on the same axis.
        self.clock = ManualClock(start, wall0=start)
        self.timers = timers or Timers()
        t = self.timers
        self.link = CtiLink(CtiLinkConfig.from_timers([SIDES[s] for s in sides], t, **link_overrides))
        self._agents = agents
        self._load = load
        self._idle_modes = idle_mode or {}
        self._has_peer = len(sides) > 1
        # The stub's shell: the private link declares a silent peer dead after its timeout.
        self.peer_link_timeout = max(MIN_PEER_LINK_TIMEOUT, t.cti_peer_link_timeout)
        self.sides: dict[str, PgSide] = {}
        self.events: list[tuple[float, Output]] = []  # every link output, with its monotonic time
        self._conn: _Connection | None = None
        self._peer_link = False
        self._peer_queue: list[tuple[str, str]] = []  # (to side, JSON line) on the private link
        self._timers: list[tuple[float, Callable[[], None]]] = []
        for name in sides:
            self.sides[name] = self._new_side(name)
        self._connect_peers()
        self.pump()

    # --- time ----------------------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    def wall(self) -> float:
        return self.clock.wall()

    def _mono(self, wall: float) -> float:
        return wall - (self.clock.wall() - self.clock.now())  # exact: the offset is 0

    def _deadlines(self) -> list[float]:
        out = [at for at, _ in self._timers]
        link_deadline = Cores.link_next_deadline(self.link)
        if link_deadline is not None:
            out.append(link_deadline)
        for side in self.sides.values():
            if side.running:
                server_deadline = Cores.server_next_deadline(side.core)
                if server_deadline is not None:
                    out.append(self._mono(server_deadline))
                arbiter_deadline = Cores.arbiter_next_deadline(side.arbiter)
                if arbiter_deadline is not None:
                    out.append(self._mono(arbiter_deadline))
        return out

    def _fire_timers(self) -> None:
        now, wall = self.now(), self.wall()
        due = [cb for at, cb in self._timers if at <= now]
        self._timers = [(at, cb) for at, cb in self._timers if at > now]
        for cb in due:
            cb()
        deadline = Cores.link_next_deadline(self.link)
        if deadline is not None and deadline <= now:
            Cores.link_handle_timer(self.link, now)
        for side in self.sides.values():
            if not side.running:
                continue
            deadline = Cores.server_next_deadline(side.core)
            if deadline is not None and deadline <= wall:
                Cores.server_handle_timer(side.core, wall)
            deadline = Cores.arbiter_next_deadline(side.arbiter)
            if deadline is not None and deadline <= wall:
                Cores.arbiter_handle_timer(side.arbiter, wall)

    def run(self, seconds: float) -> None:
        """Let ``seconds`` pass, firing every deadline on the way at its exact time."""
        self.run_until(lambda: False, seconds, "", must=False)

    def run_until(
        self, condition: Callable[[], bool], within: float, what: str, *, must: bool = True
    ) -> float:
        """Advance deadline by deadline until ``condition()``; return the time it took.

        Raises AssertionError naming ``what`` if ``within`` seconds pass first (``must=False``: just stop).
        """
        start = self.now()
        end = start + within
        self._fire_timers()
        self.pump()
        while not condition():
            if self.now() >= end:
                if must:
                    raise AssertionError(
                        f"not within {within:g} s (virtual): {what}; link events: {self.events}"
                    )
                break
            target = min([end, *(d for d in self._deadlines() if d > self.now())])
            self.clock.advance(target - self.now())
            self._fire_timers()
            self.pump()
        return self.now() - start

    # --- the wire ------------------------------------------------------------------------------------

    def pump(self) -> None:
        """Move everything that is ready to move until nothing does."""
        for _ in range(100_000):
            if not self._step():
                return
        raise AssertionError("the pair never settled: a loop between the cores")

    def _step(self) -> bool:
        moved = False
        now, wall = self.now(), self.wall()
        for event in Cores.link_outputs(self.link):
            moved = True
            self.events.append((now, event))
            self._on_link_output(event)
        data = Cores.link_data_to_send(self.link)
        if data:
            moved = True
            conn = self._conn
            if conn is not None and conn.sid is not None and self.sides[conn.side].running:
                Cores.server_data_received(self.sides[conn.side].core, wall, conn.sid, data)
        for side in self.sides.values():
            if not side.running:
                continue
            moved |= self._apply_decisions(side)
            for out in Cores.server_outputs(side.core):
                moved = True
                self._on_server_output(side, out)
        queue, self._peer_queue = self._peer_queue, []
        for to, line in queue:
            target = self.sides[to]
            if not self._peer_link:
                continue  # lost with the link
            if not target.running:
                self._peer_queue.append((to, line))  # waits in the socket buffer
                continue
            moved = True
            self._on_peer_message(target, json.loads(line))
        return moved

    def _on_link_output(self, event: Output) -> None:
        now = self.now()
        if isinstance(event, ConnectRequested):
            side = self.sides.get(event.side)
            if side is None or not side.listening:
                Cores.link_connection_failed(self.link, now, "connection refused")
                return
            sid = None if side.hung else Cores.server_open_session(side.core, self.wall(), CLIENT_PEER)
            self._conn = _Connection(side.name, sid)
            Cores.link_connection_made(self.link, now)
        elif isinstance(event, CloseRequested):
            conn, self._conn = self._conn, None
            if conn is not None and conn.sid is not None and self.sides[conn.side].running:
                # Finesse resets the socket (SO_LINGER 0): the server sees the connection go.
                Cores.server_session_lost(self.sides[conn.side].core, self.wall(), conn.sid)

    def _on_server_output(self, side: PgSide, out: ServerOutput) -> None:
        conn = self._conn
        ours = conn is not None and conn.side == side.name and conn.sid == getattr(out, "sid", None)
        if isinstance(out, Send):
            if ours:
                Cores.link_data_received(self.link, self.now(), out.data)
        elif isinstance(out, Close):
            if ours:
                self._conn = None
                Cores.link_connection_lost(self.link, self.now(), f"closed by side {side.name}: {out.reason}")
        elif isinstance(out, Replicate):
            self._peer_send(side, out.payload)
        elif isinstance(out, Notice):
            side.notices.append((self.now(), out.event, out.fields))

    # --- the private link between the sides (the stub shell's JSON lines) ---------------------------

    def _other(self, side: PgSide) -> PgSide | None:
        return next((s for s in self.sides.values() if s is not side), None)

    def _peer_send(self, side: PgSide, payload: dict[str, Any]) -> None:
        other = self._other(side)
        if other is None or not self._peer_link:
            return
        if payload.get("t") in ("agent", "call", "snapshot") and side.core.role is not Role.ACTIVE:
            return
        self._peer_queue.append((other.name, json.dumps(payload, separators=(",", ":"))))

    def _apply_decisions(self, side: PgSide) -> bool:
        wall = self.wall()
        decisions = Cores.arbiter_outputs(side.arbiter)
        for d in decisions:
            if isinstance(d, BecomeActive):
                Cores.server_become_active(side.core, wall, d.reason, d.takeover)
                self._peer_send(side, {"t": "role", "role": Role.ACTIVE.value})
                self._peer_send(side, Cores.server_snapshot(side.core))
            elif isinstance(d, BecomeIdle):
                Cores.server_become_idle(side.core, wall, d.reason)
                self._peer_send(side, {"t": "role", "role": Role.IDLE.value})
            elif isinstance(d, AskPeerToTakeOver):
                self._peer_send(side, {"t": "takeover"})
        return bool(decisions)

    def _on_peer_message(self, side: PgSide, payload: dict[str, Any]) -> None:
        wall = self.wall()
        kind = payload["t"]
        if kind in ("hello", "role"):
            Cores.arbiter_peer_role(side.arbiter, wall, Role(payload["role"]))
        elif kind == "takeover":
            Cores.arbiter_takeover_request(side.arbiter, wall)
        elif kind in ("snapshot", "agent", "call"):
            Cores.server_apply_replica(side.core, wall, payload)

    def _connect_peers(self) -> None:
        if not self._has_peer or self._peer_link or not all(s.running for s in self.sides.values()):
            return
        self._peer_link = True
        for side in self.sides.values():
            Cores.arbiter_link_up(side.arbiter, self.wall())
            self._peer_send(side, {"t": "hello", "side": side.name, "role": side.core.role.value})
            if side.core.role is Role.ACTIVE:
                self._peer_send(side, Cores.server_snapshot(side.core))

    def _peer_link_down(self) -> None:
        if not self._peer_link:
            return
        self._peer_link = False
        self._peer_queue.clear()
        for side in self.sides.values():
            if side.running:
                Cores.arbiter_link_down(side.arbiter, self.wall())

    def _new_side(self, name: str) -> PgSide:
        t = self.timers
        core = CtiServerCore(
            PeripheralModel(generate(self._agents), load=self._load),
            CoreConfig.from_timers(
                t, side=name, idle_mode=self._idle_modes.get(name, IdleMode.NOT_LISTENING)
            ),
        )
        arbiter = Cores.arbiter_new(name, name == "A", t.cti_takeover_delay, self._has_peer, self.wall())
        return PgSide(name, core, arbiter, core.config.idle_mode)

    # --- what a test does --------------------------------------------------------------------------

    def start(self) -> None:
        """Start Finesse's link (the sides run from construction)."""
        Cores.link_start(self.link, self.now())
        self.pump()

    def request(self, msg: Message, *, deliver: bool = True) -> int:
        """Send a request on the link (LinkNotOpenError while it is not OPEN); the answer is an event.

        ``deliver=False`` leaves it in flight: nothing moves until the next pump, kill or run.
        """
        invoke_id = Cores.link_request(self.link, self.now(), msg)
        if deliver:
            self.pump()
        return invoke_id

    def side(self, name: str) -> PgSide:
        return self.sides[name]

    @property
    def connected_side(self) -> str | None:
        return self._conn.side if self._conn is not None else None

    def kill(self, name: str) -> None:
        """kill -9: the connection is reset, the peer sees the private link drop at once (EOF)."""
        side = self.sides[name]
        side.alive = False
        if self._conn is not None and self._conn.side == name:
            self._conn = None
            Cores.link_connection_lost(self.link, self.now(), "connection reset by peer")
        self._peer_link_down()
        self.pump()

    def restart(self, name: str) -> None:
        """A new process for a killed side: a fresh core and arbiter; the private link comes back."""
        assert not self.sides[name].alive, f"side {name} still runs"
        self.sides[name] = self._new_side(name)
        self._connect_peers()
        self.pump()

    def hang(self, name: str) -> None:
        """SIGSTOP: nothing answers; the peer drops the private link after its timeout."""
        self.sides[name].hung = True
        self._timers.append((self.now() + self.peer_link_timeout, self._peer_link_down))

    def deactivate(self, name: str) -> None:
        """The ``deactivate`` fault: go idle and hand over to the other side now."""
        side = self.sides[name]
        Cores.arbiter_deactivate(side.arbiter, self.wall())
        self._apply_decisions(side)  # in the same call, as the shell's fault handler does
        self.pump()

    def set_offline(self, name: str, offline: bool) -> None:
        """The ``offline`` fault: FAILURE_EVENT to every session, and OPEN_REQ refused while set."""
        side = self.sides[name]
        side.core.offline = offline
        if offline:
            Cores.server_drop_all(side.core, self.wall(), "offline fault", True)
        self.pump()

    def cut_peer_link(self) -> None:
        """The private link between the sides breaks while both keep running (a partition)."""
        self._peer_link_down()
        self.pump()

    def mend_peer_link(self) -> None:
        self._connect_peers()
        self.pump()

    def of_type(self, kind: type[E], since: float | None = None) -> list[E]:
        """Link events of one type (optionally at or after ``since``)."""
        return [e for at, e in self.events if isinstance(e, kind) and (since is None or at >= since)]

    def timed(self, kind: type[E], since: float | None = None) -> list[tuple[float, E]]:
        return [(at, e) for at, e in self.events if isinstance(e, kind) and (since is None or at >= since)]
