"""chaos-run's verdict is finesse-emu check's: the same history gives the same table and the same
pass/fail to both (attack finding 8: chaos-run printed `forced-logout-code-255: ok` where check on
the same run said skipped)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from finesse_emu.cli.check import main as check_main
from finesse_emu.runs.scenario.chaos_run import verdict
from tests.unit.test_check import network_glitch, publisher_killed, returns, signed, with_events

A = "finesse-a"
HISTORIES = {
    # No node events: the out-of-service, cache and forced-logout rules are skipped.
    "publisher killed": publisher_killed(),
    # Sessions logged, no forced logout and no phone: not exercised.
    "glitch": with_events(network_glitch(), signed(2.0, A, "1000"), signed(2.0, A, "1001")),
    # A violation.
    "return": returns([]),
}


def write(directory: Path, events: list[dict[str, Any]]) -> Path:
    directory.mkdir()
    (directory / "history.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return directory


@pytest.mark.parametrize("name", HISTORIES)
def test_chaos_run_and_check_give_the_same_verdict(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_dir = write(tmp_path / "run", HISTORIES[name])
    code = check_main([str(report_dir / "history.jsonl"), "--strict"])
    printed = capsys.readouterr().out
    ok, text = verdict(report_dir)
    assert text == printed
    assert ok is (code == 0)
    assert not ok  # each of these leaves something unexercised or violated: a chaos run would fail


def test_a_skipped_invariant_is_never_printed_as_ok(tmp_path: Path) -> None:
    _, text = verdict(write(tmp_path / "run", publisher_killed()))
    line = next(line for line in text.splitlines() if "forced-logout-code-255" in line)
    assert line.split()[0] == "skipped"
    assert "FAILED: every invariant must be exercised (--strict)" in text


def test_failed_expectations_fail_the_run_whatever_the_invariants(tmp_path: Path) -> None:
    report_dir = write(tmp_path / "run", publisher_killed())
    (report_dir / "summary.json").write_text(
        json.dumps({"expectations": [{"name": "every desktop signed in", "ok": False, "detail": "9 of 10"}]})
    )
    ok, text = verdict(report_dir, expectations_ok=False)
    assert not ok
    assert text.endswith("FAILED expectations: every desktop signed in: 9 of 10\n")
