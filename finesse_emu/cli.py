"""The ``finesse-emu`` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from emu_base import eventloop
from emu_base.logs import configure_logging
from emu_base.timers import Timers


def _agents(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _network(text: str) -> str:
    from finesse_emu.deployment.topology import check_network

    try:
        return check_network(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def cmd_timers(args: argparse.Namespace) -> int:
    rows = Timers.build(args.time_scale).describe()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        unit = "s" if r["seconds"] else ""
        print(
            f"{r['name']:<{width}}  {r['value']:>10g}{unit:1}  (seed {r['seed_value']:g}{unit}: {r['seed']})"
        )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """``make demo``: the whole deployment, a swarm of desktops and phones, the publisher killed."""
    from finesse_emu.runs.scenario.runner import main as run_main

    scenario = Path(args.scenario)
    if not scenario.exists():
        print(f"finesse-emu demo: {scenario} not found (run it from the repository)", file=sys.stderr)
        return 2
    argv = [str(scenario), "--report-dir", args.report_dir, "--network", args.network]
    if args.time_scale is not None:
        argv += ["--time-scale", str(args.time_scale)]
    return run_main(argv)


DEFAULT_RUN_DIR = "run"


def _up_settings(args: argparse.Namespace) -> dict[str, object]:
    """The deployment's settings: --config FILE first, then the flags given on the command line."""
    from finesse_emu.deployment import launcher

    settings: dict[str, object] = {"agents": 50, "time_scale": 1.0, "network": "127.0.10", "run_dir": "run"}
    settings["cti_options"] = []
    settings["node_options"] = {}
    if args.config:
        settings.update(launcher.load_settings(Path(args.config)))
    for key in ("agents", "time_scale", "network", "run_dir"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    settings["admin_token"] = _up_admin_token(args, settings)
    return settings


def _up_admin_token(args: argparse.Namespace, settings: dict[str, object]) -> str | None:
    """The control planes' token (None: open control planes): --no-admin-token, --admin-token,
    --admin-token-file, the config file's admin_token, $FINESSE_EMU_ADMIN_TOKEN, in that order;
    a random token when none of them says anything. ValueError for an unusable token."""
    import os

    from emu_base.admin import TOKEN_ENV, check_token, read_token_file
    from finesse_emu.deployment import launcher

    if args.no_admin_token:
        return None
    if args.admin_token is not None:
        return check_token(args.admin_token, "--admin-token")
    if args.admin_token_file:
        return read_token_file(args.admin_token_file)
    if "admin_token" in settings:
        configured = settings["admin_token"]
        return None if configured is None else str(configured)
    env = os.environ.get(TOKEN_ENV, "").strip()
    return check_token(env, TOKEN_ENV) if env else launcher.new_admin_token()


def cmd_up(args: argparse.Namespace) -> int:
    from emu_base.procs import pid_alive
    from finesse_emu.deployment import launcher

    try:
        settings = _up_settings(args)
    except ValueError as exc:
        print(f"finesse-emu up: {exc}", file=sys.stderr)
        return 2
    run_dir = Path(str(settings["run_dir"]))
    if (run_dir / launcher.STATE_FILE).exists() and pid_alive(
        json.loads((run_dir / launcher.STATE_FILE).read_text()).get("pid")
    ):
        print(f"a deployment is already running from {run_dir} (finesse-emu down stops it)", file=sys.stderr)
        return 1
    token = settings["admin_token"]
    if args.detach:
        return _up_detached(args, run_dir, None if token is None else str(token))
    configure_logging("launcher", "WARNING")
    agents = settings["agents"]
    assert isinstance(agents, int | str)
    try:
        return asyncio.run(
            launcher.up(
                run_dir,
                agents,
                float(str(settings["time_scale"])),
                network=str(settings["network"]),
                cti_options=[str(o) for o in settings["cti_options"]],  # type: ignore[attr-defined]
                node_options=dict(settings["node_options"]),  # type: ignore[call-overload]
                admin_token=None if token is None else str(token),
                no_admin_token=token is None,
            )
        )
    except (OSError, RuntimeError, TimeoutError) as exc:
        # The message itself (a component's last log lines, its reason for exiting), not its repr.
        print(
            f"finesse-emu up failed: {str(exc) or repr(exc)} (component logs in {run_dir})", file=sys.stderr
        )
        return 1


def _up_detached(args: argparse.Namespace, run_dir: Path, token: str | None) -> int:
    import subprocess
    import time

    from finesse_emu.deployment import launcher

    run_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "finesse_emu.cli", "up", "--run-dir", str(run_dir)]
    if args.config:
        argv += ["--config", str(Path(args.config).resolve())]
    for flag, key in (("--agents", "agents"), ("--time-scale", "time_scale"), ("--network", "network")):
        if getattr(args, key) is not None:
            argv += [flag, str(getattr(args, key))]
    # The token decided here goes to the launcher in its 0600 file, not on its command line.
    token_file = run_dir / launcher.TOKEN_FILE
    if token is None:
        argv.append("--no-admin-token")
    else:
        launcher.write_token_file(token_file, token)
        argv += ["--admin-token-file", str(token_file.absolute())]
    with (run_dir / "launcher.log").open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(f"the launcher exited ({proc.returncode}); see {run_dir / 'launcher.log'}", file=sys.stderr)
            if token is not None:
                token_file.unlink(missing_ok=True)
            return 1
        if (run_dir / launcher.STATE_FILE).exists():
            print(launcher.render_table(asyncio.run(launcher.status(run_dir))))
            print(f"\nrunning in the background (launcher pid {proc.pid}); finesse-emu down stops it")
            return 0
        time.sleep(0.2)
    print("the deployment did not become healthy in 120 s", file=sys.stderr)
    return 1


