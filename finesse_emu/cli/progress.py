"""What the long commands show while they work, and the tables they print (docs/cli.md, "Progress").

On a terminal: one live line (rich) with the phase, the step, the elapsed time and the time left
where it is known; it goes away when the run ends, leaving the results. Not on a terminal (CI, a
pipe, a file): one plain line per change of phase or step, never the same line twice. Progress goes
to stderr, results to stdout, so that ``finesse-emu run X.yaml > out.txt`` holds the results only.

Tables (the phase table, status, ...) are rich tables fitted to the terminal's width (``COLUMNS``
when set); not on a terminal they keep their full width, one row per line as summary.txt has them.
``NO_COLOR`` set (https://no-color.org), or ``finesse-emu --no-color``: no colour or style codes.

The runners never import this module: they call the :data:`Reporter` they are given
(finesse_emu/runs/scenario/runner.py, :class:`Progress`).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from types import TracebackType
from typing import IO, Any

from rich import box
from rich.console import Console
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Progress as Bar
from rich.table import Table
from rich.text import Text

from finesse_emu.runs.report.text import TableSpec, summary_parts
from finesse_emu.runs.scenario.runner import Progress

# Not a terminal and no COLUMNS: tables keep their natural width (a log or a file is not cut).
UNLIMITED = 10_000


def no_color() -> bool:
    """NO_COLOR set to anything but the empty string (https://no-color.org)."""
    return bool(os.environ.get("NO_COLOR"))


def console(stderr: bool = False, file: IO[str] | None = None, force_terminal: bool | None = None) -> Console:
    """A console on stdout (results) or stderr (progress): no colour or style codes with NO_COLOR;
    the terminal's width (COLUMNS first); not a terminal, unlimited unless COLUMNS says."""
    out = file if file is not None else (sys.stderr if stderr else sys.stdout)
    probe = Console(file=out, force_terminal=force_terminal)
    width = None if probe.is_terminal or os.environ.get("COLUMNS", "").isdigit() else UNLIMITED
    return Console(
        file=out,
        force_terminal=force_terminal,
        width=width,
        color_system=None if no_color() else "auto",
        no_color=no_color(),
        highlight=False,
        soft_wrap=False,
    )


def rich_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    right: set[int] | None = None,
    columns: Sequence[int] | None = None,
    no_wrap: set[int] | None = None,
) -> Table:
    """A table (of ``columns`` only, when given) whose cells wrap, and fold what cannot wrap, to
    fit the console's width; numbers (``right``) and ``no_wrap`` columns never break."""
    right = right or set()
    keep = right | (no_wrap or set())
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    shown = list(range(len(headers))) if columns is None else list(columns)
    for i in shown:
        t.add_column(
            headers[i], justify="right" if i in right else "left", overflow="fold", no_wrap=i in keep
        )
    for r in rows:
        t.add_row(*(r[i] for i in shown))
    return t


# A text cell wider than this wraps rather than push the table into another block; one narrower
# never wraps (a host, a state, a number).
CELL_WRAP = 28
GAP = 3  # between two columns: a space of padding each side and the divider


def fitted(spec: TableSpec, width: int) -> list[Table]:
    """The table in blocks of columns that each fit ``width``, every block led by the first column
    (the phase, the component): a 20-column phase table on an 80-column terminal reads as two or
    three tables one under the other, rather than as columns three characters wide."""
    if not spec.headers:
        return [rich_table(spec.headers, spec.rows, spec.right)]
    natural = [max(len(c) for c in [h, *(r[i] for r in spec.rows)]) for i, h in enumerate(spec.headers)]
    short = {i for i, n in enumerate(natural) if n <= CELL_WRAP}

    def need(i: int) -> int:
        longest_word = max([len(w) for w in spec.headers[i].split()] or [1])
        return natural[i] if i in spec.right or i in short else max(CELL_WRAP, longest_word)

    first = need(0)
    blocks: list[list[int]] = [[0]]
    used = first
    for i in range(1, len(spec.headers)):
        w = need(i) + GAP
        if used + w > width and len(blocks[-1]) > 1:
            blocks.append([0])
            used = first
        blocks[-1].append(i)
        used += w
    return [rich_table(spec.headers, spec.rows, spec.right, block, short) for block in blocks]


