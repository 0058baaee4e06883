#!/usr/bin/env python3
"""``emu-prosody``: the container command of xmpp-a / xmpp-b (one node's Notification Service) and of
imp-a / imp-b (Cisco IM&P's nodes, the desktop chat's server: no ``--service-password-file``).

It does what the embedded launcher does through ``finesse_emu.xmpp.prosody.ProsodyProcess``:
``prepare_run_dir()`` writes the run directory (``prosody.cfg.lua`` rendered by ``render_config()``,
``mod_finesse_roster``, the data and certificate directories), then this process is *replaced* by
``prosody -F --config <run-dir>/prosody.cfg.lua`` (the launcher's command line for Prosody), so that
Prosody is the container's main process and ``docker compose kill xmpp-a`` kills Prosody itself.

One difference, and why: ``ProsodyConfig`` accepts only a loopback listen address (the embedded
deployment never listens beyond this machine), but in a container the node and the desktops reach
Prosody over the compose network. So the configuration is rendered for 127.0.0.1 and the three
listener lines clients need, ``interfaces`` (c2s, direct-TLS c2s), ``c2s_interfaces``,
``http_interfaces`` and ``https_interfaces``, and nothing else, are then rewritten to ``--bind``
(default 0.0.0.0, every address of the container; the host publishes the ports on 127.0.0.1 only).
``local_interfaces`` (local-only services) and the unused ``s2s_interfaces`` stay on 127.0.0.1.
Any other line that names the loopback address makes this fail rather than guess.

Passwords are checked, as by the launcher's Prosody: ``--agents`` (a count or an agent file, the
same value the AWDB and CTI stubs are given) makes an account per agent with its Finesse password,
and ``--service-password-file`` (``/secrets/xmpp-password``, the file the finesse nodes read as
``xmpp_password_file``) holds the password of ``finesse``, the account the nodes publish with. So the
accounts need no volume shared with the nodes.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import sys
from pathlib import Path

import yaml

from finesse_emu.deployment.topology import (
    XMPP_C2S_PORT,
    XMPP_C2S_TLS_PORT,
    XMPP_HTTP_PORT,
    XMPP_HTTPS_PORT,
)
from finesse_emu.xmpp.prosody import (
    ProsodyConfig,
    ProsodyError,
    agent_accounts,
    prepare_run_dir,
    prosody_binary,
)

RENDER_HOST = "127.0.0.1"
_INTERFACES_LINE = re.compile(r'^(?P<key>[a-z0-9_]*interfaces) = \{ "127\.0\.0\.1" \}$')
# What clients connect to (``interfaces`` carries the direct-TLS c2s port too).
REBOUND = frozenset({"interfaces", "c2s_interfaces", "http_interfaces", "https_interfaces"})
KEPT = frozenset({"local_interfaces", "s2s_interfaces"})  # local-only or unused


def bind_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected an IP address, got {value!r}") from exc
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="emu-prosody", description=__doc__.split("\n\n")[0])
    p.add_argument("--domain", required=True, help="the node's xmppDomain (its host name in SystemInfo)")
    p.add_argument("--c2s-port", type=int, default=XMPP_C2S_PORT, help=f"default {XMPP_C2S_PORT}")
    p.add_argument(
        "--http-port", type=int, default=XMPP_HTTP_PORT, help=f"BOSH and WebSocket, default {XMPP_HTTP_PORT}"
    )
    p.add_argument("--run-dir", required=True, help="config, plugin, data and log directory")
    # The secure notification ports of the node's release (finesse_emu/server/versions.py): XMPP
    # over direct TLS (5223) and, for 12.5, https BOSH / wss (7443). Off unless given.
    p.add_argument("--c2s-tls-port", type=int, help=f"XMPP over direct TLS (a node's: {XMPP_C2S_TLS_PORT})")
    p.add_argument("--https-port", type=int, help=f"https BOSH and wss (12.5's {XMPP_HTTPS_PORT})")
    p.add_argument("--tls-cert", help="PEM certificate of the secure ports (the node's, from the secrets)")
    p.add_argument("--tls-key", help="its PEM private key")
    p.add_argument(
        "--agents",
        required=True,
        help="agents to generate, or an agent file (YAML, JSON or CSV): each gets an XMPP account with "
        "its Finesse password (give the AWDB and CTI stubs' --agents)",
    )
    p.add_argument(
        "--service-password-file",
        help="the file holding the password of the finesse account the nodes publish with (none, as "
        "for Cisco IM&P's nodes, where no node logs in: a random one of its own in the run directory)",
    )
    p.add_argument(
        "--no-event-tunnel",
        dest="event_tunnel",
        action="store_false",
        help="serve no EventTunnel page at /tunnel/ (Cisco IM&P's nodes; a Notification Service serves it)",
    )
    p.add_argument("--bind", type=bind_address, default="0.0.0.0", help="listen address (default 0.0.0.0)")
    p.add_argument("--log-level", default="warn", choices=["debug", "info", "warn", "error"])
    p.add_argument("--print-config", action="store_true", help="write the run directory, print, do not exec")
    return p


def config_for(args: argparse.Namespace) -> ProsodyConfig:
    """The same ProsodyConfig the launcher's ProsodyProcess builds, rendered for the loopback address."""
    return ProsodyConfig(
        domain=args.domain,
        run_dir=Path(args.run_dir).resolve(),
        host=RENDER_HOST,
        c2s_port=args.c2s_port,
        http_port=args.http_port,
        accounts=agent_accounts(args.agents),
        service_password_file=None
        if args.service_password_file is None
        else Path(args.service_password_file),
        log_level=args.log_level,
        event_tunnel=args.event_tunnel,
        c2s_tls_port=args.c2s_tls_port,
        https_port=args.https_port,
        tls_cert=None if args.tls_cert is None else Path(args.tls_cert),
        tls_key=None if args.tls_key is None else Path(args.tls_key),
    )


def rebind(config_text: str, bind: str) -> str:
    """The rendered config with the client-facing listener lines (REBOUND) on ``bind``."""
    out = []
    seen = set()
    for line in config_text.splitlines():
        if f'"{RENDER_HOST}"' in line:
            m = _INTERFACES_LINE.match(line)
            if m is None or m["key"] not in REBOUND | KEPT:
                raise ProsodyError(f"unexpected use of {RENDER_HOST} in the rendered config: {line!r}")
            seen.add(m["key"])
            if m["key"] in REBOUND:
                out.append(f'{m["key"]} = {{ "{bind}" }}')
                continue
        out.append(line)
    if REBOUND - seen:
        raise ProsodyError(f"the rendered config has no {sorted(REBOUND - seen)} line")
    return "\n".join(out) + ("\n" if config_text.endswith("\n") else "")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = config_for(args)
        binary = None if args.print_config else prosody_binary()
        prepare_run_dir(cfg)
        text = rebind(cfg.config_path.read_text(), args.bind)
        cfg.config_path.write_text(text)
    except (OSError, ValueError, ProsodyError, yaml.YAMLError) as exc:
        print(f"emu-prosody: {exc}", file=sys.stderr)
        return 2
    if binary is None:
        print(text, end="")
        return 0
    cfg.log_path.unlink(missing_ok=True)
    os.chdir(cfg.run_dir)
    print(f"emu-prosody: exec prosody -F --config {cfg.config_path} (log {cfg.log_path})", flush=True)
    os.execv(binary, [binary, "-F", "--config", str(cfg.config_path)])
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
