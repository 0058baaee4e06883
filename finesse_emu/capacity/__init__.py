"""The product's capacity: one model of a Finesse node's vCPUs, egress link and the Agent PG.

Pure sans-IO cores (``core.py``) over calibrated profiles (``profile.py``). Two drivers run them:
the planner on its discrete-event clock (``finesse_emu/planner/server.py``), and the live node's
capacity middleware on the node's clock (``finesse_emu/server/capacity.py``). docs/planner.md,
"One model".
"""

from finesse_emu.capacity.core import AgentPg, LoggedIn, NodeCapacity, Output, Served, Worked
from finesse_emu.capacity.profile import COSTS, PROFILES, Capacity, Costs, Kind, Link, profile

__all__ = [
    "COSTS",
    "PROFILES",
    "AgentPg",
    "Capacity",
    "Costs",
    "Kind",
    "Link",
    "LoggedIn",
    "NodeCapacity",
    "Output",
    "Served",
    "Worked",
    "profile",
]
