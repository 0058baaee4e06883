"""``python -m awdb_stub --name awdb-a ...``: one Administration & Data Server (AWDB) of a deployment."""

from __future__ import annotations

import argparse
import sys

from awdb_stub.db import AwdbDatabase
from awdb_stub.login import Login
from awdb_stub.seed import WRAP_UP_MODES, SeedData, load_seed_file, seed_digest, with_desk_defaults
from awdb_stub.server import DEFAULT_PORT, AwdbServer, ServerConfig, json_aiohttp_logs
from emu_base.admin import admin_access, is_loopback
from emu_base.awdb_login import DEFAULT_USER, read_password_file
from emu_base.directory import resolve
from emu_base.entry import component_parser, run_component, serve
from emu_base.logs import get_logger
from emu_base.timers import Timers

log = get_logger()
PROG = "python -m awdb_stub"


def build_parser() -> argparse.ArgumentParser:
    p = component_parser(PROG, "One Administration & Data Server (AWDB) of a deployment.")
    p.add_argument("--name", default="awdb-a", help="component name in health and logs (default awdb-a)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="query API port (default 1433; 0 = any)")
    p.add_argument("--admin-port", type=int, help="control plane HTTP port (default port+1; -1 = none)")
    p.add_argument("--admin-host", help="control plane address (default --host)")
    p.add_argument(
        "--login-user", default=DEFAULT_USER, help=f"the AWDB login's user name (default {DEFAULT_USER})"
    )
    p.add_argument(
        "--login-password-file",
        help="require the AWDB login (HTTP Basic, --login-user and the password in FILE) on every query "
        "route; without it the query API is open, which is refused on a non-loopback --host",
    )
    p.add_argument("--db", help="SQLite file (default: in memory); a file that holds data is reused")
    p.add_argument("--reseed", action="store_true", help="replace the data of an existing --db file")
    p.add_argument("--seed", help="seed file (YAML or JSON): agents, teams, reason codes, ...")
    p.add_argument(
        "--agents",
        help="agents to generate (default 50, voice-only; 50+chat+email: also in those MRDs), or an "
        "agent file (YAML, JSON or CSV); a --seed file's agents take precedence",
    )
    for kind in ("incoming", "outgoing"):
        p.add_argument(
            f"--wrap-up-on-{kind}",
            choices=WRAP_UP_MODES,
            help=f"Agent Desk Settings: work mode on {kind} calls, for agents whose file says none "
            "(default NOT_ALLOWED; Finesse shows it in the User's settings)",
        )
    p.add_argument(
        "--wrap-up-time",
        type=int,
        help="Agent Desk Settings: wrap-up seconds, for agents whose file says none (7200)",
    )
    return p


def requested_seed(args: argparse.Namespace) -> SeedData:
    """The data --agents and --seed ask for; each agent with the deployment's desk settings
    (--wrap-up-on-incoming ...) where its own file says none."""
    defaults = {
        "wrap_up_on_incoming": getattr(args, "wrap_up_on_incoming", None),
        "wrap_up_on_outgoing": getattr(args, "wrap_up_on_outgoing", None),
        "wrap_up_time": getattr(args, "wrap_up_time", None),
    }
    agents = resolve(args.agents)
    seed = (
        load_seed_file(args.seed, agents)
        if args.seed
        else SeedData(agents, source=args.agents or f"generated:{len(agents)}")
    )
    seed.agents = with_desk_defaults(seed.agents, defaults)
    return seed


def open_database(args: argparse.Namespace) -> AwdbDatabase:
    """The --db file, holding the data --agents and --seed ask for (see docs/awdb.md, "Reusing a
    --db file"):

    - a new or empty file, or --reseed: seeded;
    - a file seeded from the same agents and seed, or started without --agents or --seed: reused
      as it is, hand edits included;
    - a file seeded from other agents and never edited since: seeded again (its data came from a
      generator or a file, so nothing is lost), with a warning naming both;
    - a file seeded from other agents and edited since (or seeded by an older stub that did not
      record what it wrote): refused with ValueError, saying how to keep it or replace it.
    """
    db = AwdbDatabase(args.db)
    try:
        if db.is_seeded() and not args.reseed:
            info = db.info()
            if not (args.seed or args.agents):
                log.info("awdb_db_reused", db=db.path, agents=db.agent_count(), meta=info)
                return db
            seed = requested_seed(args)
            recorded = db.seeded_from()
            if recorded == seed_digest(seed) or (recorded is None and info.get("source") == seed.source):
                log.info("awdb_db_reused", db=db.path, agents=db.agent_count(), meta=info)
                return db
            had = f"{db.agent_count()} agents from {info.get('source')!r}"
            if db.changed_since_seeded() is not False:
                why = "was changed since it was seeded" if recorded else "was seeded by an older awdb_stub"
                raise ValueError(
                    f"{db.path} holds {had} and {why}, but {seed.source!r} ({len(seed.agents)} agents) "
                    f"was asked for: to keep it, ask for what it was seeded from "
                    f"({info.get('source')!r}); to replace it, move it away or delete it (finesse-emu "
                    f"up then seeds a new one), or start this stub with --reseed"
                )
            log.warning("awdb_db_regenerated", db=db.path, had=had, asked=seed.source)
        else:
            seed = requested_seed(args)
        count = db.seed(seed, replace=True)
        log.info("awdb_db_seeded", db=db.path, agents=count, source=seed.source)
    except BaseException:
        db.close()
        raise
    return db


def query_login(args: argparse.Namespace) -> Login | None:
    """The login the query API requires (None: open, allowed on a loopback address only)."""
    if args.login_password_file:
        return Login(args.login_user, read_password_file(args.login_password_file))
    if not is_loopback(args.host):
        raise ValueError(
            f"refusing to serve the AWDB (agents, teams, password checks) on {args.host or 'every address'}, "
            "which is not a loopback address, without a login: give --login-password-file FILE "
            "(the password the nodes send, as their awdb_password_file), or keep it on loopback "
            "(--host 127.0.0.1)"
        )
    log.warning("awdb_query_api_open", host=args.host, hint="--login-password-file requires a login")
    return None


async def run(args: argparse.Namespace) -> int:
    # The stub has no timers of its own (fault delays are real milliseconds); the factor is still
    # validated so a launcher can pass the same options to every component.
    timers = Timers.build(args.time_scale)
    # No control plane (--admin-port -1): nothing to guard.
    admin_token = None if args.admin_port == -1 else admin_access(args, args.admin_host or args.host)
    login = query_login(args)
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
            login=login,
        ),
        db,
    )
    try:
        return await serve(
            server, ready=lambda: log.info("awdb_ready", name=args.name, time_scale=timers.time_scale)
        )
    finally:
        db.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_component(PROG, args.name, args.log_level, lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