def cmd_status(args: argparse.Namespace) -> int:
    from finesse_emu.deployment import launcher

    run_dir = Path(args.run_dir)
    if not (run_dir / launcher.STATE_FILE).exists():
        print(f"no deployment running from {run_dir}", file=sys.stderr)
        return 1
    report = asyncio.run(launcher.status(run_dir))
    print(json.dumps(report, indent=2) if args.json else launcher.render_table(report))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from finesse_emu.deployment import launcher

    return launcher.down(Path(args.run_dir))


def secrets_hosts(nodes: list[str], hosts: list[str]) -> dict[str, list[str]]:
    """Each node's certificate names: the node's own name, then every --hosts entry that is for it:
    ``HOST`` (every node; ``{node}`` in it becomes the node's name) or ``NODE=HOST`` (that node)."""
    out = {node: [node] for node in nodes}
    for entry in hosts:
        node, sep, host = entry.partition("=")
        if sep and node not in out:
            raise ValueError(f"--hosts {entry}: {node} is none of --nodes {','.join(nodes)}")
        for name in [node] if sep else nodes:
            value = (host if sep else entry).replace("{node}", name)
            if value not in out[name]:
                out[name].append(value)
    return out


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def cmd_secrets(args: argparse.Namespace) -> int:
    """``finesse-emu secrets DIR``: the deployment's secrets for compose and Kubernetes (the files
    ``up`` makes in its run directory), made or kept; prints where they are, never what they hold."""
    import stat

    from finesse_emu.deployment import launcher

    nodes = args.nodes or list(launcher.NODE_NAMES)
    try:
        hosts = secrets_hosts(nodes, [h for group in args.hosts or [] for h in group])
        made = launcher.write_secrets(Path(args.dir), hosts)
    except ValueError as exc:
        print(f"finesse-emu secrets: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"finesse-emu secrets: {exc}", file=sys.stderr)
        return 1
    for path, how in made.listing():
        mode = stat.S_IMODE(path.stat().st_mode)
        print(f"{how:<5} {mode:04o} {path}")
    for node, names in hosts.items():
        print(f"{node}: certificate for {', '.join(names)}")
    from finesse_emu.deployment.topology import FINESSE_HTTPS_PORT

    example = f"https://{nodes[0]}:{FINESSE_HTTPS_PORT}/finesse/api/SystemInfo"
    print(f"clients trust {made.ca_file} (e.g. curl --cacert {made.ca_file} {example})")
    return 0


def _token_arg(text: str) -> str:
    from emu_base.admin import check_token

    try:
        return check_token(text, "--admin-token")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def cmd_chaos(args: argparse.Namespace) -> int:
    from finesse_emu.deployment.chaos import CLIENT_ACTIONS, ChaosError, chaos, chaos_clients

    try:
        if args.action in CLIENT_ACTIONS:
            message = chaos_clients(
                Path(args.run_dir), args.action, args.component, args.count, args.node, args.seconds
            )
            print(asyncio.run(message))
        else:
            print(asyncio.run(chaos(Path(args.run_dir), args.action, args.component, args.ms)))
    except ChaosError as exc:
        print(f"finesse-emu chaos: {exc}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="finesse-emu", description="Emulator of a duplex Cisco Finesse deployment"
    )
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("timers", help="every timer with its seed value and wording")
    t.add_argument("--time-scale", type=float, default=None, help="default $FINESSE_EMU_TIME_SCALE or 1")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_timers)
    d = sub.add_parser("demo", help="bring everything up, kill the publisher under a swarm, write a report")
    d.add_argument("--scenario", default="scenarios/publisher-killed.yaml", help="the scenario to run")
    d.add_argument("--time-scale", type=float, default=None, help="default: the scenario's (0.05)")
    d.add_argument("--report-dir", default="reports", help="where reports go (default ./reports)")
    d.add_argument("--network", type=_network, default="127.0.10", help="loopback /24 (default 127.0.10)")
    d.set_defaults(func=cmd_demo)
    u = sub.add_parser("up", help="start the whole deployment as local processes (Ctrl-C stops it)")
    u.add_argument("--config", help="a YAML file: agents, time_scale, network, run_dir, cti {load, ...}")
    u.add_argument(
        "--agents", type=_agents, default=None, help="generated agents (default 50), or an agent file"
    )
    u.add_argument("--time-scale", type=float, default=None, help="timer factor (default 1)")
    u.add_argument("--run-dir", default=None, help="logs, state and configs (default ./run)")
    u.add_argument("--detach", action="store_true", help="return once healthy, leave it running")
    u.add_argument(
        "--network",
        type=_network,
        default=None,
        help="loopback /24 of the components (default 127.0.10)",
    )
    token = u.add_mutually_exclusive_group()
    token.add_argument(
        "--admin-token",
        type=_token_arg,
        metavar="TOKEN",
        help="the control planes' token (default $FINESSE_EMU_ADMIN_TOKEN, else a random one per "
        "deployment); written to RUN_DIR/admin-token (mode 0600), where chaos, run and swarm find it",
    )
    token.add_argument("--admin-token-file", metavar="FILE", help="the same, with the token read from FILE")
    token.add_argument(
        "--no-admin-token",
        action="store_true",
        help="open control planes: faults and controls need no token (still on loopback only)",
    )
    u.set_defaults(func=cmd_up)
    st = sub.add_parser("status", help="each component's state")
    st.add_argument("--json", action="store_true")
    st.add_argument("--run-dir", default=DEFAULT_RUN_DIR)
    st.set_defaults(func=cmd_status)
    ch = sub.add_parser("chaos", help="kill/stop/start/hang/heal/latency one component of the deployment")
    ch.add_argument(
        "action",
        choices=[
            "kill",
            "stop",
            "start",
            "hang",
            "heal",
            "latency",
            "close",
            "back",
            "crash",
            "refresh",
            "glitch",
        ],
        help="component faults, or browser actions on desktops of a running finesse-emu swarm",
    )
    ch.add_argument(
        "component",
        help="cti-a, cti-b, awdb-a, awdb-b, xmpp-a, xmpp-b, finesse-a, finesse-b; "
        "for browser actions: desktops (with --count, --node) or agent:ID",
    )
    ch.add_argument("--ms", type=float, help="latency in milliseconds")
    ch.add_argument("--count", type=int, default=1, help="browser actions: how many desktops (N of M)")
    ch.add_argument("--node", help="browser actions: only desktops signed in on this node")
    ch.add_argument("--seconds", type=float, default=60.0, help="glitch: seed seconds without network")
    ch.add_argument("--run-dir", default=DEFAULT_RUN_DIR)
    ch.set_defaults(func=cmd_chaos)
    se = sub.add_parser(
        "secrets",
        help="write a deployment's secrets into DIR (compose, Kubernetes): passwords, CA, node certificates",
        description="Writes xmpp-password, awdb-password (0600), ca.crt (0644), ca.key (0600) and, per "
        "node, NODE.crt (0644) and NODE.key (0600) into DIR: the files finesse-emu up makes in its run "
        "directory. Files that exist and still serve are kept (run it again: same CA, same passwords); "
        "a certificate is reissued when its names change or it nears its end. Prints paths, never secrets.",
    )
    se.add_argument("dir", metavar="DIR", help="where the files go (made 0700 when it does not exist)")
    se.add_argument(
        "--nodes",
        type=_csv,
        default=None,
        help="the Finesse nodes, comma separated (default finesse-a,finesse-b); a certificate each",
    )
    se.add_argument(
        "--hosts",
        type=_csv,
        action="append",
        help="more names and IP addresses for the certificates, comma separated (repeatable): HOST for "
        "every node ({node} in it is the node's name, e.g. {node}.ns.svc), NODE=HOST for one node",
    )
    se.set_defaults(func=cmd_secrets)
    dn = sub.add_parser("down", help="stop the deployment started by up")
    dn.add_argument("--run-dir", default=DEFAULT_RUN_DIR)
    dn.set_defaults(func=cmd_down)
    sw = sub.add_parser("swarm", help="N desktops (and IP Phone Agents) running the failover logic")
    sw.add_argument("--agents", type=int, default=50, help="agents of the generated directory (default 50)")
    sw.add_argument("--gadgets", type=int, default=6, help="gadgets per desktop (default 6)")
    sw.add_argument("--gadget-kind", choices=["xml", "jsp"], default="xml")
    sw.add_argument(
        "--bypass-server-cache",
        action="store_true",
        help="desktop URL with bypassServerCache=true&nocache: every reload fetches everything",
    )
    sw.add_argument(
        "--no-preload-secondary",
        action="store_true",
        help="preLoadSecondaryResources off: a failover loads the other node's resources then",
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
        "--publisher-xmpp", help="publisher's Notification Service HOST[:PORT] (default: URL host)"
    )
    sw.add_argument("--subscriber-xmpp", help="subscriber's Notification Service HOST[:PORT]")
    sw.add_argument("--publisher-share", type=float, default=0.5, help="share of agents on the publisher")
    sw.add_argument("--rtt-ms", type=float, default=0.0, help="WAN round trip before every request (ms)")
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
        type=_token_arg,
        metavar="TOKEN",
        help="token required by POST /emu/clients (browser actions) on its control port (default: the "
        "running deployment's, else $FINESSE_EMU_ADMIN_TOKEN, else none); /metrics needs none",
    )
    sw.add_argument("--run-dir", default=DEFAULT_RUN_DIR)
    sw.set_defaults(func=cmd_swarm)
    # "finesse-emu server ..." and "report ..." are dispatched in main(); listed here for --help.
    sub.add_parser("server", help="run one Finesse node (finesse-emu server --help)")
    sub.add_parser("report", help="(re)build a run's summary and HTML report: report RUN_DIR")
    sub.add_parser("run", help="run scenario files and check their expectations: run scenarios/X.yaml")
    sub.add_parser("plan", help="capacity model: predicted failover time and peak bandwidth (plan --help)")
    sub.add_parser("chaos-run", help="random faults (--seed S --duration D), then the invariants checked")
    sub.add_parser("check", help="check a run's history against the seed's invariants: check REPORT_DIR")
    sub.add_parser("history", help="history merge OUT_DIR FILE...: one run from several processes' histories")
    sub.add_parser("bench", help="bench failover --agents N --gadgets G [--rtt-ms R]: failover measured")
    return p


