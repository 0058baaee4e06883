"""``finesse-emu check REPORT_DIR``: the invariants of Cisco's chapter over a run's history
(docs/check.md)."""

from __future__ import annotations

import argparse
import json

from finesse_emu.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, alias, command


def _arguments(p: argparse.ArgumentParser) -> None:
    from finesse_emu.runs.check.calls import CALL_INVARIANTS
    from finesse_emu.runs.check.invariants import INVARIANTS
    from finesse_emu.runs.check.model import Options, default_bound
    from finesse_emu.runs.report.history import HISTORY_FILE

    p.add_argument("report_dir", metavar="REPORT_DIR", help=f"a run's directory (or its {HISTORY_FILE})")
    p.add_argument(
        "--bound",
        type=float,
        default=default_bound(),
        help="emulated seconds for a desktop to converge after the last disturbance (default %(default)g: "
        "3 notification attempts 5 s apart + a 20 s poll + 20 s to sign in)",
    )
    p.add_argument(
        "--margin", type=float, default=Options.margin, help="emulated seconds of slack at status edges"
    )
    p.add_argument(
        "--race-window",
        type=float,
        default=Options.race_window,
        help="emulated seconds (default %(default)g)",
    )
    p.add_argument("--time-scale", type=float, help="override the scenario start event's time_scale")
    p.add_argument(
        "--only",
        action="append",
        choices=[i.name for i in (*INVARIANTS, *CALL_INVARIANTS)],
        metavar="NAME",
        help="check only these (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--strict",
        action="store_true",
        help="fail (exit 1) unless every invariant checked was exercised: one skipped or not exercised "
        "fails too (what chaos-run applies to its own run)",
    )


@command(
    "check",
    "check a run's history against the invariants of Cisco's chapter: check REPORT_DIR",
    _arguments,
    description="Check the invariants of Cisco's chapter over REPORT_DIR/history.jsonl. Exit status: "
    "0 clean, "
    "1 violations (with --strict, also an invariant skipped or not exercised), 2 history unreadable.",
)
def check(args: argparse.Namespace) -> int:
    from finesse_emu.runs.check.cli import _history_path, _load, judge, to_json
    from finesse_emu.runs.check.engine import check_history
    from finesse_emu.runs.check.model import Options

    options = Options(
        bound=args.bound, margin=args.margin, race_window=args.race_window, time_scale=args.time_scale
    )
    path = _history_path(args.report_dir)
    if not args.json:
        code, text = judge(path, options, args.only, args.strict)
        print(text, end="")
        return code
    events = _load(path)
    if events is None:
        return EXIT_USAGE
    report = check_history(events, options, only=args.only)
    print(json.dumps(to_json(report, path, events.malformed_lines, args.strict), indent=2))
    return EXIT_OK if report.passed(args.strict) else EXIT_FAILED


# Callers from Python: the same command as ``finesse-emu check``.
main = alias("check")
