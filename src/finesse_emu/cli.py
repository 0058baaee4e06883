"""The ``finesse-emu`` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from finesse_emu.logs import configure_logging
from finesse_emu.timers import Timers


def cmd_timers(args: argparse.Namespace) -> int:
    rows = Timers.build(args.time_scale).describe()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        unit = "s" if r["seconds"] else ""
        print(
            f"{r['name']:<{width}}  {r['value']:>10g}{unit:1}  (seed {r['seed_value']:g}{unit}: {r['seed']})"
        )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from finesse_emu.demo import run_demo

    configure_logging("demo", "WARNING")
    try:
        asyncio.run(run_demo(Path(args.report_dir), args.time_scale))
    except (OSError, RuntimeError, TimeoutError) as exc:
        print(f"finesse-emu demo failed: {exc!r}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="finesse-emu", description="Emulator of a duplex Cisco Finesse deployment"
    )
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("timers", help="every timer with its seed value and wording")
    t.add_argument("--time-scale", type=float, default=None, help="default $FINESSE_EMU_TIME_SCALE or 1")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_timers)
    d = sub.add_parser("demo", help="run a CTI failover scenario on real processes and write a report")
    d.add_argument("--time-scale", type=float, default=0.1, help="timer factor (default 0.1; 1 = real time)")
    d.add_argument("--report-dir", default="reports", help="where reports go (default ./reports)")
    d.set_defaults(func=cmd_demo)
    # "finesse-emu server ..." is dispatched in main(); listed here for --help.
    sub.add_parser("server", help="run one Finesse node (finesse-emu server --help)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["server"]:  # everything after "server" belongs to the node's own parser
        from finesse_emu.server.__main__ import main as server_main

        return server_main(argv[1:])
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
