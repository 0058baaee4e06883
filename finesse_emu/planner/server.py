"""The planner's driver of the capacity model: a Finesse node's health in front of its capacity.

The model itself (the node's vCPUs as a c-server FIFO queue, its egress link, the Agent PG's
serial login processing, the costs by kind) is ``finesse_emu.capacity``: the same pure cores the
live node runs with ``--capacity`` (docs/planner.md, "One model"). Here the planner drives them on
its discrete-event clock (``SimClock``) and adds what the node decides when a request has been
worked: its health (a host gone, Tomcat down, OUT_OF_SERVICE) and reload coordination.

* Agent PG: one ``AgentPg`` core shared by both nodes. An agent sign-in (PUT User LOGIN) is
  confirmed only after the PG has processed the login, one agent at a time; this is the part of a
  failover that more vCPUs on Finesse do not speed up (docs/planner.md, calibration).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from emu_base.sansio import Driver
from finesse_emu.capacity import AgentPg, Capacity, Costs, Kind, Link, NodeCapacity, Output, Served, Worked
from finesse_emu.capacity.profile import COSTS
from finesse_emu.planner.events import SimClock, Simulator

__all__ = ["Costs", "Kind", "Network", "Node", "Request", "SerialResource"]


@dataclass(frozen=True)
class Network:
    """The client-server path: the same for every desktop of a run."""

    rtt: float  # seconds
    initial_window: int  # bytes of TCP's first flight (RFC 6928: 10 segments)
    dead_timeout: float  # how long a client waits for a host that no longer answers

    @property
    def one_way(self) -> float:
        return self.rtt / 2

    @property
    def link(self) -> Link:
        return Link(rtt=self.rtt, initial_window=self.initial_window)

    def window_delay(self, size: int) -> float:
        """Extra round trips for a response bigger than TCP's first flight (``Link.window_delay``)."""
        return self.link.window_delay(size)


class Request:
    """One request in flight. The server fills in ``ok``, ``status`` and ``heartbeat_ok`` when it
    serves it (what the node says at that moment), then calls ``done(request)`` on arrival."""

    __slots__ = ("done", "heartbeat_ok", "kind", "node", "ok", "owner", "status")

    def __init__(self, owner: object, node: str, kind: Kind, done: Callable[[Request], None]) -> None:
        self.owner = owner
        self.node = node
        self.kind = kind
        self.done = done
        self.ok = False
        self.status = ""
        self.heartbeat_ok = False


class SerialResource:
    """The Agent PG (one ``AgentPg`` core on the simulator's clock), shared by both nodes."""

    def __init__(self, sim: Simulator, pg_sign_in: float = COSTS.pg_sign_in) -> None:
        self.core = AgentPg(pg_sign_in)
        self.driver: Driver[Output] = Driver(self.core, SimClock(sim), self._on_output)
        self.sim = sim

    @property
    def busy(self) -> float:
        return self.core.busy

    def login(self, node: Node, request: Request) -> None:
        self.core.login(self.sim.now, (node, request))
        self.driver.pump()

    @staticmethod
    def _on_output(output: Output) -> None:
        node, request = cast("tuple[Node, Request]", output.request_id)
        node.respond(request)


class _Local:
    """The node's own work (CTI resync) in the vCPU queue, and whom to tell when it is done."""

    __slots__ = ("done",)

    def __init__(self, done: Callable[[object], None]) -> None:
        self.done = done


