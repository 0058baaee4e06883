"""The history checker: the invariants of Cisco's chapter over a run's ``history.jsonl``.

``finesse-emu check REPORT_DIR`` (:func:`main`) reads ``REPORT_DIR/history.jsonl`` with
:func:`finesse_emu.runs.report.load_history`, runs every invariant of :data:`INVARIANTS` and prints each
violation with the events that prove it. Exit status: 0 clean, 1 violations, 2 history unreadable.

From Python (a randomised fault run checks its own history this way)::

    from finesse_emu.runs.check import check_history
    report = check_history(events)          # events: load_history's entries, or a history's objects
    for v in report.violations:
        print(v.invariant, v.message, v.events)
    report.passed(strict=True)              # also every invariant exercised (chaos-run's verdict)

docs/check.md lists the invariants, the sentence of Cisco's chapter behind each, the events each reads,
and what the history still lacks for the ones that are skipped.
"""

from __future__ import annotations

from finesse_emu.runs.check.calls import CALL_INVARIANTS
from finesse_emu.runs.check.cli import judge
from finesse_emu.runs.check.engine import CheckReport, Outcome, check_history
from finesse_emu.runs.check.invariants import INVARIANTS, Invariant
from finesse_emu.runs.check.model import Options, Violation

__all__ = [
    "CALL_INVARIANTS",
    "INVARIANTS",
    "CheckReport",
    "Invariant",
    "Options",
    "Outcome",
    "Violation",
    "check_history",
    "judge",
]
