"""``python -m finesse_emu.ids``: the emulated Cisco Identity Service of a deployment (single sign-on).

It signs tokens with the deployment's signing key (``--signing-key-file``, the file the launcher
writes beside the other secrets and gives the Finesse nodes too), signs in the users of the
deployment's directory (``--agents``: a number or an agent file, as every component takes) and
serves HTTPS with the deployment CA's certificate (``--cert-file``/``--key-file``; plain HTTP
without them). Token lifetimes are IdS's defaults unless given, in emulated seconds, scaled by
``--time-scale`` like every timer.
"""

from __future__ import annotations

import argparse
import ssl
import sys

from emu_base.admin import admin_access
from emu_base.directory import resolve
from emu_base.entry import component_parser, run_component, serve
from emu_base.logs import get_logger
from emu_base.secret_files import read_secret_file
from emu_base.timers import Timers
from finesse_emu.ids.core import IdpUser, IdsCore
from finesse_emu.ids.server import DEFAULT_PORT, IdsConfig, IdsServer

log = get_logger()
PROG = "python -m finesse_emu.ids"


def build_parser() -> argparse.ArgumentParser:
    p = component_parser(PROG, "The emulated Cisco Identity Service (IdS) of a deployment.")
    p.add_argument("--name", default="ids", help="component name in health and logs (default ids)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any)")
    p.add_argument("--admin-port", type=int, default=-1, help="control plane port (default -1: none)")
    p.add_argument("--agents", help="the directory: agents to generate (default 50) or an agent file")
    p.add_argument("--signing-key-file", required=True, help="the deployment's token signing key")
    p.add_argument("--cert-file", help="HTTPS certificate (with --key-file; default: plain HTTP)")
    p.add_argument("--key-file", help="HTTPS private key")
    p.add_argument("--access-token-lifetime", type=float, help="emulated seconds (IdS default 3600)")
    p.add_argument("--refresh-token-lifetime", type=float, help="emulated seconds (IdS default 36000)")
    return p


def timers_of(args: argparse.Namespace) -> Timers:
    overrides = {}
    if args.access_token_lifetime is not None:
        overrides["sso_access_token_lifetime"] = args.access_token_lifetime
    if args.refresh_token_lifetime is not None:
        overrides["sso_refresh_token_lifetime"] = args.refresh_token_lifetime
    if any(v <= 0 for v in overrides.values()):
        raise ValueError("token lifetimes are > 0 seconds")
    return Timers.build(args.time_scale, **overrides)


async def run(args: argparse.Namespace) -> int:
    timers = timers_of(args)
    key = read_secret_file(args.signing_key_file, "signing key file").encode()
    users = [IdpUser(a.id, a.login, a.password) for a in resolve(args.agents)]
    context = None
    if args.cert_file or args.key_file:
        if not (args.cert_file and args.key_file):
            raise ValueError("--cert-file and --key-file go together")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(args.cert_file, args.key_file)
        except ssl.SSLError as exc:
            raise ValueError(f"HTTPS certificate {args.cert_file}: {exc}") from exc
    admin_token = None if args.admin_port == -1 else admin_access(args, args.host)
    config = IdsConfig(args.name, args.host, args.port, args.admin_port, admin_token, context)
    server = IdsServer(config, IdsCore(key, timers, users))
    return await serve(
        server,
        ready=lambda: log.info(
            "ids_ready",
            name=args.name,
            access_token_lifetime=timers.sso_access_token_lifetime,
            refresh_token_lifetime=timers.sso_refresh_token_lifetime,
        ),
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_component(PROG, args.name, args.log_level, lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
