"""``python -m finesse_emu.planner``: the same as ``finesse-emu plan`` (finesse_emu/cli/plan.py)."""

from __future__ import annotations

import sys

from finesse_emu.cli import main

sys.exit(main(["plan", *sys.argv[1:]]))
