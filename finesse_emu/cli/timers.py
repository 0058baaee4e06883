"""``finesse-emu timers``: every timer with its default and Cisco's wording."""

from __future__ import annotations

import argparse
import json

from finesse_emu.cli import EXIT_OK, command


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--time-scale", type=float, default=None, help="default $FINESSE_EMU_TIME_SCALE or 1")
    p.add_argument("--json", action="store_true", help="one JSON list")


@command("timers", "every timer with its default and wording", _arguments)
def timers(args: argparse.Namespace) -> int:
    from emu_base.timers import Timers

    rows = Timers.build(args.time_scale).describe()
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        unit = "s" if r["seconds"] else ""
        print(
            f"{r['name']:<{width}}  {r['value']:>10g}{unit:1}  "
            f"(default {r['default_value']:g}{unit}: {r['wording']})"
        )
    return EXIT_OK
