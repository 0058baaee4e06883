"""What a plan is asked: the deployment, the fault and the load (``finesse-emu plan``'s options).

Its own module, below the calibration (which recognises Cisco's rows from these inputs) and the
model (which runs them), so that neither has to import the other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SCENARIOS = ("publisher", "webapp", "cti")
GADGET_KINDS = ("xml", "jsp")
PG_VERSIONS = ("12.5", "12.0", "11.6")  # 12.5 means "12.5(1) or later"


@dataclass(frozen=True)
class PlanInputs:
    agents: int = 2000
    gadgets: int = 6
    gadget_kind: str = "xml"
    rtt_ms: float = 1.0  # LAN
    vcpus: int = 4  # the Finesse OVA's standard size (docs/planner.md)
    bandwidth_mbps: float = 1000.0  # the node's 1 GbE vNIC
    scenario: str = "publisher"
    pg: str = "12.5"
    seed: int = 0

    def check(self) -> None:
        if self.agents < 1:
            raise ValueError("agents must be >= 1")
        if self.gadgets < 0:
            raise ValueError("gadgets must be >= 0")
        if self.gadget_kind not in GADGET_KINDS:
            raise ValueError(f"gadget kind must be one of {GADGET_KINDS}")
        if not (self.rtt_ms >= 0 and math.isfinite(self.rtt_ms)):
            raise ValueError("rtt must be >= 0")
        if self.vcpus < 1:
            raise ValueError("vcpus must be >= 1")
        if not (self.bandwidth_mbps > 0 and math.isfinite(self.bandwidth_mbps)):
            raise ValueError("bandwidth must be > 0")
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario must be one of {SCENARIOS}")
        if self.pg not in PG_VERSIONS:
            raise ValueError(f"pg must be one of {PG_VERSIONS}")
