"""The verdict of ``finesse-emu check REPORT_DIR`` (its options: finesse_emu/cli/check.py): the
violations of a run's history, exit 1 if any.

:func:`render` is the one printer of a :class:`CheckReport`: ``finesse-emu chaos-run`` prints it
too, so both commands show the same verdict for the same history."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from emu_base.history_events import AnyEntry
from finesse_emu.runs.check.engine import NOT_EXERCISED, SKIPPED, VIOLATED, CheckReport, check_history
from finesse_emu.runs.check.model import Options, Violation, key_fields
from finesse_emu.runs.report.history import HISTORY_FILE, History, load_history

EXIT_CLEAN, EXIT_VIOLATIONS, EXIT_UNREADABLE = 0, 1, 2


def _history_path(arg: str) -> Path:
    path = Path(arg)
    return path if path.is_file() else path / HISTORY_FILE


def judge(
    path: Path, options: Options | None = None, only: list[str] | None = None, strict: bool = False
) -> tuple[int, str]:
    """The verdict on the history at ``path``: (exit status, the table) — what ``finesse-emu check``
    prints and exits with, and what ``finesse-emu chaos-run`` prints and fails on (``strict``)."""
    events = _load(path)
    if events is None:
        return EXIT_UNREADABLE, ""
    report = check_history(events, options, only=only)
    return (EXIT_CLEAN if report.passed(strict) else EXIT_VIOLATIONS), render(report, path, strict)


def _load(path: Path) -> History | None:
    """The history, or None after saying on stderr why it cannot be checked."""
    try:
        events = load_history(path)
    except OSError as exc:
        print(f"finesse-emu check: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return None
    _warn_malformed(events)
    if not events:
        print(f"finesse-emu check: {path} holds no events", file=sys.stderr)
        return None
    return events


def _warn_malformed(events: History) -> None:
    if events.malformed:
        shown = ", ".join(map(str, events.malformed_lines[:10]))
        more = ", ..." if events.malformed > 10 else ""
        print(
            f"finesse-emu check: skipped {events.malformed} malformed lines ({shown}{more})", file=sys.stderr
        )


def format_event(ev: AnyEntry, scale: float) -> str:
    """``t=2.284943 [45.70]  desktop moved  agent=1000 from=finesse-a to=finesse-b``."""
    return f"t={ev.t:.6f} [{ev.t / scale:.2f}]  {ev.source} {ev.name}  {key_fields(ev)}".rstrip()


def render_violation(v: Violation, scale: float) -> str:
    lines = [f"VIOLATION {v.invariant}: {v.message}"]
    lines += [f"    {format_event(ev, scale)}" for ev in v.events]
    return "\n".join(lines) + "\n"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


LABELS = {VIOLATED: "VIOLATED", SKIPPED: "skipped", NOT_EXERCISED: "not exercised"}
LABEL_WIDTH = max(len(label) for label in LABELS.values())


def render(report: CheckReport, path: Path, strict: bool = False) -> str:
    """The verdict table: per invariant its status, what it was checked on (``12 desktops judged``)
    and its notes; then every violation with its proof; then the verdict line."""
    out = [
        f"finesse-emu check: {path}: {report.events} events, time_scale {report.time_scale:g}, "
        f"{report.start:.2f}-{report.end:.2f} emulated s",
        "times: history t (real seconds) [emulated seconds]; bounds in emulated seconds",
        "",
    ]
    width = max(len(o.name) for o in report.outcomes) if report.outcomes else 0
    pad = f"  {'':<{LABEL_WIDTH}} {'':<{width}}  "
    for o in report.outcomes:
        label = LABELS.get(o.status, "ok")
        lines = list(o.notes)
        if o.status == NOT_EXERCISED:
            lines.append(f"exercised by: {o.exercised_by}")
        first = ", ".join(
            part
            for part in (_count(len(o.violations), "violation") if o.violations else "", o.counted)
            if part
        )
        if not first:
            first, lines = (lines[0], lines[1:]) if lines else ("", lines)
        out.append(f"  {label:<{LABEL_WIDTH}} {o.name:<{width}}  {first}".rstrip())
        out += [f"{pad}{line}" for line in lines]
    out.append("")
    for v in report.violations:
        out.append(render_violation(v, report.time_scale))
    out.append(verdict_line(report, strict))
    return "\n".join(out) + "\n"


def verdict_line(report: CheckReport, strict: bool = False) -> str:
    """``clean; 9 invariants checked, 1 skipped, 0 not exercised`` (and, with ``strict``, what fails)."""
    skipped = sum(1 for o in report.outcomes if o.status == SKIPPED)
    idle = sum(1 for o in report.outcomes if o.status == NOT_EXERCISED)
    broken = sum(1 for o in report.outcomes if o.status == VIOLATED)
    found = _count(len(report.violations), "violation")
    verdict = f"{found} of {_count(broken, 'invariant')}" if broken else "clean"
    checked = _count(len(report.outcomes) - skipped - idle, "invariant")
    line = f"{verdict}; {checked} checked, {skipped} skipped, {idle} not exercised"
    if strict and report.unexercised:
        names = ", ".join(o.name for o in report.unexercised)
        line += f"\nFAILED: every invariant must be exercised (--strict); not: {names}"
    return line


def to_json(report: CheckReport, path: Path, malformed: list[int], strict: bool = False) -> dict[str, Any]:
    return {
        "history": str(path),
        "events": report.events,
        "malformed_lines": malformed,
        "time_scale": report.time_scale,
        "ok": report.ok,
        "strict": strict,
        "passed": report.passed(strict),
        "invariants": [
            {
                "name": o.name,
                "summary": o.summary,
                "status": o.status,
                "checked_on": o.checked_on,
                "what": o.what,
                "exercised_by": o.exercised_by,
                "notes": list(o.notes),
                "violations": [
                    {"message": v.message, "events": [dict(e.line) | {"t": e.t} for e in v.events]}
                    for v in o.violations
                ],
            }
            for o in report.outcomes
        ],
    }
