"""``python -m awdb_stub --name awdb-a ...``: one Administration & Data Server (AWDB) of a deployment."""

from __future__ import annotations

import argparse
import asyncio
import sys

from awdb_stub.db import AwdbDatabase
from awdb_stub.seed import SeedData, load_seed_file
from awdb_stub.server import DEFAULT_PORT, AwdbServer, ServerConfig, json_aiohttp_logs
from finesse_emu.admin import add_admin_options, admin_access
from finesse_emu.directory import resolve
from finesse_emu.logs import configure_logging, get_logger
from finesse_emu.procs import stop_on_signals
from finesse_emu.timers import Timers

log = get_logger()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m awdb_stub", description=__doc__)
    p.add_argument("--name", default="awdb-a", help="component name in health and logs (default awdb-a)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="query API port (default 1433; 0 = any)")
    p.add_argument("--admin-port", type=int, help="control plane HTTP port (default port+1; -1 = none)")
    p.add_argument("--admin-host", help="control plane address (default --host)")
    add_admin_options(p)
    p.add_argument("--db", help="SQLite file (default: in memory); a file that holds data is reused")
    p.add_argument("--reseed", action="store_true", help="replace the data of an existing --db file")
    p.add_argument("--seed", help="seed file (YAML or JSON): agents, teams, reason codes, ...")
    p.add_argument(
        "--agents",
        help="agents to generate (default 50), or an agent file (YAML, JSON or CSV); a --seed file's "
        "agents take precedence",
    )
    p.add_argument(
        "--time-scale", type=float, help="multiply every timer (default $FINESSE_EMU_TIME_SCALE or 1)"
    )
    p.add_argument("--log-level", default="INFO")
    return p


def open_database(args: argparse.Namespace) -> AwdbDatabase:
    """The --db file as it is if it holds data (unless --reseed), otherwise freshly seeded."""
    db = AwdbDatabase(args.db)
    try:
        if db.is_seeded() and not args.reseed:
            log.info("awdb_db_reused", db=db.path, agents=db.agent_count(), meta=db.info())
            if args.seed or args.agents:
                log.warning("awdb_seed_ignored", db=db.path, hint="the file holds data; --reseed replaces it")
            return db
        agents = resolve(args.agents)
        seed = (
            load_seed_file(args.seed, agents)
            if args.seed
            else SeedData(agents, source=args.agents or f"generated:{len(agents)}")
        )
        count = db.seed(seed, replace=True)
        log.info("awdb_db_seeded", db=db.path, agents=count, source=seed.source)
    except BaseException:
        db.close()
        raise
    return db


async def run(args: argparse.Namespace) -> int:
    # The stub has no timers of its own (fault delays are real milliseconds); the factor is still
    # validated so a launcher can pass the same options to every component.
    timers = Timers.build(args.time_scale)
    # No control plane (--admin-port -1): nothing to guard.
    admin_token = None if args.admin_port == -1 else admin_access(args, args.admin_host or args.host)
    json_aiohttp_logs()
    db = open_database(args)
    server = AwdbServer(
        ServerConfig(
            name=args.name,
            host=args.host,
            port=args.port,
            admin_host=args.admin_host,
            admin_port=args.admin_port,
            admin_token=admin_token,
        ),
        db,
    )
    stop = stop_on_signals()
    try:
        await server.start()
        log.info("awdb_ready", name=args.name, time_scale=timers.time_scale)
        await stop.wait()
    finally:
        await server.stop()
        db.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.name, args.log_level)
    try:
        return asyncio.run(run(args))
    except (OSError, ValueError) as exc:
        print(f"awdb_stub: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
