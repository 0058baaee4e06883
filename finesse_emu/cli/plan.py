"""``finesse-emu plan``: the capacity model (finesse_emu/planner, docs/planner.md)."""

from __future__ import annotations

import argparse

from finesse_emu.cli import command
from finesse_emu.planner.__main__ import DESCRIPTION, add_arguments
from finesse_emu.planner.__main__ import run as run_plan


@command(
    "plan",
    "capacity model: predicted failover time and peak bandwidth (plan --help)",
    add_arguments,
    description=DESCRIPTION,
)
def plan(args: argparse.Namespace) -> int:
    return run_plan(args)
