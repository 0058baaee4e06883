"""The capacity cores: a Finesse node's vCPUs and egress link, and the Agent PG. Pure sans-IO.

A request travels: client -> (one-way delay) -> the node's vCPUs -> the node's egress link ->
(one-way delay, plus a round trip per extra TCP window of response) -> client.

* vCPUs: ``vcpus`` identical cores, first come first served (a c-server FIFO queue). A request
  waits for the earliest free core and holds it for its service time. ``submit(now, ...)`` is the
  moment the client *sends*; the request arrives one one-way delay later. Every sender sees the
  same one-way delay and inputs come in time order, so arrivals are booked in arrival order and
  the queue is exact without an arrival event. The node's own work (``Kind.RESYNC``) arrives at
  once.
* Egress link: one FIFO transmitter of ``bandwidth_mbps`` shared by every response of the node.
  Bytes are counted per second of the model's time (``bins``): the peak of those is the peak
  bandwidth.
* Agent PG (``AgentPg``): one FIFO server. An agent sign-in (PUT User LOGIN) is confirmed only
  after the PG has processed the login, one agent at a time; this is the part of a failover that
  more vCPUs on Finesse do not speed up (docs/planner.md, calibration). The planner shares one
  between both nodes; ``NodeCapacity.serve`` runs the node's sign-ins through one of its own.

Outputs: ``Worked`` when a request's service on a vCPU is done (``submit``), ``LoggedIn`` when the
PG has processed a login (``AgentPg.login``), ``Served`` when a response has crossed the egress
link and reached the client (``respond``). ``serve`` chains them for a shell that only waits for
``Served`` (the live node). Time is the model's: emulated seconds.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from finesse_emu.capacity.profile import Capacity, Kind


@dataclass(frozen=True, slots=True)
class Worked:
    """``request_id``'s service on a vCPU is done (the node decides its answer now)."""

    request_id: object
    kind: Kind


@dataclass(frozen=True, slots=True)
class LoggedIn:
    """The Agent PG has processed ``request_id``'s login."""

    request_id: object


@dataclass(frozen=True, slots=True)
class Served:
    """``request_id``'s response (``size`` bytes) has left the egress link and reached the client."""

    request_id: object
    size: int


Output = Worked | LoggedIn | Served


class _Serial:
    """One FIFO server: books jobs that arrive in time order."""

    __slots__ = ("busy", "free_at")

    def __init__(self) -> None:
        self.free_at = 0.0
        self.busy = 0.0  # seconds of work done (utilisation)

    def finish(self, now: float, service: float) -> float:
        start = self.free_at if self.free_at > now else now
        self.free_at = start + service
        self.busy += service
        return self.free_at