def print_table(out: Console, spec: TableSpec) -> None:
    for n, t in enumerate(fitted(spec, out.width)):
        if n:
            out.print()
        out.print(t)


def print_summary(summary: dict[str, Any], out: Console | None = None) -> None:
    """The run's summary (what summary.txt holds), its tables fitted to the terminal."""
    out = out or console()
    for part in summary_parts(summary):
        if isinstance(part, str):
            out.print(Text(part))
        else:
            print_table(out, part)


def plain_line(p: Progress) -> str:
    """A progress line without the clock's parts: what decides whether the plain mode prints."""
    step = f"step {p.step}/{p.steps} " if p.step else ""
    phase = f"{p.phase}: " if p.phase else ""
    return f"{p.scenario}: {phase}{step}{p.doing}"


def left_text(left: float | None, open_ended: bool) -> str:
    if left is None:
        return ""
    return f"{'at least ' if open_ended else ''}{left:.0f} s left"


class _LeftColumn(ProgressColumn):
    """Time left: the remaining waits, counted down from the step's start."""

    def render(self, task: Task) -> Text:
        left = task.fields.get("left")
        if left is None:
            return Text("")
        since = time.monotonic() - float(task.fields.get("at", time.monotonic()))
        return Text(left_text(max(0.0, float(left) - since), bool(task.fields.get("open_ended"))))


class RunProgress:
    """The :data:`~finesse_emu.runs.scenario.runner.Reporter` of run, demo, bench and chaos-run:
    ``with RunProgress() as progress: run_scenario(..., progress=progress)``."""

    def __init__(self, out: Console | None = None) -> None:
        self.out = out or console(stderr=True)
        self.live = self.out.is_terminal
        self._last = ""
        self._scenario = ""
        self._bar: Bar | None = None
        self._task: Any = None

    def __enter__(self) -> RunProgress:
        if self.live:
            self._bar = Bar(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(bar_width=20),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                _LeftColumn(),
                console=self.out,
                transient=True,
            )
            self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
            self._task = None

    def __call__(self, p: Progress) -> None:
        line = plain_line(p)
        if self._bar is not None:
            fields: dict[str, Any] = {"left": p.left, "open_ended": p.open_ended, "at": time.monotonic()}
            if self._task is None or p.scenario != self._scenario:
                if self._task is not None:  # the next scenario: a new bar
                    self._bar.remove_task(self._task)
                self._task = self._bar.add_task(line, total=max(p.steps, 1), **fields)
            self._bar.update(self._task, description=line, completed=p.step, **fields)
            self._last, self._scenario = line, p.scenario
            return
        if line == self._last:
            return  # plain mode: each change once
        self._last = line
        left = left_text(p.left, p.open_ended)
        self.out.print(Text(f"[{p.elapsed:.0f} s] {line}" + (f" ({left})" if left else "")))


class LineProgress:
    """A line that changes now and then (the swarm's counts): kept in place on a terminal, printed
    once per change otherwise."""

    def __init__(self, prefix: str, out: Console | None = None) -> None:
        self.out = out or console(stderr=True)
        self.prefix = prefix
        self._last: str | None = None
        self._live: Live | None = None

    def __enter__(self) -> LineProgress:
        if self.out.is_terminal:
            self._live = Live(Text(self.prefix), console=self.out, auto_refresh=False, transient=True)
            self._live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __call__(self, line: str) -> None:
        if line == self._last:
            return
        self._last = line
        text = Text(f"{self.prefix}{line}", overflow="fold")
        if self._live is not None:
            self._live.update(text, refresh=True)
        else:
            self.out.print(text)
