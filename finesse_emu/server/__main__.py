"""``python -m finesse_emu.server --config FILE [overrides]``: one Finesse node as its own process.

The config file is YAML with the fields of :class:`finesse_emu.server.config.NodeConfig`, e.g.::

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

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from emu_base import eventloop
from emu_base.admin import add_admin_options, admin_access
from emu_base.awdb_login import awdb_login
from emu_base.eventloop import uvloop_factory
from emu_base.logs import configure_logging, get_logger
from emu_base.procs import stop_on_signals
from emu_base.quiet_gc import QuietCollector
from emu_base.timers import Timers
from finesse_emu.server.node import FinesseNode, NodeConfig


def load_config(path: str | None, overrides: dict[str, Any]) -> NodeConfig:
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
    p = argparse.ArgumentParser(prog="python -m finesse_emu.server", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--config", help="YAML file with the node's settings")
    p.add_argument("--name")
    p.add_argument("--role", choices=["publisher", "subscriber"])
    p.add_argument("--host")
    p.add_argument("--http-port", type=int)
    p.add_argument("--https-port", type=int)
    p.add_argument("--admin-port", type=int)
    p.add_argument("--xmpp-host")
    p.add_argument("--xmpp-port", type=int)
    p.add_argument("--xmpp-password-file", help="the file holding the finesse XMPP account's password")
    p.add_argument("--run-dir")
    # The control plane listens on the node's host (its admin_port); its token, if any: these
    # options, else the config's admin_token, else $FINESSE_EMU_ADMIN_TOKEN.
    add_admin_options(p)
    p.add_argument("--time-scale", type=float, help="default $FINESSE_EMU_TIME_SCALE or 1")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--uvloop", action="store_true", help="run on uvloop's event loop (must be installed)")
    return p


log = get_logger()
STOP_TIMEOUT = 10.0


async def run(config: NodeConfig, timers: Timers) -> int:
    node = FinesseNode(config, timers)
    stop = stop_on_signals()
    await node.start()
    # Full GC passes between bursts of requests and publishes, not in the middle of a failover.
    collector = QuietCollector(lambda: node.stats["http_requests"] + node.stats["events"])
    collector.start()
    await stop.wait()
    await collector.stop()
    try:
        # An orderly stop must not hang the process: a stuck dependency (an XMPP or CTI connection
        # in a bad state) would leave a node nobody can stop but with SIGKILL.
        await asyncio.wait_for(node.stop(), STOP_TIMEOUT)
    except TimeoutError:
        # Leave at once: the event loop's own shutdown would wait for the same stuck tasks.
        log.warning("finesse_stop_timeout", seconds=STOP_TIMEOUT)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = {
        "name": args.name, "role": args.role, "host": args.host, "http_port": args.http_port,
        "https_port": args.https_port, "admin_port": args.admin_port, "xmpp_host": args.xmpp_host,
        "xmpp_port": args.xmpp_port, "xmpp_password_file": args.xmpp_password_file, "run_dir": args.run_dir,
    }  # fmt: skip
    try:
        config = load_config(args.config, overrides)
        awdb_login(config.awdb_user, config.awdb_password_file)  # a bad login file: exit 2, said why
        if config.xmpp_host:
            config.xmpp_password()  # a missing or unreadable password file fails here, not at login
        timers = Timers.build(args.time_scale)
        if config.admin_port != -1:
            hint = "host: 127.0.0.1 in the node config, or --host"
            token = admin_access(args, config.host, config.admin_token, hint)
            config = dataclasses.replace(config, admin_token=token)
    except (OSError, ValueError, TypeError, yaml.YAMLError) as exc:
        print(f"finesse_emu.server: {exc}", file=sys.stderr)
        return 2
    try:  # --uvloop, or $FINESSE_EMU_LOOP (which the launcher's children inherit)
        loop_factory = uvloop_factory() if args.uvloop else eventloop.loop_factory()
    except eventloop.LoopChoiceError as exc:
        print(f"finesse_emu.server: {exc}", file=sys.stderr)
        return 2
    if args.uvloop and loop_factory is None:
        hint = "--uvloop: uvloop is not installed (pip install uvloop; it is a dependency on Linux only)"
        print(f"finesse_emu.server: {hint}", file=sys.stderr)
        return 2
    configure_logging(config.name, args.log_level)
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(run(config, timers))
    except OSError as exc:
        print(f"finesse_emu.server: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
