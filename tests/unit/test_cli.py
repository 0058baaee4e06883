"""The ``finesse-emu`` command: every command registered once, help texts readable as they print
(the right program name, no reStructuredText markup), ``--version`` from the package metadata, and
one exit status convention: 0 ok, 1 an expectation or invariant failed, 2 usage error or cannot run."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

import awdb_stub.__main__ as awdb_main
import cti_stub.__main__ as cti_main
import finesse_emu.server.__main__ as node_main
from finesse_emu import cli
from finesse_emu.cli.check import main as check_main
from finesse_emu.cli.report import main as report_main

COMMANDS = {
    "admin", "bench", "chaos", "chaos-run", "check", "cors", "demo", "down", "history", "layout", "plan",
    "report", "run", "scenarios", "secrets", "server", "status", "swarm", "timers", "up",
}  # fmt: skip


def subparsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every parser below ``parser`` (``bench failover``, ``history merge`` included)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield sub
                yield from subparsers(sub)


def test_every_command_is_registered_once_with_its_own_program_name() -> None:
    parser = cli.build_parser()
    top = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(top.choices) == COMMANDS
    for sub in subparsers(parser):
        assert sub.prog.startswith("finesse-emu "), sub.prog
        text = sub.format_help()
        assert text.startswith(f"usage: {sub.prog} "), text[:80]
        assert "``" not in text and "__main__" not in text and ":func:" not in text, sub.prog
    assert "``" not in parser.format_help()


@pytest.mark.parametrize(
    ("build", "prog"),
    [
        (cti_main.build_parser, "python -m cti_stub"),
        (awdb_main.build_parser, "python -m awdb_stub"),
        (node_main.build_parser, "python -m finesse_emu.server"),
    ],
)
def test_component_entry_points_name_themselves(build: object, prog: str) -> None:
    assert callable(build)
    parser = build()
    assert isinstance(parser, argparse.ArgumentParser)
    text = parser.format_help()
    assert parser.prog == prog and "``" not in text and "__main__" not in text
    for option in ("--admin-token", "--admin-token-file", "--admin-insecure", "--time-scale", "--log-level"):
        assert option in text, (prog, option)


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"finesse-emu {metadata.version('finesse-emu')}"


def test_a_command_registers_itself() -> None:
    cli.build_parser()  # every module loaded

    def add(p: argparse.ArgumentParser) -> None:
        p.add_argument("--times", type=int, default=1)

    try:
        cli.command("echo-test", "say it", add)(lambda args: 7 * args.times)
        assert cli.main(["echo-test", "--times", "2"]) == 14
        with pytest.raises(ValueError, match="registered twice"):
            cli.command("echo-test", "again")(lambda args: 0)
    finally:
        cli.COMMANDS.pop("echo-test", None)


def test_usage_errors_and_what_cannot_run_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:
        cli.main(["status", "--no-such-option"])
    assert usage.value.code == cli.EXIT_USAGE
    with pytest.raises(SystemExit) as no_command:
        cli.main([])
    assert no_command.value.code == cli.EXIT_USAGE
    capsys.readouterr()
    assert cli.main(["status", "--run-dir", str(tmp_path)]) == cli.EXIT_USAGE
    assert capsys.readouterr().err == f"finesse-emu status: no deployment running from {tmp_path}\n"
    assert cli.main(["demo", "--scenario", str(tmp_path / "nope.yaml")]) == cli.EXIT_USAGE
    assert "nope.yaml not found" in capsys.readouterr().err
    assert cli.main(["history", "merge", str(tmp_path / "out"), str(tmp_path / "none.jsonl")]) == 2
    assert "not found" in capsys.readouterr().err
    assert cli.main(["chaos", "hang", "cti-a", "--run-dir", str(tmp_path)]) == cli.EXIT_USAGE
    assert "no deployment running" in capsys.readouterr().err
    assert cli.main(["run", str(tmp_path / "missing.yaml")]) == cli.EXIT_USAGE
    assert "missing.yaml" in capsys.readouterr().err


def test_module_aliases_run_the_same_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # python -m finesse_emu.runs.check / .runs.report: the commands themselves, under their names.
    for main, name in ((check_main, "check"), (report_main, "report")):
        with pytest.raises(SystemExit):
            main(["--help"])
        assert capsys.readouterr().out.startswith(f"usage: finesse-emu {name} ")
        assert main([str(tmp_path / "nowhere")]) == cli.EXIT_USAGE
        assert "cannot read" in capsys.readouterr().err


def test_each_command_is_in_the_table_of_its_module() -> None:
    cli.build_parser()  # every module loaded
    registered = {
        name: c.run.__module__.removeprefix("finesse_emu.cli.")
        for name, c in cli.COMMANDS.items()
        if c.run.__module__.startswith("finesse_emu.cli.")
    }
    assert registered == cli.COMMAND_MODULES


def test_a_command_loads_its_own_module_only() -> None:
    # In a fresh interpreter: `finesse-emu status` never imports the planner or the scenario runner.
    probe = (
        "import sys; from finesse_emu import cli; p = cli.build_parser('status'); "
        "p.parse_args(['status']); "
        "print(sorted(m for m in ('finesse_emu.planner', 'finesse_emu.runs.scenario', "
        "'finesse_emu.cli.plan', 'finesse_emu.cli.swarm') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
    with pytest.raises(SystemExit):  # another command's name is no option of this parser
        cli.build_parser("status").parse_args(["up"])
