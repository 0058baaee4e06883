"""``finesse-emu chaos`` (one fault on a running deployment) and ``finesse-emu chaos-run`` (random
faults, then the invariants checked)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from finesse_emu.cli import EXIT_FAILED, EXIT_OK, CannotRun, command, fail
from finesse_emu.cli.options import DEFAULT_NETWORK, add_run_dir, network


def _chaos_arguments(ch: argparse.ArgumentParser) -> None:
    from emu_base.faults import COMPONENT_KINDS, EDGE_DIRECTIONS, EDGE_PORTS, KINDS
    from finesse_emu.deployment.chaos import CLIENT_ACTIONS, actions

    # The fault kinds of each component (emu_base/faults.py): what hang and latency post, and what
    # a scenario's inject step or POST /emu/faults may ask for.
    lines = ["fault kinds of each component's control plane (POST /emu/faults):"]
    for component in COMPONENT_KINDS:
        lines.append(f"  {component}:")
        for kind in KINDS.of(component):
            verb = f" [chaos {kind.chaos}]" if kind.chaos else ""
            lines.append(f"    {kind.usage()}{verb}")
    ch.epilog = "\n".join(lines)
    ch.formatter_class = argparse.RawDescriptionHelpFormatter

    ch.add_argument(
        "action",
        choices=[*actions(), *CLIENT_ACTIONS],
        help="component faults, or browser actions on desktops of a running finesse-emu swarm",
    )
    ch.add_argument(
        "component",
        help="cti-a, cti-b, awdb-a, awdb-b, xmpp-a, xmpp-b, imp-a, imp-b, finesse-a, finesse-b, "
        "edge-a, edge-b (the nodes' client-path proxies; their faults also go by the node's name), "
        "ids (with --sso); for browser actions: desktops (with --count, --node) or agent:ID",
    )
    ch.add_argument("--ms", type=float, help="latency in milliseconds")
    # The client-path faults of a node (its proxy's: emu_base/faults.py, client_*).
    ch.add_argument(
        "--port", choices=EDGE_PORTS, help="client-path faults: the node's port kind (default all)"
    )
    ch.add_argument(
        "--direction",
        choices=EDGE_DIRECTIONS,
        help="client-path faults: upstream, downstream (default), both",
    )
    for flag, what in (
        ("--jitter-ms", "latency: plus or minus milliseconds"),
        ("--rate-kb-s", "bandwidth: kilobytes (1000 bytes) per second"),
        ("--delay-ms", "slicer: milliseconds between pieces"),
        ("--close-after-ms", "timeout: close the connections after milliseconds (default never)"),
        ("--after-ms", "reset: after milliseconds (default at once)"),
    ):
        ch.add_argument(flag, type=float, help=what)
    ch.add_argument("--size-bytes", type=int, help="slicer: bytes per piece")
    ch.add_argument("--count", type=int, default=1, help="browser actions: how many desktops (N of M)")
    ch.add_argument("--node", help="browser actions: only desktops signed in on this node")
    ch.add_argument("--seconds", type=float, default=60.0, help="glitch: emulated seconds without network")
    add_run_dir(ch)


@command("chaos", "kill/stop/start/hang/heal/latency one component of the deployment", _chaos_arguments)
def chaos(args: argparse.Namespace) -> int:
    from finesse_emu.deployment.chaos import CLIENT_ACTIONS, ChaosError, chaos, chaos_clients

    run_dir = Path(args.run_dir)
    try:
        if args.action in CLIENT_ACTIONS:
            message = chaos_clients(run_dir, args.action, args.component, args.count, args.node, args.seconds)
            print(asyncio.run(message))
        else:
            names = ("port", "direction", "jitter_ms", "rate_kb_s", "size_bytes", "delay_ms")
            params = {n: getattr(args, n) for n in (*names, "close_after_ms", "after_ms")}
            print(asyncio.run(chaos(run_dir, args.action, args.component, args.ms, params)))
    except ChaosError as exc:
        raise CannotRun(str(exc)) from exc
    return EXIT_OK


def _chaos_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, required=True, help="the schedule is a function of the seed alone")
    p.add_argument("--duration", type=float, default=600, help="emulated seconds of faults (default 600)")
    p.add_argument("--agents", type=int, default=40, help="agents of the deployment (default 40)")
    p.add_argument(
        "--ippa",
        type=int,
        help="IP Phone Agents among the agents (default a tenth, at least 2: one per node)",
    )
    p.add_argument("--time-scale", type=float, default=0.05, help="timer factor (default 0.05)")
    p.add_argument(
        "--report-dir", type=Path, default=Path("reports"), help="reports go to DIR/chaos-DEFAULTS-TIME/"
    )
    p.add_argument("--network", type=network, default=DEFAULT_NETWORK, help="loopback /24 (default 127.0.10)")
    p.add_argument(
        "--gap",
        type=float,
        nargs=2,
        default=(20.0, 60.0),
        metavar=("MIN", "MAX"),
        help="emulated seconds between faults (default 20 60)",
    )
    p.add_argument("--resources", action="store_true", help="sample CPU, RSS and fds of every process")
    p.add_argument("--print", action="store_true", help="print the schedule (scenario YAML) and stop")


@command(
    "chaos-run",
    "random faults (--seed S --duration D), then the invariants checked",
    _chaos_run_arguments,
    description="Random faults on a deployment with a swarm, then the run's history against Cisco's "
    "invariants (finesse-emu check --strict). The same seed gives the same schedule; faults come in "
    "pairs that end healed. Exit status 1 when an invariant was violated, skipped or not exercised.",
)
def chaos_run(args: argparse.Namespace) -> int:
    import time

    import yaml

    from emu_base import eventloop
    from finesse_emu.runs.scenario.chaos_run import chaos_run, schedule
    from finesse_emu.runs.scenario.spec import ScenarioError, parse

    if args.ippa is not None and not 2 <= args.ippa <= args.agents:
        return fail("chaos-run", "--ippa needs at least 2 phones (one per node), at most --agents")
    spec = schedule(args.seed, args.duration, args.agents, args.time_scale, tuple(args.gap), args.ippa)
    if args.print:
        print(yaml.safe_dump(spec, sort_keys=False))
        return EXIT_OK
    try:
        parse(spec)
    except ScenarioError as exc:
        return fail("chaos-run", str(exc))
    from finesse_emu.cli.progress import RunProgress

    report_dir = args.report_dir / f"chaos-{args.seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    with RunProgress() as progress:  # on stderr: a live line on a terminal, a line per step otherwise
        ok, text = eventloop.run(
            chaos_run(
                args.seed,
                args.duration,
                args.agents,
                args.time_scale,
                report_dir,
                args.network,
                tuple(args.gap),
                args.resources,
                args.ippa,
                progress,
            )
        )
    print(text, end="")
    state = "every invariant held and was exercised" if ok else "FAILED"
    print(f"{state}; report: {report_dir / 'report.html'}")
    print(f"(the verdict of: finesse-emu check --strict {report_dir})")
    return EXIT_OK if ok else EXIT_FAILED