class _Timed:
    """A heap of outputs due at a time; ``seq`` keeps equal times in input order."""

    __slots__ = ("_heap", "_out", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Output]] = []
        self._seq = 0
        self._out: list[Output] = []

    def _at(self, when: float, output: Output) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, output))

    def outputs(self) -> list[Output]:
        out = self._out
        if out:
            self._out = []
        return out if out else []

    def next_deadline(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def _due(self, now: float) -> list[Output]:
        heap, due = self._heap, []
        while heap and heap[0][0] <= now:
            due.append(heapq.heappop(heap)[2])
        return due


class AgentPg(_Timed):
    """The Agent PG's login processing: one login at a time, ``costs.pg_sign_in`` each."""

    def __init__(self, pg_sign_in: float) -> None:
        super().__init__()
        self.pg_sign_in = pg_sign_in
        self._serial = _Serial()

    @property
    def busy(self) -> float:
        return self._serial.busy

    def login(self, now: float, request_id: object) -> None:
        self._at(self._serial.finish(now, self.pg_sign_in), LoggedIn(request_id))

    def handle_timer(self, now: float) -> None:
        self._out.extend(self._due(now))


class NodeCapacity(_Timed):
    """One Finesse node: its vCPUs (a c-server FIFO queue) and its egress link."""

    def __init__(self, capacity: Capacity) -> None:
        super().__init__()
        self.capacity = capacity
        costs, link = capacity.costs, capacity.link
        self._one_way = link.one_way
        self._cores = [0.0] * capacity.vcpus  # a heap of the times each core becomes free
        # Per-kind figures looked up once per request (the planner's hot path).
        self._service = {kind: costs.service(kind) for kind in Kind}
        self._size = {kind: costs.size(kind) for kind in Kind}
        self._return: dict[int, float] = {}  # response size -> one-way delay + window delay
        self._bytes_per_second = capacity.bandwidth_mbps * 1e6 / 8
        self._link_free = 0.0
        self.bins: dict[int, float] = {}  # bytes sent per second of the model's time
        self.cpu_busy = 0.0
        # serve(): requests that go on by themselves from vCPU to PG to link (id -> size).
        self._chained: dict[object, int] = {}
        self._pg: AgentPg | None = None

    # -- inputs ----------------------------------------------------------------------------------
    def submit(self, now: float, request_id: object, kind: Kind) -> None:
        """A client sends ``request_id`` now (the node's own work: it starts now): ``Worked``
        when a vCPU has done it."""
        service = self._service[kind]
        arrival = now if kind is Kind.RESYNC else now + self._one_way
        cores = self._cores
        free = cores[0]
        start = free if free > arrival else arrival
        heapq.heapreplace(cores, start + service)
        self.cpu_busy += service
        self._at(start + service, Worked(request_id, kind))

    def respond(self, now: float, request_id: object, size: int) -> None:
        """The node sends ``size`` bytes in answer now: ``Served`` when the client has them."""
        start = self._link_free if self._link_free > now else now
        end = start + size / self._bytes_per_second
        self._link_free = end
        self._meter(start, end, size)
        back = self._return.get(size)
        if back is None:
            back = self._return[size] = self._one_way + self.capacity.link.window_delay(size)
        self._at(end + back, Served(request_id, size))

    def serve(self, now: float, request_id: object, kind: Kind, size: int | None = None) -> None:
        """The whole way at once: vCPU, then the Agent PG for a sign-in, then the link (``size``
        bytes, or the kind's); only ``Served`` comes out."""
        self._chained[request_id] = self._size[kind] if size is None else size
        self.submit(now, request_id, kind)

    def size(self, kind: Kind) -> int:
        return self._size[kind]

    def handle_timer(self, now: float) -> None:
        for output in self._due(now):
            self._advance(now, output)
        pg = self._pg
        if pg is not None:
            pg.handle_timer(now)
            for out in pg.outputs():
                self._advance(now, out)

    def next_deadline(self) -> float | None:
        own = super().next_deadline()
        pg = self._pg.next_deadline() if self._pg is not None else None
        if own is None:
            return pg
        return own if pg is None or own <= pg else pg

    # -- the chain of serve() ----------------------------------------------------------------------
    def _advance(self, now: float, output: Output) -> None:
        rid = output.request_id
        if rid not in self._chained:
            self._out.append(output)
        elif isinstance(output, Worked) and output.kind is Kind.SIGN_IN:
            if self._pg is None:
                self._pg = AgentPg(self.capacity.costs.pg_sign_in)
            self._pg.login(now, rid)
        elif isinstance(output, Served):
            del self._chained[rid]
            self._out.append(output)
        else:
            self.respond(now, rid, self._chained[rid])

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

    # -- figures -----------------------------------------------------------------------------------
    def peak_mbps(self) -> float:
        return max(self.bins.values(), default=0.0) * 8 / 1e6

    def seconds_above(self, fraction: float) -> int:
        """Seconds in which the node sent at least ``fraction`` of its peak rate."""
        peak = max(self.bins.values(), default=0.0)
        return sum(1 for v in self.bins.values() if peak > 0 and v >= fraction * peak)
