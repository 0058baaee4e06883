"""The planner's wiring: a deployment, a fault, N desktop machines on a virtual clock, the figures.

``run_plan(PlanInputs(...))`` builds the world (``world.py``: two nodes and the Agent PG of
``server.py``), one unchanged ``DesktopMachine`` per affected agent behind a ``SimDesktop`` shell
(``desktop.py``), signs every
desktop in (the warm-up: through the machine, answered at once, not timed), injects the fault at
virtual time 0 and runs the event loop until every desktop is signed in again (or the horizon).

Scenarios (``PlanInputs.scenario``):
* ``publisher`` (Cisco's table): the publisher's host dies. Each desktop finds out when its
  pending BOSH request to the dead host gives up, uniformly within ``bosh_detect_window``; then
  the machine's three Notification Service attempts, the SystemInfo checks (the publisher does
  not answer: ``dead_timeout`` each) and the move to the subscriber.
* ``webapp``: the publisher's Tomcat dies, its Notification Service stays up: the ``finesse``
  user's presence turns Unavailable (trigger 3); requests to the publisher are refused.
* ``cti``: CTI side A goes silent: both nodes miss three heartbeats (plus 40 s with an Agent PG
  before 12.5), go OUT_OF_SERVICE (SystemInfo event, trigger 1), reconnect to side B, rebuild
  their agents' state on their vCPUs and return IN_SERVICE; desktops poll every 20 s and sign in
  again where they are.

``N`` (``agents``) is the number of affected users, the first column of Cisco's table: the desktops
on the publisher for ``publisher`` and ``webapp``, all desktops (split evenly) for ``cti``.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from emu_base.timers import Timers
from finesse_emu.desktop.machine import DesktopConfig, DesktopMachine, DesktopState
from finesse_emu.planner.calibration import CALIBRATION, Calibration, cisco_row
from finesse_emu.planner.desktop import SimDesktop
from finesse_emu.planner.inputs import PlanInputs
from finesse_emu.planner.server import Node
from finesse_emu.planner.world import PUB, SUB, World

HORIZON = 3600.0  # virtual seconds: a desktop not signed in again by then is reported lost


@dataclass(frozen=True)
class PlanResult:
    inputs: PlanInputs
    failover_seconds: dict[str, float]  # min, p50, p95, max over the desktops (max = the last agent)
    detection_seconds: dict[str, float]  # fault -> failover_detected, same percentiles
    peak_mbps: float  # the subscriber's (publisher scenarios) or busiest node's peak, 1 s bins
    seconds_above_half_peak: int  # how long the node sent at least half its peak rate
    peak_requests_per_second: int
    cti_failover_seconds: float | None  # fault -> the later node IN_SERVICE again (scenario cti)
    desktops: int
    failed_over: int
    moved: int
    lost: int  # not signed in again within the horizon
    cisco_row: dict[str, Any] | None  # Cisco's row these inputs are, if any
    events: int
    wall_seconds: float
    records: dict[str, int] = field(default_factory=dict)  # machine records by event

    @property
    def beyond_cisco_table(self) -> bool:
        return self.cisco_row is None

    def to_json(self) -> dict[str, Any]:
        return {
            "failover_seconds": self.failover_seconds,
            "peak_mbps": round(self.peak_mbps, 1),
            "model_output": True,
            "beyond_cisco_table": self.beyond_cisco_table,
            "cisco_row": self.cisco_row,
            "inputs": asdict(self.inputs),
            "detection_seconds": self.detection_seconds,
            "seconds_above_half_peak": self.seconds_above_half_peak,
            "peak_requests_per_second": self.peak_requests_per_second,
            "cti_failover_seconds": self.cti_failover_seconds,
            "desktops": self.desktops,
            "failed_over": self.failed_over,
            "moved": self.moved,
            "lost": self.lost,
            "events": self.events,
            "wall_seconds": round(self.wall_seconds, 3),
        }


def _uniform(seed: int, index: int) -> float:
    """A uniform [0, 1) number for (seed, index): splitmix64, so each desktop's draw depends on its
    own index only; adding agents never changes the draws of the others (monotone in N)."""
    z = (seed * 0x9E3779B97F4A7C15 + (index + 1) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    z ^= z >> 31
    return (z >> 11) / float(1 << 53)


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"min": math.nan, "p50": math.nan, "p95": math.nan, "max": math.nan}
    v = sorted(values)

    def rank(q: float) -> float:  # nearest rank: a value some desktop really had
        return v[max(0, math.ceil(q * len(v)) - 1)]

    return {
        "min": round(v[0], 3),
        "p50": round(rank(0.5), 3),
        "p95": round(rank(0.95), 3),
        "max": round(v[-1], 3),
    }


def _desktops(world: World, inputs: PlanInputs, timers: Timers) -> list[SimDesktop]:
    homes = [PUB] * inputs.agents
    if inputs.scenario == "cti":  # every agent is affected: split evenly between the nodes
        homes = [PUB if i % 2 == 0 else SUB for i in range(inputs.agents)]
    desktops: list[SimDesktop] = []
    for i, home in enumerate(homes):
        other = SUB if home == PUB else PUB
        config = DesktopConfig(str(1000 + i), home, other, timers)
        desktops.append(SimDesktop(world, i, DesktopMachine(config)))
    return desktops


def _warm_up(world: World, desktops: list[SimDesktop]) -> None:
    """Every desktop signs in through its machine (SignIn, ConnectNotification, LoadDesktop with
    configuration, preloading the other node's resources), answered at once: not part of the
    measured failover, but it leaves each machine SIGNED_IN with a live XMPP session, as the fault
    must find it."""
    world.instant = True
    for d in desktops:
        d.start()
    world.sim.run(until=-0.5)
    world.instant = False
    for d in desktops:
        if d.machine.state is not DesktopState.SIGNED_IN:  # pragma: no cover - a broken warm-up
            raise RuntimeError(f"desktop {d.index} did not sign in before the fault: {d.machine.state}")
    for node in world.nodes.values():
        node.bins.clear()
        node.requests = 0
        node.capacity.cpu_busy = 0.0
    world.records.clear()
    world.sim.run(until=0.0)


def _inject(world: World, desktops: list[SimDesktop], inputs: PlanInputs) -> None:
    sim, cal, net = world.sim, world.cal, world.net
    pub = world.nodes[PUB]  # the failing node (publisher and webapp scenarios)
    if inputs.scenario == "publisher":
        pub.host_up = pub.web_up = pub.xmpp_up = False
        for d in desktops:
            # The desktop's pending BOSH long poll to the dead host gives up at a time that depends
            # on when it was sent: uniform over the window.
            sim.at(cal.bosh_detect_window * _uniform(inputs.seed, d.index), d.notification_lost, PUB)
    elif inputs.scenario == "webapp":
        pub.web_up = False
        for d in desktops:  # the Notification Service tells every session at once
            at = net.one_way + cal.presence_spread * _uniform(inputs.seed, d.index)
            sim.at(at, d.finesse_presence, (PUB, False))
    else:
        _cti_failover(world, desktops, inputs)


def _cti_failover(world: World, desktops: list[SimDesktop], inputs: PlanInputs) -> None:
    """CTI side A goes silent at t = 0; each node detects it on its own heartbeat phase."""
    timers = Timers.build(1.0)
    detect = timers.cti_heartbeat_interval * timers.cti_missed_heartbeats
    if inputs.pg != "12.5":
        detect += timers.cti_old_pg_extra_detection  # "a delay of up to 40 seconds"
    for k, name in enumerate((PUB, SUB)):
        # The first unanswered heartbeat comes up to one interval after the side went silent.
        phase = timers.cti_heartbeat_interval * _uniform(inputs.seed, -1 - k)
        first_miss = phase + timers.cti_heartbeat_interval  # its answer is due one interval later
        node = world.nodes[name]
        _CtiNode(world, desktops, node, first_miss, phase + detect, timers.cti_reconnect_pause)


class _CtiNode:
    """One node's CTI failover: SystemInfo's lastCTIHeartbeatStatus turns to failure at the first
    missed heartbeat (as the emulator's node does), OUT_OF_SERVICE at ``out_at`` (a SystemInfo
    event to every session on it), connected to side B after the reconnect pause and
    ``cti_resync_base``, then one rebuild job per signed-in agent on its vCPUs; IN_SERVICE when
    the last one is done.

    The early heartbeat failure matters: the node that detects last is still IN_SERVICE when the
    other node's desktops check it, and only its failed heartbeat keeps them from moving to a node
    about to go OUT_OF_SERVICE (Cisco's note on step 3)."""

    def __init__(
        self,
        world: World,
        desktops: list[SimDesktop],
        node: Node,
        first_miss: float,
        out_at: float,
        reconnect_pause: float,
    ) -> None:
        self.world = world
        self.desktops = desktops
        self.node = node
        self.left = sum(1 for d in desktops if d.machine.config.home == node.name)
        world.sim.at(first_miss, self._heartbeat_missed)
        world.sim.at(out_at, self._out)
        world.sim.at(out_at + reconnect_pause + world.cal.cti_resync_base, self._reconnected)

    def _heartbeat_missed(self, _: object) -> None:
        self.node.heartbeat_ok = False

    def _out(self, _: object) -> None:
        self.node.status, self.node.heartbeat_ok = "OUT_OF_SERVICE", False
        for d in self.desktops:
            self.world.sim.after(
                self.world.net.one_way, d.system_info_event, (self.node.name, "OUT_OF_SERVICE")
            )

    def _reconnected(self, _: object) -> None:
        if self.left == 0:
            self._back()
        for _i in range(self.left):
            self.node.run_local(self._rebuilt)

    def _rebuilt(self, _: object) -> None:
        self.left -= 1
        if self.left == 0:
            self._back()

    def _back(self) -> None:
        self.node.status, self.node.heartbeat_ok = "IN_SERVICE", True
        self.world.in_service_at[self.node.name] = self.world.sim.now


def run_plan(inputs: PlanInputs, cal: Calibration = CALIBRATION) -> PlanResult:
    inputs.check()
    started = time.perf_counter()
    timers = Timers.build(1.0)
    world = World(inputs, cal)
    desktops = _desktops(world, inputs, timers)
    _warm_up(world, desktops)
    _inject(world, desktops, inputs)
    world.sim.run(until=HORIZON)

    totals: list[float] = []
    detections: list[float] = []
    for d in desktops:
        if d.failover_seconds is not None and d.detected_at is not None:
            # The machine measures from its own detection; the fault was at t = 0.
            totals.append(d.detected_at + d.failover_seconds)
            detections.append(d.detected_at)
    busiest = (
        world.nodes[SUB]
        if inputs.scenario != "cti"
        else max(world.nodes.values(), key=lambda n: n.peak_mbps())
    )
    cti = max(world.in_service_at.values()) if inputs.scenario == "cti" and world.in_service_at else None
    return PlanResult(
        inputs=inputs,
        failover_seconds=_percentiles(totals),
        detection_seconds=_percentiles(detections),
        peak_mbps=busiest.peak_mbps(),
        seconds_above_half_peak=busiest.seconds_above(0.5),
        peak_requests_per_second=busiest.peak_requests,
        cti_failover_seconds=None if cti is None else round(cti, 3),
        desktops=len(desktops),
        failed_over=len(totals),
        moved=sum(1 for d in desktops if d.moved),
        lost=len(desktops) - len(totals),
        cisco_row=cisco_row(inputs),
        events=world.sim.processed,
        wall_seconds=time.perf_counter() - started,
        records=dict(world.records),
    )


def with_calibration(cal: Calibration, **changes: Any) -> Calibration:
    """A copy of ``cal`` with some fields changed (``costs`` fields included), for what-ifs."""
    cost_fields = {k: v for k, v in changes.items() if hasattr(cal.costs, k)}
    rest = {k: v for k, v in changes.items() if k not in cost_fields}
    return replace(cal, costs=replace(cal.costs, **cost_fields), **rest)