class Node:
    """One Finesse node: health flags in front of its capacity (vCPUs, egress link, byte meter)."""

    def __init__(
        self,
        name: str,
        sim: Simulator,
        net: Network,
        costs: Costs,
        vcpus: int,
        bandwidth_mbps: float,
        pg: SerialResource,
    ) -> None:
        self.name = name
        self.sim = sim
        self.net = net
        self.costs = costs
        self.pg = pg
        self.capacity = NodeCapacity(
            Capacity(vcpus=vcpus, costs=costs, bandwidth_mbps=bandwidth_mbps, link=net.link)
        )
        self.driver: Driver[Output] = Driver(self.capacity, SimClock(sim), self._on_output)
        # Health, as a desktop finds it: host_up False = the host is gone (no answer at all, the
        # client gives up after its timeout); web_up False = Tomcat down on a live host (refused);
        # xmpp_up False = the Notification Service down; status = SystemInfo's status.
        self.host_up = True
        self.web_up = True
        self.xmpp_up = True
        self.status = "IN_SERVICE"
        self.heartbeat_ok = True
        # Reload coordination: at most ``reload_slots`` desktops between their sign-in and the end
        # of their reload (0 = no limit); the sign-ins over it wait, first come first served.
        self.reload_slots = 0
        self._holders: set[object] = set()
        self._waiting: deque[Request] = deque()
        self.request_bins: dict[int, int] = {}  # requests served per second of virtual time
        self.requests = 0

    @property
    def bins(self) -> dict[int, float]:
        """Bytes sent per second of virtual time."""
        return self.capacity.bins

    # -- the queue -----------------------------------------------------------------------------------
    def send(self, request: Request) -> None:
        """The client sends ``request`` now: it reaches the node one one-way delay later."""
        self.capacity.submit(self.sim.now, request, request.kind)
        self.driver.pump()

    def run_local(self, done: Callable[[object], None]) -> None:
        """Work the node does for itself (a CTI resync: ``Costs.resync``) on the same vCPUs,
        first come first served."""
        self.capacity.submit(self.sim.now, _Local(done), Kind.RESYNC)
        self.driver.pump()

    def _on_output(self, output: Output) -> None:
        rid = output.request_id
        if isinstance(output, Worked):
            if isinstance(rid, _Local):
                rid.done(None)
            else:
                self._served(rid)  # type: ignore[arg-type]
        elif isinstance(output, Served):
            request: Request = rid  # type: ignore[assignment]
            request.done(request)

    def _served(self, request: Request) -> None:
        # What the node answers is decided when it has done the work (its health may have changed
        # while the request queued: a CTI failover, the node dying under the load).
        self.requests += 1
        second = int(self.sim.now)
        self.request_bins[second] = self.request_bins.get(second, 0) + 1
        if not self.host_up:  # the host died with the request in it: the client times out
            request.ok = False
            self.sim.after(self.net.dead_timeout, request.done, request)
            return
        request.status, request.heartbeat_ok = self.status, self.heartbeat_ok
        kind = request.kind
        if not self.web_up:
            request.ok = False
        elif kind is Kind.SYSTEMINFO:
            request.ok = True  # SystemInfo answers 200 even OUT_OF_SERVICE
        elif kind is Kind.XMPP:
            request.ok = self.xmpp_up
        else:
            request.ok = self.status == "IN_SERVICE"  # 503 while OUT_OF_SERVICE
        if kind is Kind.SIGN_IN and request.ok:
            if self.reload_slots and len(self._holders) >= self.reload_slots:
                self._waiting.append(request)  # its turn comes when a reload ends (release)
            else:
                self._admit(request)
        else:
            self.respond(request)

    def _admit(self, request: Request) -> None:
        if self.reload_slots:
            self._holders.add(request.owner)
        # The login goes through the Agent PG (one at a time) before it is confirmed.
        self.pg.login(self, request)

    def release(self, owner: object) -> None:
        """``owner``'s reload is over (loaded or failed): its slot goes to the next sign-in."""
        if owner in self._holders:
            self._holders.discard(owner)
            if self._waiting:
                self._admit(self._waiting.popleft())

    def respond(self, request: Request) -> None:
        kind = request.kind if request.ok else Kind.REST
        self.capacity.respond(self.sim.now, request, self.capacity.size(kind))
        self.driver.pump()

    @property
    def cpu_busy(self) -> float:
        return self.capacity.cpu_busy

    @property
    def peak_requests(self) -> int:
        return max(self.request_bins.values(), default=0)

    def peak_mbps(self) -> float:
        return self.capacity.peak_mbps()

    def seconds_above(self, fraction: float) -> int:
        """Seconds in which the node sent at least ``fraction`` of its peak rate."""
        return self.capacity.seconds_above(fraction)
