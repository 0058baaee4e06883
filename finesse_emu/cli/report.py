"""``finesse-emu report RUN_DIR`` (a run's summary and HTML report, rebuilt) and ``finesse-emu
history merge`` (one run from several processes' histories)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from finesse_emu.cli import EXIT_FAILED, EXIT_OK, CannotRun, alias, command, fail


def _report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory holding history.jsonl")
    p.add_argument("--check", action="store_true", help="exit with status 1 if any expectation failed")


@command(
    "report",
    "(re)build a run's summary and HTML report: report RUN_DIR",
    _report_arguments,
    description="Rebuild summary.json, summary.txt and report.html from RUN_DIR/history.jsonl and print "
    "the summary. Exit status 1 (with --check) when an expectation failed, 2 when the history cannot "
    "be read.",
)
def report(args: argparse.Namespace) -> int:
    from finesse_emu.runs.report import (
        HISTORY_FILE,
        REPORT_HTML,
        load_history,
        write_report,
    )

    run_dir = Path(args.run_dir)
    try:
        events = load_history(run_dir / HISTORY_FILE)
    except OSError as exc:
        raise CannotRun(f"cannot read {run_dir / HISTORY_FILE}: {exc.strerror or exc}") from exc
    if events.malformed:
        shown = ", ".join(map(str, events.malformed_lines[:10]))
        more = ", ..." if events.malformed > 10 else ""
        print(
            f"finesse-emu report: skipped {events.malformed} malformed lines ({shown}{more})", file=sys.stderr
        )
    from finesse_emu.cli.progress import print_summary

    summary = write_report(run_dir, events)
    print_summary(summary)  # its tables fitted to the terminal (summary.txt has them at full width)
    print(f"\nreport: {run_dir / REPORT_HTML}")
    if args.check and not summary["totals"]["expectations"]["ok"]:
        return EXIT_FAILED
    return EXIT_OK


def _history_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    m = sub.add_parser(
        "merge",
        help="merge history files into one run",
        description="One run's history from several processes (swarm slices, say), written to "
        "OUT_DIR/history.jsonl with the report (summary, report.html) built from it.",
    )
    m.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    m.add_argument("files", type=Path, nargs="+", metavar="FILE")


@command(
    "history",
    "history merge OUT_DIR FILE...: one run from several processes' histories",
    _history_arguments,
)
def history(args: argparse.Namespace) -> int:
    from finesse_emu.cli.progress import print_summary
    from finesse_emu.runs.history import merge
    from finesse_emu.runs.report import write_report

    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        return fail("history merge", f"not found: {', '.join(missing)}")
    events = merge(args.files)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with (args.out_dir / "history.jsonl").open("w", encoding="utf-8") as out:
        for e in events:
            out.write(json.dumps(e, separators=(",", ":")) + "\n")
    print_summary(write_report(args.out_dir, events))
    print()
    print(f"merged {len(events)} events from {len(args.files)} files into {args.out_dir / 'history.jsonl'}")
    return EXIT_OK


# Callers from Python: the same command as ``finesse-emu report``.
main = alias("report")
