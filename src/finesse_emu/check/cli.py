"""``finesse-emu check REPORT_DIR``: print the violations of a run's history, exit 1 if any."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from finesse_emu.check.engine import SKIPPED, VIOLATED, CheckReport, check_history
from finesse_emu.check.invariants import INVARIANTS
from finesse_emu.check.model import Options, Violation, default_bound, key_fields
from finesse_emu.report.history import HISTORY_FILE, Event, History, load_history

EXIT_CLEAN, EXIT_VIOLATIONS, EXIT_UNREADABLE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    names = [i.name for i in INVARIANTS]
    p = argparse.ArgumentParser(
        prog="finesse-emu check",
        description=f"Check the seed's invariants over REPORT_DIR/{HISTORY_FILE}. Exit status: "
        f"{EXIT_CLEAN} clean, {EXIT_VIOLATIONS} violations, {EXIT_UNREADABLE} history unreadable.",
    )
    p.add_argument("report_dir", metavar="REPORT_DIR", help=f"a run's directory (or its {HISTORY_FILE})")
    p.add_argument(
        "--bound",
        type=float,
        default=default_bound(),
        help="seed seconds for a desktop to converge after the last disturbance (default %(default)g: "
        "3 notification attempts 5 s apart + a 20 s poll + 20 s to sign in)",
    )
    p.add_argument(
        "--margin", type=float, default=Options.margin, help="seed seconds of slack at status edges"
    )
    p.add_argument(
        "--race-window", type=float, default=Options.race_window, help="seed seconds (default %(default)g)"
    )
    p.add_argument("--time-scale", type=float, help="override the scenario start event's time_scale")
    p.add_argument(
        "--only", action="append", choices=names, metavar="NAME", help="check only these (repeatable)"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def _history_path(arg: str) -> Path:
    path = Path(arg)
    return path if path.is_file() else path / HISTORY_FILE


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    path = _history_path(args.report_dir)
    try:
        events = load_history(path)
    except OSError as exc:
        print(f"finesse-emu check: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    _warn_malformed(events)
    if not events:
        print(f"finesse-emu check: {path} holds no events", file=sys.stderr)
        return EXIT_UNREADABLE
    options = Options(
        bound=args.bound, margin=args.margin, race_window=args.race_window, time_scale=args.time_scale
    )
    report = check_history(events, options, only=args.only)
    if args.json:
        print(json.dumps(to_json(report, path, events.malformed_lines), indent=2))
    else:
        print(render(report, path), end="")
    return EXIT_CLEAN if report.ok else EXIT_VIOLATIONS


def _warn_malformed(events: History) -> None:
    if events.malformed:
        shown = ", ".join(map(str, events.malformed_lines[:10]))
        more = ", ..." if events.malformed > 10 else ""
        print(
            f"finesse-emu check: skipped {events.malformed} malformed lines ({shown}{more})", file=sys.stderr
        )


def format_event(ev: Event, scale: float) -> str:
    """``t=2.284943 [45.70]  desktop moved  agent=1000 from=finesse-a to=finesse-b``."""
    return f"t={ev['t']:.6f} [{ev['t'] / scale:.2f}]  {ev['source']} {ev['event']}  {key_fields(ev)}".rstrip()


def render_violation(v: Violation, scale: float) -> str:
    lines = [f"VIOLATION {v.invariant}: {v.message}"]
    lines += [f"    {format_event(ev, scale)}" for ev in v.events]
    return "\n".join(lines) + "\n"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def render(report: CheckReport, path: Path) -> str:
    out = [
        f"finesse-emu check: {path}: {report.events} events, time_scale {report.time_scale:g}, "
        f"{report.start:.2f}-{report.end:.2f} seed s",
        "times: history t (real seconds) [seed seconds]; bounds in seed seconds",
        "",
    ]
    width = max(len(o.name) for o in report.outcomes) if report.outcomes else 0
    for o in report.outcomes:
        label = {VIOLATED: "VIOLATED", SKIPPED: "skipped"}.get(o.status, "ok")
        first = _count(len(o.violations), "violation") if o.violations else (o.notes[0] if o.notes else "")
        out.append(f"  {label:<9} {o.name:<{width}}  {first}")
        rest = o.notes if o.violations else o.notes[1:]
        out += [f"  {'':<9} {'':<{width}}  {note}" for note in rest]
    out.append("")
    for v in report.violations:
        out.append(render_violation(v, report.time_scale))
    skipped = sum(1 for o in report.outcomes if o.status == SKIPPED)
    broken = sum(1 for o in report.outcomes if o.status == VIOLATED)
    found = _count(len(report.violations), "violation")
    verdict = f"{found} of {_count(broken, 'invariant')}" if broken else "clean"
    out.append(f"{verdict}; {_count(len(report.outcomes) - skipped, 'invariant')} checked, {skipped} skipped")
    return "\n".join(out) + "\n"


def to_json(report: CheckReport, path: Path, malformed: list[int]) -> dict[str, Any]:
    return {
        "history": str(path),
        "events": report.events,
        "malformed_lines": malformed,
        "time_scale": report.time_scale,
        "ok": report.ok,
        "invariants": [
            {
                "name": o.name,
                "summary": o.summary,
                "status": o.status,
                "notes": list(o.notes),
                "violations": [{"message": v.message, "events": list(v.events)} for v in o.violations],
            }
            for o in report.outcomes
        ],
    }
