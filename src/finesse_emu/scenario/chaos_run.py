"""``finesse-emu chaos-run --seed S --duration D``: random faults on a deployment with a swarm,
then the run's history against the seed's invariants (``finesse-emu check``).

The fault schedule is a scenario generated from the seed alone, so the same seed gives the same
schedule (and ``--print`` shows it as the YAML ``finesse-emu run`` would take). Faults come in
pairs that end healed (kill then start, hang then heal, a glitch that ends), so that after the
last one every desktop must converge within the checker's bound.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from finesse_emu import eventloop
from finesse_emu.check import check_history
from finesse_emu.report import load_history
from finesse_emu.scenario.runner import run_scenario
from finesse_emu.scenario.spec import ScenarioError, parse
from finesse_emu.topology import DEFAULT_NETWORK, check_network

# (weight, fault, the step that heals it): every fault ends healed.
FAULTS: list[tuple[int, dict[str, Any], dict[str, Any] | None]] = [
    (3, {"action": "kill", "target": "publisher"}, {"action": "start", "target": "publisher"}),
    (2, {"action": "kill", "target": "subscriber"}, {"action": "start", "target": "subscriber"}),
    (2, {"action": "kill", "target": "cti-a"}, {"action": "start", "target": "cti-a"}),
    (1, {"action": "kill", "target": "xmpp-a"}, {"action": "start", "target": "xmpp-a"}),
    (1, {"action": "hang", "target": "finesse-a"}, {"action": "heal", "target": "finesse-a"}),
    (1, {"action": "hang", "target": "awdb-a"}, {"action": "heal", "target": "awdb-a"}),
    (1, {"action": "kill", "target": "awdb-b"}, {"action": "start", "target": "awdb-b"}),
]
CLIENT_FAULTS: list[tuple[int, dict[str, Any]]] = [
    (2, {"action": "glitch", "count": 1, "seconds": 60, "optional": True}),
    (1, {"action": "refresh", "count": 2, "optional": True}),
]


def schedule(
    seed: int, duration: float, agents: int, time_scale: float, gap: tuple[float, float] = (20.0, 60.0)
) -> dict[str, Any]:
    """The scenario of one chaos run: a function of its arguments only (``gap``: seed seconds
    between faults, drawn uniformly)."""
    rng = random.Random(seed)
    steps: list[dict[str, Any]] = [
        {"phase": "sign in"},
        {"until": {"all_signed_in": True}, "timeout": 1200},
    ]
    elapsed, n = 0.0, 0
    down: set[str] = set()  # targets currently faulted: a second fault waits for the first's undo
    while elapsed < duration:
        n += 1
        pause = round(rng.uniform(*gap), 1)
        steps.append({"wait": pause})
        elapsed += pause
        if rng.random() < 0.3:
            (fault,) = _pick(rng, CLIENT_FAULTS)
            steps.append({"phase": f"chaos {n}: {fault['action']} desktops"})
            steps.append({"clients": dict(fault)})
            continue
        (fault, undo) = _pick(rng, FAULTS)
        if fault["target"] in down:
            continue
        hold = round(rng.uniform(15, 90), 1)
        steps.append({"phase": f"chaos {n}: {fault['action']} {fault['target']} for {hold:g} s"})
        steps.append({"fault": dict(fault)})
        steps.append({"wait": hold})
        if undo is not None:
            steps.append({"fault": dict(undo)})
        elapsed += hold
    steps += [
        {"phase": "settle"},
        {"until": {"node_status": {"finesse-a": "IN_SERVICE", "finesse-b": "IN_SERVICE"}}, "timeout": 600},
        {"wait": 120},
        {"expect": {"name": "every desktop signed in after the last fault", "signed_in": "all"}},
    ]
    return {
        "name": f"chaos run, seed {seed}, {duration:g} s",
        "description": "random faults, each healed; then the history against the seed's invariants",
        "deployment": {"agents": agents, "time_scale": time_scale},
        "swarm": {"desktops": agents},
        "steps": steps,
    }


def _pick(rng: random.Random, items: list[Any]) -> Any:
    """One item's payload (all but its weight), chosen by weight."""
    r = rng.uniform(0, sum(item[0] for item in items))
    for item in items:
        r -= item[0]
        if r <= 0:
            return item[1:]
    return items[-1][1:]


async def chaos_run(
    seed: int,
    duration: float,
    agents: int,
    time_scale: float,
    report_dir: Path,
    network: str,
    gap: tuple[float, float] = (20.0, 60.0),
    resources: bool = False,
) -> tuple[bool, str]:
    """Run the schedule and check the history: (everything held, the checker's text)."""
    sc = parse(schedule(seed, duration, agents, time_scale, gap))
    expectations_ok = await run_scenario(sc, report_dir, network=network, quiet=True, resources=resources)
    report = check_history(load_history(report_dir / "history.jsonl"))
    lines = [
        f"{o.name}: {'ok' if not o.violations else f'{len(o.violations)} violation(s)'}"
        for o in report.outcomes
    ]
    for v in report.violations:
        lines.append(f"  {v.invariant}: {v.message}")
    return expectations_ok and report.ok, "\n".join(lines)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="finesse-emu chaos-run", description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--duration", type=float, default=600, help="seed seconds of faults (default 600)")
    p.add_argument("--agents", type=int, default=40)
    p.add_argument("--time-scale", type=float, default=0.05)
    p.add_argument("--report-dir", type=Path, default=Path("reports"))
    p.add_argument("--network", default=DEFAULT_NETWORK)
    p.add_argument(
        "--gap",
        type=float,
        nargs=2,
        default=(20.0, 60.0),
        metavar=("MIN", "MAX"),
        help="seed seconds between faults (default 20 60)",
    )
    p.add_argument("--resources", action="store_true", help="sample CPU, RSS and fds of every process")
    p.add_argument("--print", action="store_true", help="print the schedule (scenario YAML) and stop")
    args = p.parse_args(argv)
    spec = schedule(args.seed, args.duration, args.agents, args.time_scale, tuple(args.gap))
    if args.print:
        print(yaml.safe_dump(spec, sort_keys=False))
        return 0
    try:
        check_network(args.network)
        parse(spec)
    except (ValueError, ScenarioError) as exc:
        print(f"finesse-emu chaos-run: {exc}", file=sys.stderr)
        return 2
    report_dir = args.report_dir / f"chaos-{args.seed}-{time.strftime('%Y%m%d-%H%M%S')}"
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
        )
    )
    print(text)
    print(f"{'all invariants held' if ok else 'FAILED'}; report: {report_dir / 'report.html'}")
    return 0 if ok else 1
