"""What one planner run shares: the event loop, the two nodes and the Agent PG, the network and the
browser profile (the client-side costs every desktop pays, described in ``desktop.py``).

Below ``desktop.py`` (each desktop's shell reads it) and ``model.py`` (which builds it and keeps the
desktops), so that the planner's modules import in one direction.
"""

from __future__ import annotations

from dataclasses import dataclass

from finesse_emu.planner.calibration import Calibration
from finesse_emu.planner.events import Simulator
from finesse_emu.planner.inputs import PlanInputs
from finesse_emu.planner.server import Network, Node, SerialResource

PUB, SUB = "finesse-a", "finesse-b"


@dataclass(frozen=True)
class Browser:
    """The client-side costs of one desktop (``desktop.py``'s module docstring says what each is)."""

    browser_connections: int = 6
    connect_round_trips: int = 3  # TCP handshake, then a TLS 1.2 handshake (2 RTTs)
    xmpp_round_trips: int = 8
    gadgets: int = 6
    gadget_assets: int = 2  # scripts and styles a rendered gadget names (revalidated: 304)
    jsp: bool = False
    resources: int = 4
    preload_secondary: bool = True  # Cisco's default: resources of the other node preloaded


class World:
    """Everything one run shares: the loop, the nodes, the network, the browser profile."""

    def __init__(self, inputs: PlanInputs, cal: Calibration) -> None:
        self.sim = Simulator(start=-1.0)  # the warm-up happens before the fault at t = 0
        self.cal = cal
        self.net = Network(
            rtt=inputs.rtt_ms / 1000.0, initial_window=cal.initial_window, dead_timeout=cal.dead_timeout
        )
        self.browser = Browser(
            browser_connections=cal.browser_connections,
            connect_round_trips=cal.connect_round_trips,
            xmpp_round_trips=cal.xmpp_round_trips,
            gadgets=inputs.gadgets,
            gadget_assets=cal.gadget_assets,
            jsp=inputs.gadget_kind == "jsp",
            resources=cal.resources,
        )
        self.pg = SerialResource(self.sim)
        self.nodes = {
            name: Node(name, self.sim, self.net, cal.costs, inputs.vcpus, inputs.bandwidth_mbps, self.pg)
            for name in (PUB, SUB)
        }
        for node in self.nodes.values():
            node.reload_slots = cal.reload_slots_per_vcpu * inputs.vcpus
        self.instant = False
        self.records: dict[str, int] = {}  # the desktops' machine records by event
        self.in_service_at: dict[str, float] = {}
