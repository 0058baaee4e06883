"""``finesse-emu server``: one Finesse node, the same as ``python -m finesse_emu.server``."""

from __future__ import annotations

import argparse

from emu_base.entry import component_parser
from finesse_emu.cli import command
from finesse_emu.server.__main__ import add_arguments, run_args


def _arguments(p: argparse.ArgumentParser) -> None:
    component_parser(p.prog, None, parser=p)
    add_arguments(p)


@command(
    "server",
    "run one Finesse node (finesse-emu server --help)",
    _arguments,
    description="One Finesse node: the REST API, its CTI link, its notifications. The config file is "
    "YAML with the fields of NodeConfig (finesse_emu/server/node.py); options override it.",
)
def server(args: argparse.Namespace) -> int:
    return run_args(args)
