"""The ``finesse-emu`` command: one argparse parser, one subcommand per registered command.

Each module of this package registers its commands with :func:`command` (its name, its help, its
options, what it runs); :func:`build_parser` gathers every module, :func:`main` runs the one named
on the command line. Heavy imports stay inside the commands, so that ``finesse-emu --help`` is quick.

Exit status, the same for every command (docs/cli.md):

| status | meaning |
|---|---|
| 0 | done; every expectation held, every invariant held |
| 1 | it ran, and an expectation, an invariant or a deployment check failed |
| 2 | usage error, or it cannot run (a missing file, no deployment, a component that would not start) |
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Protocol

EXIT_OK = 0
EXIT_FAILED = 1  # an expectation, an invariant or a check failed
EXIT_USAGE = 2  # usage error, or cannot run

PROG = "finesse-emu"


class CannotRun(Exception):
    """A command that cannot do its work (no deployment, an unreadable file): ``main`` prints
    ``finesse-emu CMD: message`` on stderr and exits with status 2."""


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str | None = None


COMMANDS: dict[str, Command] = {}

Run = Callable[[argparse.Namespace], int]


def command(
    name: str,
    help: str,
    arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    description: str | None = None,
) -> Callable[[Run], Run]:
    """Register the decorated function as ``finesse-emu NAME`` (``arguments`` adds its options)."""

    def register(run: Run) -> Run:
        if name in COMMANDS:
            raise ValueError(f"finesse-emu {name} is registered twice")
        COMMANDS[name] = Command(name, help, arguments or (lambda p: None), run, description)
        return run

    return register


# Which module registers which command, so that ``finesse-emu NAME`` imports that module only: the
# suite and the scenario runner start the CLI hundreds of times, and importing every command module
# (the planner, the runs, the swarm) costs about a second of CPU each time. ``--help`` and an
# unknown name load them all; tests/unit/test_cli.py checks this table against the registrations.
COMMAND_MODULES: dict[str, str] = {
    "admin": "admin",
    "bench": "run",
    "chaos": "chaos",
    "chaos-run": "chaos",
    "check": "check",
    "cors": "cors",
    "demo": "run",
    "down": "deployment",
    "history": "report",
    "layout": "layout",
    "plan": "plan",
    "report": "report",
    "run": "run",
    "scenarios": "run",
    "secrets": "deployment",
    "server": "server",
    "status": "deployment",
    "swarm": "swarm",
    "timers": "timers",
    "up": "deployment",
}


def _load_commands(name: str | None = None) -> None:
    """Import the module of command ``name``, or every command module (``name`` None or unknown)."""
    if name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{COMMAND_MODULES[name]}")
        return
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")


def version() -> str:
    try:
        return metadata.version("finesse-emu")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of command ``only`` alone when it is a known name."""
    _load_commands(only)
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Emulator of a duplex Cisco Finesse deployment. Exit status: 0 ok, 1 an expectation "
        "or invariant failed, 2 usage error or cannot run.",
    )
    p.add_argument("--version", action="version", version=f"{PROG} {version()}")
    p.add_argument("--no-color", action="store_true", help="no colour or style codes (as NO_COLOR=1 does)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for cmd in sorted(COMMANDS.values(), key=lambda c: c.name):
        if only in COMMAND_MODULES and cmd.name != only:
            continue  # loaded with its module, not asked for
        sp = sub.add_parser(cmd.name, help=cmd.help, description=cmd.description or cmd.help)
        cmd.arguments(sp)
        sp.set_defaults(func=cmd.run)
    return p


def fail(name: str, message: str) -> int:
    """Say why ``finesse-emu NAME`` cannot run; the status to exit with (2)."""
    print(f"{PROG} {name}: {message}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command_name = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command_name).parse_args(argv)
    if args.no_color:  # read by finesse_emu/cli/progress.py, and by the commands' child processes
        os.environ["NO_COLOR"] = "1"
    try:
        code: int = args.func(args)
    except CannotRun as exc:
        return fail(args.command, str(exc))
    return code


class Alias(Protocol):
    def __call__(self, argv: Sequence[str] | None = None) -> int: ...


def alias(name: str) -> Alias:
    """``main(argv)`` of a module that is also ``finesse-emu NAME`` (``python -m ...`` and the
    functions tests call): the same command, ``argv`` being what follows NAME."""

    def run(argv: Sequence[str] | None = None) -> int:
        return main([name, *(sys.argv[1:] if argv is None else argv)])

    return run
