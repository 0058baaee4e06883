"""The capacity model ("planner"): the desktop failover machines on a virtual clock against a server
model calibrated on Cisco's Failover Planning table (docs/planner.md).

    from finesse_emu.planner import PlanInputs, run_plan
    run_plan(PlanInputs(agents=3000, gadgets=10, rtt_ms=200, vcpus=8)).failover_seconds["max"]
"""

from __future__ import annotations

from finesse_emu.planner.inputs import PlanInputs
from finesse_emu.planner.model import PlanResult, run_plan

__all__ = ["PlanInputs", "PlanResult", "run_plan"]
