"""The server model: a Finesse node as a multi-server queue, its egress link, and the Agent PG.

A request travels: client -> (one-way delay) -> the node's vCPUs -> the node's egress link ->
(one-way delay, plus a round trip per extra TCP window of response) -> client.

* vCPUs: ``vcpus`` identical cores, first come first served (a c-server FIFO queue). A request
  waits for the earliest free core and holds it for its service time. Core assignment is done when
  the request is *sent*, with arrival = send time + one-way delay: every sender sees the same
  one-way delay, and the event loop hands out sends in time order, so arrivals are assigned in
  arrival order and the queue is exact without an arrival event.
* Egress link: one FIFO transmitter of ``bandwidth_mbps`` shared by every response of the node.
  Bytes are counted per second of virtual time (``bins``): the peak of those is the peak
  bandwidth the planner reports.
* Agent PG: one FIFO server shared by both nodes. An agent sign-in (PUT User LOGIN) is confirmed
  only after the PG has processed the login, one agent at a time; this is the part of a failover
  that more vCPUs on Finesse do not speed up (docs/planner.md, calibration).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from finesse_emu.planner.events import Simulator


class Kind(StrEnum):
    """What a request asks for; each kind has a service time and a response size (``Costs``)."""

    SYSTEMINFO = "systeminfo"
    REST = "rest"  # User, Dialogs, ReasonCodes, WrapUpReasons
    SIGN_IN = "sign_in"  # PUT User LOGIN: REST work on the node, then the Agent PG
    XML_GADGET = "xml_gadget"
    JSP_GADGET = "jsp_gadget"
    RESOURCE = "resource"  # a desktop resource the browser holds: revalidated (304)
    RESOURCE_FULL = "resource_full"  # one it does not hold: fetched whole
    XMPP = "xmpp"  # a Notification Service session (BOSH session, SASL, bind, subscriptions)
    RESYNC = "resync"  # CTI failover: the node rebuilds one agent's state after reconnecting


@dataclass(frozen=True)
class Costs:
    """Per-request service time (CPU seconds on one vCPU) and response size (bytes) by kind.

    The values are the calibration's (``calibration.py``); see docs/planner.md for how they were
    chosen. JSP gadgets cost ``jsp_factor`` times an XML gadget: Cisco's "The JSP-based gadgets
    take thrice the time to load than the XML-based gadgets"."""

    systeminfo: float
    rest: float
    sign_in: float
    xml_gadget: float
    jsp_factor: float
    resource: float
    resource_full: float
    xmpp: float
    resync: float
    pg_sign_in: float  # Agent PG seconds per login (serial, shared by both nodes)
    systeminfo_bytes: int
    rest_bytes: int
    sign_in_bytes: int
    gadget_bytes: int
    resource_bytes: int  # a 304 revalidation
    resource_full_bytes: int
    xmpp_bytes: int

    def service(self, kind: Kind) -> float:
        if kind is Kind.XML_GADGET:
            return self.xml_gadget
        if kind is Kind.JSP_GADGET:
            return self.xml_gadget * self.jsp_factor
        return float(getattr(self, kind.value))

    def size(self, kind: Kind) -> int:
        if kind in (Kind.XML_GADGET, Kind.JSP_GADGET):
            return self.gadget_bytes
        if kind is Kind.RESYNC:
            return 0  # stays inside the node
        return int(getattr(self, f"{kind.value}_bytes"))