def cmd_swarm(args: argparse.Namespace) -> int:
    from finesse_emu.deployment.launcher import read_admin_token
    from finesse_emu.desktop.client import LoadPlan
    from finesse_emu.desktop.swarm import (
        SwarmConfig,
        directory_agents,
        endpoint_from_url,
        endpoints_from_deployment,
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
        print(f"finesse-emu swarm: {exc}", file=sys.stderr)
        print(
            "(no --publisher URL and no running deployment: start one with finesse-emu up --detach)",
            file=sys.stderr,
        )
        return 2
    time_scale = args.time_scale
    if time_scale is None and not args.publisher:  # follow the running deployment's clock
        time_scale = json.loads((Path(args.run_dir) / "deployment.json").read_text()).get("time_scale", 1.0)
    agents = take_slice(directory_agents(args.agents), index, count)
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
            bypass_cache=args.bypass_server_cache,
            preload_secondary=not args.no_preload_secondary,
        ),
        arrival=args.arrival,
        rate=args.rate,
        seed=args.seed,
        verify_tls=not args.insecure,
        rtt_ms=args.rtt_ms,
    )
    history = Path(args.history) if args.history else None
    run_dir = None if args.publisher else Path(args.run_dir)
    return eventloop.run(
        run_swarm(config, history, args.duration, args.metrics_port, run_dir=run_dir, admin_token=token)
    )


def cmd_report(argv: list[str]) -> int:
    from finesse_emu.runs.report import main as report_main

    return report_main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["server"]:  # everything after "server" belongs to the node's own parser
        from finesse_emu.server.__main__ import main as server_main

        return server_main(argv[1:])
    if argv[:1] == ["report"]:
        return cmd_report(argv[1:])
    if argv[:2] == ["bench", "failover"]:
        from finesse_emu.runs.scenario.failover_bench import main as bench_main

        return bench_main(argv[2:])
    if argv[:1] == ["plan"]:
        from finesse_emu.planner.__main__ import main as plan_main

        return plan_main(argv[1:])
    if argv[:1] == ["chaos-run"]:
        from finesse_emu.runs.scenario.chaos_run import main as chaos_run_main

        return chaos_run_main(argv[1:])
    if argv[:1] == ["check"]:
        from finesse_emu.runs.check import main as check_main

        return check_main(argv[1:])
    if argv[:1] == ["history"]:
        from finesse_emu.runs.history import main as history_main

        return history_main(argv[1:])
    if argv[:1] == ["run"]:
        from finesse_emu.runs.scenario.runner import main as run_main

        return run_main(argv[1:])
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
