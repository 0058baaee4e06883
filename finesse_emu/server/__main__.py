"""``python -m finesse_emu.server`` (also ``finesse-emu server``): one Finesse node as its own process.

The parser and the settings (:func:`add_arguments`, :func:`load_config`) import nothing heavy, so
that ``finesse-emu --help`` stays quick; the node itself is imported when it runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from emu_base import eventloop
from emu_base.admin import admin_access
from emu_base.awdb_login import awdb_login
from emu_base.entry import cannot_run, component_parser, run_component, serve
from emu_base.eventloop import uvloop_factory
from emu_base.timers import Timers
from finesse_emu.server.cors import CorsPolicy

if TYPE_CHECKING:
    from finesse_emu.server.node import FinesseNode, NodeConfig

PROG = "python -m finesse_emu.server"
DESCRIPTION = """One Finesse node. The config file is YAML with the fields of NodeConfig
(finesse_emu/server/config.py), e.g.:

    name: finesse-a
    role: publisher
    host: 127.0.10.7
    secondary_host: 127.0.10.8
    cti_sides: [[A, 127.0.10.1, 42027], [B, 127.0.10.2, 43027]]
    awdb_urls: [http://127.0.10.3:1433, http://127.0.10.4:1433]
    awdb_password_file: run/awdb-password   # the AWDBs' login (user awdb_user, default finesse)
    xmpp_host: 127.0.10.7
    xmpp_port: 5222
    xmpp_password_file: run/xmpp-password   # the finesse XMPP account's password (mode 0600)
"""


def load_config(path: str | None, overrides: dict[str, Any]) -> NodeConfig:
    from finesse_emu.server.node import NodeConfig

    raw: dict[str, Any] = {}
    if path:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping")
        raw.update(data)
    raw.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in dataclasses.fields(NodeConfig)}
    unknown = set(raw) - known - {"time_scale"}
    if unknown:
        raise ValueError(f"unknown config key(s): {sorted(unknown)}")
    raw.pop("time_scale", None)
    if "cti_sides" in raw:
        raw["cti_sides"] = [(str(n), str(h), int(p)) for n, h, p in raw["cti_sides"]]
    return NodeConfig(**raw)


def build_parser() -> argparse.ArgumentParser:
    p = component_parser(PROG, DESCRIPTION, raw_description=True)
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The node's own options, after the common ones of :func:`emu_base.entry.component_parser`."""
    p.add_argument("--config", help="YAML file with the node's settings")
    p.add_argument("--name", help="the node's name (default finesse-a)")
    p.add_argument("--role", choices=["publisher", "subscriber"])
    p.add_argument("--host", help="the address it listens on, its host name and XMPP domain")
    p.add_argument("--http-port", type=int, help="the REST API over HTTP (default 8082)")
    p.add_argument("--https-port", type=int, help="the REST API over HTTPS (default 8445)")
    # The control plane listens on the node's host (its admin_port); its token, if any: the admin
    # token options, else the config's admin_token, else $FINESSE_EMU_ADMIN_TOKEN.
    p.add_argument("--admin-port", type=int, help="control plane HTTP port (default 8089; -1 = none)")
    p.add_argument("--xmpp-host", help="its Notification Service (Prosody)")
    p.add_argument("--xmpp-port", type=int, help="default 5222")
    p.add_argument("--xmpp-password-file", help="the file holding the finesse XMPP account's password")
    p.add_argument("--run-dir", help="where it keeps its files")
    p.add_argument(
        "--thirdparty-dir", help="the folder served at /3rdpartygadget/files/ on the web ports (default none)"
    )
    p.add_argument(
        "--cors-origin",
        action="append",
        dest="cors_origins",
        metavar="ORIGIN",
        help="an origin allowed cross-origin (scheme://host[:port]; repeat for more; default none: CORS off)",
    )
    p.add_argument(
        "--capacity",
        choices=["none", "4vcpu", "8vcpu"],
        help="the product's capacity, live: requests queue as the capacity model says (default none)",
    )
    p.add_argument("--uvloop", action="store_true", help="run on uvloop's event loop (must be installed)")


STOP_TIMEOUT = 10.0


class _Node:
    """The node, with the collector that keeps full GC passes between bursts of requests and
    publishes, not in the middle of a failover."""

    def __init__(self, node: FinesseNode) -> None:
        from emu_base.quiet_gc import QuietCollector

        self.node = node
        self.collector = QuietCollector(lambda: node.stats["http_requests"] + node.stats["events"])

    async def start(self) -> None:
        await self.node.start()
        self.collector.start()

    async def stop(self) -> None:
        await self.collector.stop()
        await self.node.stop()


async def run(config: NodeConfig, timers: Timers) -> int:
    from finesse_emu.server.node import FinesseNode

    return await serve(_Node(FinesseNode(config, timers)), stop_timeout=STOP_TIMEOUT)


def main(argv: list[str] | None = None) -> int:
    return run_args(build_parser().parse_args(argv))


def run_args(args: argparse.Namespace) -> int:
    """Run the node that ``args`` (the options of :func:`build_parser`) describe."""
    overrides = {
        "name": args.name, "role": args.role, "host": args.host, "http_port": args.http_port,
        "https_port": args.https_port, "admin_port": args.admin_port, "xmpp_host": args.xmpp_host,
        "xmpp_port": args.xmpp_port, "xmpp_password_file": args.xmpp_password_file, "run_dir": args.run_dir,
        "thirdparty_dir": args.thirdparty_dir, "cors_origins": args.cors_origins,
        "capacity": args.capacity,
    }  # fmt: skip
    try:
        config = load_config(args.config, overrides)
        CorsPolicy.of(config.cors_origins)  # a malformed origin: exit 2, said why
        awdb_login(config.awdb_user, config.awdb_password_file)  # a bad login file: exit 2, said why
        if config.xmpp_host:
            config.xmpp_password()  # a missing or unreadable password file fails here, not at login
        timers = Timers.build(args.time_scale)
        if config.admin_port != -1:
            hint = "host: 127.0.0.1 in the node config, or --host"
            token = admin_access(args, config.admin_host or config.host, config.admin_token, hint)
            config = dataclasses.replace(config, admin_token=token)
    except (OSError, ValueError, TypeError, yaml.YAMLError) as exc:
        return cannot_run(PROG, exc)
    try:  # --uvloop, or $FINESSE_EMU_LOOP (which the launcher's children inherit)
        loop_factory = uvloop_factory() if args.uvloop else eventloop.loop_factory()
    except eventloop.LoopChoiceError as exc:
        return cannot_run(PROG, exc)
    if args.uvloop and loop_factory is None:
        return cannot_run(
            PROG, "--uvloop: uvloop is not installed (pip install uvloop; it is a dependency on Linux only)"
        )
    return run_component(PROG, config.name, args.log_level, lambda: run(config, timers), loop_factory)


if __name__ == "__main__":
    sys.exit(main())
