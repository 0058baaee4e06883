"""``python -m finesse_emu.edge --name edge-a --route rest=PUBLIC:8082,INTERNAL:8082 ...``: the
client-path proxy of one node (finesse_emu/edge/server.py)."""

from __future__ import annotations

import argparse
import sys

from emu_base.admin import admin_access
from emu_base.entry import cannot_run, component_parser, run_component, serve
from finesse_emu.edge.server import EdgeProxy, Route

PROG = "python -m finesse_emu.edge"


def build_parser() -> argparse.ArgumentParser:
    p = component_parser(PROG, "The client-path proxy of one Finesse node (Toxiproxy-style faults).")
    p.add_argument("--name", default="edge-a", help="component name in health and logs (default edge-a)")
    p.add_argument(
        "--route",
        action="append",
        type=Route.parse,
        required=True,
        metavar="KIND=HOST:PORT,UPSTREAM_HOST:PORT",
        help="a public port and where its bytes go; KIND: rest, rest_https, xmpp, xmpp_tls, bosh, "
        "bosh_https (repeat for each port)",
    )
    p.add_argument("--admin-host", default="127.0.0.1", help="control plane address (default 127.0.0.1)")
    p.add_argument("--admin-port", type=int, default=0, help="control plane port (default 0: any)")
    p.add_argument("--seed", type=int, default=0, help="the jitter's random seed (default 0)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        token = admin_access(args, args.admin_host)
    except ValueError as exc:
        return cannot_run(PROG, exc)
    proxy = EdgeProxy(args.name, args.route, args.admin_host, args.admin_port, token, args.seed)
    return run_component(PROG, args.name, args.log_level, lambda: serve(proxy))


if __name__ == "__main__":
    sys.exit(main())
