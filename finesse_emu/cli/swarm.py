"""``finesse-emu swarm``: desktops and IP Phone Agents against a running deployment or any Finesse."""

from __future__ import annotations

import argparse
from pathlib import Path

from emu_base.directory import spec_count
from finesse_emu.cli import CannotRun, command
from finesse_emu.cli.options import add_run_dir, admin_token


def _arguments(sw: argparse.ArgumentParser) -> None:
    sw.add_argument(
        "--agents",
        type=spec_count,
        default=50,
        help="agents of the generated directory (default 50; the deployment's spec, 50+chat+email, too)",
    )
    sw.add_argument(
        "--gadgets",
        type=int,
        help="gadgets per desktop, of --gadget-kind, instead of the node's desktop layout (default: "
        "the layout each node serves; finesse-emu layout show)",
    )
    sw.add_argument("--gadget-kind", choices=["xml", "jsp"], default="xml", help="with --gadgets")
    sw.add_argument(
        "--bypass-server-cache",
        action="store_true",
        help="desktop URL with bypassServerCache=true (bypass the web proxy cache): no 304, every "
        "reload fetches everything",
    )
    sw.add_argument(
        "--nocache",
        action="store_true",
        help="desktop URL with nocache (bypass the Shindig cache): the node renders every gadget again",
    )
    sw.add_argument(
        "--rcwn",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="Firefox Race Cache With Network on: this fraction of revalidations become full fetches",
    )
    sw.add_argument(
        "--clear-cache-on-launch",
        action="store_true",
        help="the browser's cache is cleared at every launch: a (re)opened desktop fetches everything",
    )
    sw.add_argument(
        "--slow-network",
        action="store_true",
        help="a slow client network: a closed browser's Unavailable presence never reaches Finesse",
    )
    sw.add_argument(
        "--no-preload-secondary",
        action="store_true",
        help="preLoadSecondaryResources off whatever the node's desktop property says: a failover "
        "loads the other node's resources then (default: as the node says)",
    )
    sw.add_argument(
        "--gadget-url",
        action="append",
        help="a path or URL each desktop loads after signing in, instead of the emulator's gadgets "
        "(repeat it; for a real Finesse, e.g. /desktop/... of your layout)",
    )
    sw.add_argument("--ippa", type=int, default=0, help="how many of the agents use an IP Phone Agent")
    sw.add_argument("--publisher", help="publisher URL, e.g. http://finesse-a:8082 (default: running up)")
    sw.add_argument("--subscriber", help="subscriber URL")
    sw.add_argument("--xmpp-port", type=int, default=5222, help="Notification Service port with URLs")
    sw.add_argument("--insecure", action="store_true", help="accept a self-signed HTTPS certificate")
    sw.add_argument(
        "--ids",
        metavar="URL",
        help="single sign-on with URLs: the Identity Service, e.g. https://ids:8553 (default: the running "
        "deployment's, if it has one; with --publisher, none: Basic)",
    )
    sw.add_argument(
        "--ca-file", help="the CA that the Identity Service's certificate comes from (with --ids)"
    )
    sw.add_argument(
        "--publisher-xmpp", help="publisher's Notification Service HOST[:PORT] (default: URL host)"
    )
    sw.add_argument("--subscriber-xmpp", help="subscriber's Notification Service HOST[:PORT]")
    sw.add_argument("--publisher-share", type=float, default=0.5, help="share of agents on the publisher")
    sw.add_argument("--rtt-ms", type=float, default=0.0, help="WAN round trip before every request (ms)")
    sw.add_argument(
        "--chat",
        action="store_true",
        help="desktops with the chat gadget: each signs in to the deployment's Cisco IM&P (imp-a, imp-b)",
    )
    sw.add_argument("--slice", default="0/1", help="i/k: this process runs the i-th of k slices")
    sw.add_argument("--arrival", choices=["all", "poisson"], default="all")
    sw.add_argument("--rate", type=float, default=50.0, help="sign-ins per second with poisson arrival")
    sw.add_argument("--seed", type=int, default=0)
    sw.add_argument("--duration", type=float, help="stop after this many seconds (default: Ctrl-C)")
    sw.add_argument("--metrics-port", type=int, help="serve Prometheus /metrics on 127.0.0.1:PORT")
    sw.add_argument("--history", help="append the clients' history (JSON lines) to this file")
    sw.add_argument("--time-scale", type=float, default=None, help="default: the running deployment's")
    sw.add_argument(
        "--admin-token",
        type=admin_token,
        metavar="TOKEN",
        help="token required by POST /emu/clients (browser actions) on its control port (default: the "
        "running deployment's, else $FINESSE_EMU_ADMIN_TOKEN, else none); /metrics needs none",
    )
    add_run_dir(sw)


