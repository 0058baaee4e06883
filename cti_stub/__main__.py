"""``python -m cti_stub --side A|B ...``: one side of a duplex UCCE CTI Server (GED-188)."""

from __future__ import annotations

import argparse
import re
import sys

from cti_stub.core import IdleMode
from cti_stub.model import OUTSIDE_NUMBERS, WRAP_UP_MODES
from cti_stub.server import DEFAULT_PORTS, CtiServer, ServerConfig
from emu_base.admin import admin_access
from emu_base.directory import resolve
from emu_base.entry import component_parser, run_component, serve
from emu_base.timers import Timers

PROG = "python -m cti_stub"


def host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host or "127.0.0.1", int(port)


def build_parser() -> argparse.ArgumentParser:
    p = component_parser(PROG, "One side of a duplex UCCE CTI Server (GED-188).")
    p.add_argument("--side", choices=["A", "B", "a", "b"], default="A", help="PG side (default A)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="GED-188 port (default 42027 for A, 43027 for B; 0 = any)")
    p.add_argument("--peer", type=host_port, help="the other side's private link address HOST:PORT")
    p.add_argument("--link-port", type=int, help="this side's private link port (default port+1)")
    p.add_argument("--admin-port", type=int, help="control plane HTTP port (default port+2; -1 = none)")
    p.add_argument("--admin-host", help="control plane address (default --host)")
    p.add_argument(
        "--agents",
        help="agent file (YAML, JSON or CSV) or a number of agents to generate (default 50, voice-only; "
        "50+chat+email: also in those MRDs)",
    )
    p.add_argument(
        "--load", type=int, choices=[0, 1], default=0, help="Logout On Agent Disconnect (default 0)"
    )
    p.add_argument(
        "--idle-mode",
        choices=[m.value for m in IdleMode],
        default=IdleMode.NOT_LISTENING.value,
        help="how the idle side answers clients (default not-listening)",
    )
    p.add_argument(
        "--mrd-auto-restore",
        action="store_true",
        help="pre-12.5 UCCE: put non-voice MRDs back to their state when the CTI client reconnects",
    )
    p.add_argument("--peripheral-id", type=int, default=5000)
    for kind in ("incoming", "outgoing"):
        p.add_argument(
            f"--wrap-up-on-{kind}",
            choices=WRAP_UP_MODES,
            default="NOT_ALLOWED",
            help=f"Agent Desk Settings: work mode on {kind} calls, for agents whose file says none "
            "(default NOT_ALLOWED)",
        )
    p.add_argument(
        "--wrap-up-time",
        type=float,
        help="emulated seconds before the wrap-up timer ends a wrap-up, for agents whose file says none "
        "(7200)",
    )
    p.add_argument(
        "--outside-numbers",
        type=_pattern,
        default=OUTSIDE_NUMBERS,
        help="dial plan: a regular expression the outside numbers agents dial match whole; a number "
        "that is neither an agent's extension nor outside fails (CALL_FAILED_EVENT) "
        f"(default {OUTSIDE_NUMBERS.replace('%', '%%')})",
    )
    p.add_argument(
        "--takeover-delay", type=float, help="emulated seconds before the idle side takes over (default 5)"
    )
    p.add_argument(
        "--preferred", action="store_true", default=None, help="this side wins when both could be active"
    )
    return p


async def run(args: argparse.Namespace) -> int:
    overrides = {} if args.takeover_delay is None else {"cti_takeover_delay": args.takeover_delay}
    if args.wrap_up_time is not None:
        overrides["wrap_up_time"] = args.wrap_up_time
    timers = Timers.build(args.time_scale, **overrides)
    side = args.side.upper()
    # No control plane (--admin-port -1): nothing to guard.
    admin_token = None if args.admin_port == -1 else admin_access(args, args.admin_host or args.host)
    server = CtiServer(
        ServerConfig(
            side=side,
            host=args.host,
            port=args.port if args.port is not None else DEFAULT_PORTS[side],
            peer=args.peer,
            link_port=args.link_port,
            admin_host=args.admin_host,
            admin_port=args.admin_port,
            admin_token=admin_token,
            preferred=args.preferred,
            load=args.load,
            peripheral_id=args.peripheral_id,
            idle_mode=IdleMode(args.idle_mode),
            mrd_auto_restore=args.mrd_auto_restore,
            agents=resolve(args.agents),
            wrap_up_on_incoming=args.wrap_up_on_incoming,
            wrap_up_on_outgoing=args.wrap_up_on_outgoing,
            outside_numbers=args.outside_numbers,
        ),
        timers,
    )
    return await serve(server)


def _pattern(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"not a regular expression: {exc}") from exc
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_component(PROG, f"cti-{args.side.lower()}", args.log_level, lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
