"""``finesse-emu cors``: list and change the origins a running deployment's nodes allow (CORS)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from finesse_emu.cli import EXIT_OK, CannotRun, command
from finesse_emu.cli.options import add_run_dir


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "action",
        choices=["list", "add", "remove", "set"],
        help="list the allowed origins; add or remove some; set the whole list (none: CORS off)",
    )
    p.add_argument("origins", nargs="*", metavar="ORIGIN", help="scheme://host[:port], as a browser sends it")
    p.add_argument("--node", help="only this node (finesse-a or finesse-b; default both)")
    add_run_dir(p)


@command(
    "cors",
    "the origins a running deployment's Finesse nodes allow cross-origin (REST, live)",
    _arguments,
    description="List or change the allowed origins of the Finesse nodes of the deployment running "
    "from --run-dir, through their control planes (their admin token). An empty list is CORS off, "
    "Finesse's default. The REST API follows at once; the Notification Service (Prosody) takes the "
    "deployment file's finesse.cors_origins at its start.",
)
def cors(args: argparse.Namespace) -> int:
    from finesse_emu.deployment.cors import CorsCommandError
    from finesse_emu.deployment.cors import cors as change

    if args.action in ("add", "remove") and not args.origins:
        raise CannotRun(f"{args.action} needs at least one ORIGIN")
    if args.action == "list" and args.origins:
        raise CannotRun("list takes no ORIGIN")
    try:
        lists = asyncio.run(change(Path(args.run_dir), args.action, list(args.origins), args.node))
    except CorsCommandError as exc:
        raise CannotRun(str(exc)) from exc
    for name, origins in sorted(lists.items()):
        print(f"{name}: {' '.join(origins) if origins else '(none: CORS off)'}")
    return EXIT_OK
