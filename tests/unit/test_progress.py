"""The CLI's progress and tables (finesse_emu/cli/progress.py): each change once when not on a
terminal, tables fitted to COLUMNS, no escape codes with NO_COLOR; the runner's step words and time
left; status --watch's lines."""

from __future__ import annotations

import io
import os
import re
from typing import Any

import pytest
from rich.console import Console

from finesse_emu.cli.deployment import _fault_text, _watch_lines
from finesse_emu.cli.progress import LineProgress, RunProgress, console, print_summary, rich_table
from finesse_emu.runs.report import render_summary_table, summarize
from finesse_emu.runs.scenario.base import Step
from finesse_emu.runs.scenario.runner import Progress, describe, time_left
from tests.unit.test_report import publisher_killed

ESCAPE = re.compile(r"\x1b\[")


@pytest.fixture
def summary() -> dict[str, Any]:
    return summarize(publisher_killed())


def plain(monkeypatch: pytest.MonkeyPatch, columns: int | None = None) -> tuple[Console, io.StringIO]:
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", str(columns))
    buf = io.StringIO()
    return console(file=buf, force_terminal=False), buf


def progress(
    step: int, elapsed: float, phase: str = "sign in", doing: str = "until all_signed_in"
) -> Progress:
    return Progress("demo", phase, step, 5, doing, elapsed, 12.0, open_ended=True)


def test_plain_mode_prints_each_change_once(monkeypatch: pytest.MonkeyPatch) -> None:
    out, buf = plain(monkeypatch)
    with RunProgress(out) as report:
        report(progress(1, 0.0, doing="phase"))
        report(progress(2, 0.5))
        report(progress(2, 3.0))  # the same step, later: nothing new to say
        report(progress(2, 9.0))
        report(progress(3, 10.0, phase="publisher killed", doing="fault kill publisher"))
    lines = buf.getvalue().splitlines()
    assert lines == [
        "[0 s] demo: sign in: step 1/5 phase (at least 12 s left)",
        "[0 s] demo: sign in: step 2/5 until all_signed_in (at least 12 s left)",
        "[10 s] demo: publisher killed: step 3/5 fault kill publisher (at least 12 s left)",
    ]
    assert not ESCAPE.search(buf.getvalue())


def test_line_progress_prints_a_line_only_when_it_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    out, buf = plain(monkeypatch)
    with LineProgress("[swarm] ", out) as report:
        for line in ["desktop signed_in finesse-a: 2"] * 3 + ["desktop signed_in finesse-a: 4"] * 2:
            report(line)
    assert buf.getvalue().splitlines() == [
        "[swarm] desktop signed_in finesse-a: 2",
        "[swarm] desktop signed_in finesse-a: 4",
    ]


def test_the_live_line_on_a_terminal_goes_away_when_the_run_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    buf = io.StringIO()
    out = console(file=buf, force_terminal=True)
    with RunProgress(out) as report:
        assert report.live
        report(progress(1, 0.0))
        report(progress(2, 1.0))
    # Drawn with cursor controls, and not left behind as a line per step.
    assert ESCAPE.search(buf.getvalue())
    assert buf.getvalue().count("\n") < 5


def test_the_phase_table_fits_80_columns(monkeypatch: pytest.MonkeyPatch, summary: dict[str, Any]) -> None:
    # summary.txt keeps every column at full width: far wider than a terminal.
    assert max(map(len, render_summary_table(summary).splitlines())) > 80
    out, buf = plain(monkeypatch, columns=80)
    print_summary(summary, out)
    text = buf.getvalue()
    assert max(map(len, text.splitlines())) <= 80, text
    # In blocks of columns, each led by the phase: every header whole, numbers unbroken.
    for word in ("failovers", "expect ok", "OOS finesse-a", "15.60", "phones back"):
        assert word in text, text
    assert text.count("run total") >= 2, text  # the phase table in blocks, each led by the phase


def test_not_on_a_terminal_without_columns_rows_stay_whole(
    monkeypatch: pytest.MonkeyPatch, summary: dict[str, Any]
) -> None:
    out, buf = plain(monkeypatch)
    print_summary(summary, out)
    phases = [p["name"] for p in summary["phases"]]
    rows = [line for line in buf.getvalue().splitlines() if line.startswith(tuple(phases))]
    assert len(rows) == len(phases)  # one line per phase: grep finds a phase's numbers
    assert not ESCAPE.search(buf.getvalue())


def test_no_color_gives_no_escape_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    table = rich_table(["component", "state"], [["finesse-a", "IN_SERVICE"]])
    monkeypatch.delenv("NO_COLOR", raising=False)
    coloured = io.StringIO()
    console(file=coloured, force_terminal=True).print(table)
    assert ESCAPE.search(coloured.getvalue())  # a terminal gets a bold header...
    monkeypatch.setenv("NO_COLOR", "1")
    bare = io.StringIO()
    console(file=bare, force_terminal=True).print(table)
    assert not ESCAPE.search(bare.getvalue())  # ...not with NO_COLOR
    assert "IN_SERVICE" in bare.getvalue()


def test_the_runner_says_what_a_step_does_and_the_time_its_waits_take() -> None:
    steps = [
        Step("phase", {"name": "sign in"}, 0),
        Step("until", {"condition": "all_signed_in", "arg": True, "timeout": 300}, 1),
        Step("wait", {"seconds": 10.0}, 2),
        Step("fault", {"action": "kill", "target": "publisher"}, 3),
        Step("wait", {"seconds": 30.0}, 4),
    ]
    assert [describe(s) for s in steps] == [
        "phase",
        "until all_signed_in",
        "wait 10 s",
        "fault kill publisher",
        "wait 30 s",
    ]
    assert time_left(steps, 0.5) == (20.0, True)  # an until remains: at least that
    assert time_left(steps[2:], 0.5) == (20.0, False)


def test_status_watch_prints_a_line_per_change() -> None:
    def report(cti_a: str, faults: list[dict[str, Any]] | None) -> dict[str, Any]:
        return {
            "components": [
                {"name": "cti-a", "state": cti_a, "faults": faults},
                {"name": "finesse-a", "state": "IN_SERVICE", "faults": []},
            ]
        }

    before, lines = _watch_lines({}, report("active", []))
    assert lines == ["cti-a: active", "finesse-a: IN_SERVICE"]
    before, lines = _watch_lines(before, report("active", []))
    assert lines == []
    before, lines = _watch_lines(before, report("active", [{"id": "hang-1", "kind": "hang"}]))
    assert lines == ["cti-a: active, faults: hang"]
    assert _fault_text([{"id": "latency-1", "kind": "latency", "ms": 200}]) == "latency ms=200"
    assert _fault_text(None) == "?"


def test_no_color_option_sets_no_color(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from finesse_emu import cli

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert cli.main(["--no-color", "timers"]) == cli.EXIT_OK
    assert os.environ["NO_COLOR"] == "1"  # what console() reads, and the commands' children inherit
    assert "\x1b[" not in capsys.readouterr().out