@command("swarm", "N desktops (and IP Phone Agents) running the failover logic", _arguments)
def swarm(args: argparse.Namespace) -> int:
    import json

    from emu_base import eventloop
    from emu_base.logs import configure_logging
    from emu_base.timers import Timers
    from finesse_emu.deployment.launcher import read_admin_token
    from finesse_emu.desktop.client import LoadPlan
    from finesse_emu.desktop.swarm import (
        SwarmConfig,
        directory_agents,
        endpoint_from_url,
        endpoints_from_deployment,
        ids_from_deployment,
        imp_from_deployment,
        parse_slice,
        run_swarm,
        take_slice,
    )

    configure_logging("swarm", "WARNING")
    try:
        if args.publisher:
            endpoints = {
                "finesse-a": endpoint_from_url(
                    "finesse-a", args.publisher, args.xmpp_port, args.publisher_xmpp
                )
            }
            if args.subscriber:
                endpoints["finesse-b"] = endpoint_from_url(
                    "finesse-b", args.subscriber, args.xmpp_port, args.subscriber_xmpp
                )
        else:
            endpoints = endpoints_from_deployment(Path(args.run_dir))
        index, count = parse_slice(args.slice)
        # Browser actions need the deployment's token, so that chaos (which finds it the same way)
        # can act on this swarm; with --publisher URLs, $FINESSE_EMU_ADMIN_TOKEN or none.
        token = args.admin_token or read_admin_token(None if args.publisher else Path(args.run_dir))
    except (OSError, ValueError, KeyError) as exc:
        hint = "no --publisher URL and no running deployment: start one with finesse-emu up --detach"
        raise CannotRun(f"{exc}\n({hint})") from exc
    time_scale = args.time_scale
    if time_scale is None and not args.publisher:  # follow the running deployment's clock
        time_scale = json.loads((Path(args.run_dir) / "deployment.json").read_text()).get("time_scale", 1.0)
    agents = take_slice(directory_agents(args.agents), index, count)
    # Single sign-on: the Identity Service given, else the running deployment's, if it has one.
    if args.ids or args.publisher:
        ids_url, ca_file = args.ids, args.ca_file
    else:
        ids_url, ca_file = ids_from_deployment(Path(args.run_dir))
    config = SwarmConfig(
        endpoints=endpoints,
        agents=agents,
        timers=Timers.build(time_scale),
        ippa=min(args.ippa, len(agents)),
        publisher_share=args.publisher_share,
        plan=LoadPlan(
            gadgets=args.gadgets,
            kind=args.gadget_kind,
            urls=tuple(args.gadget_url or ()),
            bypass_server_cache=args.bypass_server_cache,
            nocache=args.nocache,
            preload_secondary=False if args.no_preload_secondary else None,
            rcwn=args.rcwn,
            clear_cache_on_launch=args.clear_cache_on_launch,
        ),
        arrival=args.arrival,
        rate=args.rate,
        seed=args.seed,
        verify_tls=not args.insecure,
        rtt_ms=args.rtt_ms,
        # Desktop chat's IM&P nodes, with --chat: the running deployment's (none with --publisher URLs).
        imp=imp_from_deployment(Path(args.run_dir)) if args.chat and not args.publisher else [],
        slow_network=args.slow_network,
        ids_url=ids_url,
        ca_file=ca_file,
    )
    history = Path(args.history) if args.history else None
    run_dir = None if args.publisher else Path(args.run_dir)
    from finesse_emu.cli.progress import LineProgress

    # The counts in place on a terminal; elsewhere a line only when they change.
    with LineProgress("[swarm] ") as progress:
        return eventloop.run(
            run_swarm(
                config,
                history,
                args.duration,
                args.metrics_port,
                run_dir=run_dir,
                admin_token=token,
                progress=progress,
            )
        )
