"""Running the invariants over a history: one outcome per invariant."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from finesse_emu.check.invariants import INVARIANTS, Invariant
from finesse_emu.check.model import NotCheckable, Options, Violation
from finesse_emu.check.view import RunView
from finesse_emu.report.history import Event

OK, VIOLATED, SKIPPED = "ok", "violated", "skipped"


@dataclass(frozen=True)
class Outcome:
    name: str
    summary: str
    status: str  # ok | violated | skipped
    violations: tuple[Violation, ...]
    notes: tuple[str, ...]  # what was looked at; for a skipped one, the events it needs


@dataclass(frozen=True)
class CheckReport:
    outcomes: tuple[Outcome, ...]
    events: int
    time_scale: float
    start: float  # seed seconds
    end: float

    @property
    def violations(self) -> list[Violation]:
        return [v for o in self.outcomes for v in o.violations]

    @property
    def ok(self) -> bool:
        return not self.violations


def run_one(invariant: Invariant, run: RunView, options: Options) -> Outcome:
    notes: list[str] = []
    try:
        found = invariant.check(run, options, notes)
    except NotCheckable as exc:
        return Outcome(invariant.name, invariant.summary, SKIPPED, (), (str(exc),))
    status = VIOLATED if found else OK
    return Outcome(invariant.name, invariant.summary, status, tuple(found), tuple(notes))


def check_history(
    events: Sequence[Event], options: Options | None = None, only: Iterable[str] | None = None
) -> CheckReport:
    """Every invariant (or those named in ``only``) over ``events``, the dicts of a history."""
    options = options or Options()
    run = RunView(events, options.time_scale)
    wanted = set(only) if only is not None else None
    chosen = [i for i in INVARIANTS if wanted is None or i.name in wanted]
    outcomes = tuple(run_one(i, run, options) for i in chosen)
    return CheckReport(outcomes, len(run.events), run.scale, run.start, run.end)