@dataclass(frozen=True)
class Network:
    """The client-server path: the same for every desktop of a run."""

    rtt: float  # seconds
    initial_window: int  # bytes of TCP's first flight (RFC 6928: 10 segments)
    dead_timeout: float  # how long a client waits for a host that no longer answers

    @property
    def one_way(self) -> float:
        return self.rtt / 2

    def window_delay(self, size: int) -> float:
        """Extra round trips for a response bigger than TCP's first flight.

        A reload's requests go out on keep-alive connections that sat idle since the desktop's
        last sign-in, and TCP restarts slow start after idle (RFC 5681 section 4.1; Linux's
        tcp_slow_start_after_idle=1): the first flight is ``initial_window`` bytes and each further
        one doubles, so ``size`` bytes need log2(size / initial_window + 1) flights. Continuous
        (no rounding up), so that more RTT or more bytes are never faster."""
        flights = math.log2(size / self.initial_window + 1.0)
        return self.rtt * (flights - 1.0) if flights > 1.0 else 0.0


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
    """One FIFO server (the Agent PG's login processing)."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.free_at = 0.0
        self.busy = 0.0  # seconds of work done (utilisation in the result)

    def finish_time(self, service: float) -> float:
        """Book ``service`` seconds for a job that arrives now (callers arrive in time order)."""
        start = self.free_at if self.free_at > self.sim.now else self.sim.now
        self.free_at = start + service
        self.busy += service
        return self.free_at


class Node:
    """One Finesse node: health flags, vCPUs, egress link, byte meter."""

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
        if vcpus < 1:
            raise ValueError("vcpus must be >= 1")
        if not bandwidth_mbps > 0:
            raise ValueError("bandwidth must be > 0")
        self.name = name
        self.sim = sim
        self.net = net
        self.costs = costs
        self.pg = pg
        self.bytes_per_second = bandwidth_mbps * 1e6 / 8
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
        self._cores = [0.0] * vcpus  # a heap of the times each core becomes free
        # Per-kind figures looked up once per request (the planner's hot path).
        self._service = {kind: costs.service(kind) for kind in Kind}
        self._size = {kind: costs.size(kind) for kind in Kind}
        self._return: dict[int, float] = {}  # response size -> one-way delay + window delay
        self._link_free = 0.0
        self.bins: dict[int, float] = {}  # bytes sent per second of virtual time
        self.request_bins: dict[int, int] = {}  # requests served per second of virtual time
        self.requests = 0
        self.cpu_busy = 0.0

    # -- the queue -----------------------------------------------------------------------------------
    def send(self, request: Request) -> None:
        """The client sends ``request`` now: it reaches the node one one-way delay later."""
        service = self._service[request.kind]
        arrival = self.sim.now + self.net.one_way
        cores = self._cores
        free = cores[0]
        start = free if free > arrival else arrival
        heapq.heapreplace(cores, start + service)
        self.cpu_busy += service
        self.sim.at(start + service, self._served, request)

    def run_local(self, service: float, done: Callable[[object], None]) -> None:
        """Work the node does for itself (CTI resync) on the same vCPUs, first come first served."""
        cores = self._cores
        free = cores[0]
        start = free if free > self.sim.now else self.sim.now
        heapq.heapreplace(cores, start + service)
        self.cpu_busy += service
        self.sim.at(start + service, done)

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
            self._respond(request)

    def _admit(self, request: Request) -> None:
        if self.reload_slots:
            self._holders.add(request.owner)
        # The login goes through the Agent PG (one at a time) before it is confirmed.
        self.sim.at(self.pg.finish_time(self.costs.pg_sign_in), self._respond, request)

    def release(self, owner: object) -> None:
        """``owner``'s reload is over (loaded or failed): its slot goes to the next sign-in."""
        if owner in self._holders:
            self._holders.discard(owner)
            if self._waiting:
                self._admit(self._waiting.popleft())

    def _respond(self, request: Request) -> None:
        size = self._size[request.kind] if request.ok else self._size[Kind.REST]
        now = self.sim.now
        start = self._link_free if self._link_free > now else now
        end = start + size / self.bytes_per_second
        self._link_free = end
        self._meter(start, end, size)
        back = self._return.get(size)
        if back is None:
            back = self._return[size] = self.net.one_way + self.net.window_delay(size)
        self.sim.at(end + back, request.done, request)

    def _meter(self, start: float, end: float, size: float) -> None:
        first, last = int(start), int(end)
        bins = self.bins
        if first == last:
            bins[first] = bins.get(first, 0.0) + size
            return
        rate = size / (end - start)  # spread over the seconds the transfer spans
        for second in range(first, last + 1):
            lo = start if start > second else float(second)
            hi = end if end < second + 1 else float(second + 1)
            bins[second] = bins.get(second, 0.0) + rate * (hi - lo)

    @property
    def peak_requests(self) -> int:
        return max(self.request_bins.values(), default=0)

    def peak_mbps(self) -> float:
        return max(self.bins.values(), default=0.0) * 8 / 1e6

    def seconds_above(self, fraction: float) -> int:
        """Seconds in which the node sent at least ``fraction`` of its peak rate."""
        peak = max(self.bins.values(), default=0.0)
        return sum(1 for v in self.bins.values() if peak > 0 and v >= fraction * peak)
