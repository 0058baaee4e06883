"""Running the invariants over a history: one outcome per invariant, and the run's verdict.

An invariant is ``ok`` (checked on something, no violation), ``violated``, ``skipped`` (the history
lacks the events it needs) or ``not exercised`` (the events are there, but the run never put the
rule to the test: no phone lost its node, no forced logout happened). ``finesse-emu check`` and
``finesse-emu chaos-run`` both print :func:`finesse_emu.runs.check.cli.render` of the same
:class:`CheckReport`; a run fails on a violation, and, when it promised to exercise every
invariant (``check --strict``, which is what chaos-run applies), on one skipped or not exercised.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from emu_base.history_events import AnyEntry
from finesse_emu.runs.check.calls import CALL_INVARIANTS, applies
from finesse_emu.runs.check.invariants import INVARIANTS, Invariant
from finesse_emu.runs.check.model import NotCheckable, Options, Violation
from finesse_emu.runs.check.view import RunView
from finesse_emu.runs.report.history import Line

OK, VIOLATED, SKIPPED, NOT_EXERCISED = "ok", "violated", "skipped", "not exercised"


@dataclass(frozen=True)
class Outcome:
    name: str
    summary: str
    status: str  # ok | violated | skipped | not exercised
    violations: tuple[Violation, ...]
    notes: tuple[str, ...]  # what was looked at; for a skipped one, the events it needs
    checked_on: int = 0  # how many things it was judged on (0: skipped or not exercised)
    what: str = ""  # what those things are ("forced logouts")
    exercised_by: str = ""  # what a run must do to put it to the test

    @property
    def counted(self) -> str:
        """``forced logouts: 3``; empty for a skipped invariant."""
        return f"{self.what}: {self.checked_on}" if self.what else ""


@dataclass(frozen=True)
class CheckReport:
    outcomes: tuple[Outcome, ...]
    events: int
    time_scale: float
    start: float  # emulated seconds
    end: float

    @property
    def violations(self) -> list[Violation]:
        return [v for o in self.outcomes for v in o.violations]

    @property
    def ok(self) -> bool:
        """No invariant violated."""
        return not self.violations

    @property
    def unexercised(self) -> list[Outcome]:
        """The invariants that held on nothing: skipped, or not exercised."""
        return [o for o in self.outcomes if o.status in (SKIPPED, NOT_EXERCISED)]

    def passed(self, strict: bool = False) -> bool:
        """The run's verdict: no violation; with ``strict``, also every invariant exercised."""
        return self.ok and not (strict and self.unexercised)


def run_one(invariant: Invariant, run: RunView, options: Options) -> Outcome:
    notes: list[str] = []
    try:
        found = invariant.check(run, options, notes)
    except NotCheckable as exc:
        return Outcome(
            invariant.name, invariant.summary, SKIPPED, (), (str(exc),), exercised_by=invariant.exercised_by
        )
    status = VIOLATED if found.violations else OK if found.on > 0 else NOT_EXERCISED
    return Outcome(
        invariant.name,
        invariant.summary,
        status,
        tuple(found.violations),
        tuple(notes),
        found.on,
        found.what,
        invariant.exercised_by,
    )


def check_history(
    events: Sequence[AnyEntry | Line], options: Options | None = None, only: Iterable[str] | None = None
) -> CheckReport:
    """Every invariant (or those named in ``only``) over ``events``: a history's entries, or its
    objects as written (parsed here)."""
    options = options or Options()
    run = RunView(events, options.time_scale)
    wanted = set(only) if only is not None else None
    chosen = [i for i in INVARIANTS if wanted is None or i.name in wanted]
    # The calls invariants judge runs that put desktops on calls (or when named).
    chosen += [
        i for i in CALL_INVARIANTS if (wanted is None and applies(run)) or (wanted and i.name in wanted)
    ]
    outcomes = tuple(run_one(i, run, options) for i in chosen)
    return CheckReport(outcomes, len(run.events), run.scale, run.start, run.end)
