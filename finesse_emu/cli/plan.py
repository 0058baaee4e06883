"""``finesse-emu plan`` (also ``python -m finesse_emu.planner``): the capacity model's command line
(finesse_emu/planner, docs/planner.md).

finesse-emu plan --agents 3000 --gadgets 10 --rtt-ms 200 --vcpus 8 [--json]
finesse-emu plan --table        # Cisco's rows next to the model's figures
"""

from __future__ import annotations

import argparse
import json
import math

from finesse_emu.cli import CannotRun, alias, command
from finesse_emu.planner.calibration import CISCO_TABLE
from finesse_emu.planner.inputs import GADGET_KINDS, PG_VERSIONS, SCENARIOS, PlanInputs
from finesse_emu.planner.model import PlanResult, run_plan

BEYOND = "model output beyond Cisco's table"
SCENARIO_TEXT = {
    "publisher": "the publisher's host dies",
    "webapp": "the publisher's web app dies (Notification Service up)",
    "cti": "CTI side A goes silent (both nodes fail over to side B)",
}


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _seconds(text: str, positive: bool = False) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise argparse.ArgumentTypeError("must be a finite number " + ("> 0" if positive else ">= 0"))
    return value


DESCRIPTION = (
    "Predict desktop failover time and peak bandwidth with the capacity model (desktop failover "
    "machines on a virtual clock against a server model calibrated on Cisco's Failover Planning "
    "table; docs/planner.md)."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``finesse-emu plan``."""
    p.add_argument(
        "--agents",
        type=_positive_int,
        default=2000,
        help="affected users: desktops on the failing node (cti: all, split evenly) (default 2000)",
    )
    p.add_argument("--gadgets", type=_count, default=6, help="gadgets per desktop (default 6)")
    p.add_argument("--gadget-kind", choices=GADGET_KINDS, default="xml")
    p.add_argument("--rtt-ms", type=_seconds, default=1.0, help="desktop-server round trip (default 1: LAN)")
    p.add_argument("--vcpus", type=_positive_int, default=4, help="vCPUs per Finesse node (default 4)")
    p.add_argument(
        "--bandwidth-mbps",
        type=lambda t: _seconds(t, positive=True),
        default=1000.0,
        help="each node's egress bandwidth (default 1000)",
    )
    p.add_argument("--scenario", choices=SCENARIOS, default="publisher", help="the fault (default publisher)")
    p.add_argument("--pg", choices=PG_VERSIONS, default="12.5", help="Agent PG (default: 12.5 or later)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the desktops' detection times")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.add_argument("--table", action="store_true", help="Cisco's table rows next to the model's figures")


def _inputs(args: argparse.Namespace) -> PlanInputs:
    return PlanInputs(
        agents=args.agents,
        gadgets=args.gadgets,
        gadget_kind=args.gadget_kind,
        rtt_ms=args.rtt_ms,
        vcpus=args.vcpus,
        bandwidth_mbps=args.bandwidth_mbps,
        scenario=args.scenario,
        pg=args.pg,
        seed=args.seed,
    )


def render(result: PlanResult) -> str:
    i = result.inputs
    f, d = result.failover_seconds, result.detection_seconds
    where = "the subscriber" if i.scenario != "cti" else "the busier node"
    lines = [
        f"{i.agents} agents, {SCENARIO_TEXT[i.scenario]}: {i.gadgets} {i.gadget_kind.upper()} gadgets, "
        f"RTT {i.rtt_ms:g} ms, {i.vcpus} vCPUs, {i.bandwidth_mbps:g} Mbps, Agent PG {i.pg}, seed {i.seed}",
        "failover, fault -> signed in again (s):  "
        f"min {f['min']:.1f}  p50 {f['p50']:.1f}  p95 {f['p95']:.1f}  max {f['max']:.1f}"
        "  (max: the last agent)",
        f"  of which detection (s):               min {d['min']:.1f}  p50 {d['p50']:.1f}  max {d['max']:.1f}",
        f"peak bandwidth at {where}: {result.peak_mbps:.0f} Mbps (1 s bins; at least half of it for "
        f"{result.seconds_above_half_peak} s), peak {result.peak_requests_per_second} requests/s",
    ]
    if result.cti_failover_seconds is not None:
        lines.append(f"CTI failover (fault -> both nodes IN_SERVICE): {result.cti_failover_seconds:.1f} s")
    lines.append(
        f"{result.failed_over} of {result.desktops} desktops signed in again "
        f"({result.moved} moved to the other node, {result.lost} not within the horizon)"
    )
    row = result.cisco_row
    if row is None:
        lines.append(f"{BEYOND} (its rows: 1000 or 2000 agents, 6 XML gadgets, LAN or 400 ms WAN, 4 vCPUs)")
    else:
        low, high = row["cisco_range_seconds"]
        lines.append(
            "model output for a row of Cisco's table "
            f"({row['agents']} agents, {row['gadgets']} XML gadgets, {row['network']}): "
            f"Cisco's chapter says {low:g}-{high:g} s"
        )
    lines.append(f"({result.events} events simulated in {result.wall_seconds:.2f} s)")
    return "\n".join(lines)


def table(seed: int) -> list[dict[str, object]]:
    """The calibration table: every row of Cisco's table with the model's figure (docs/planner.md)."""
    rows: list[dict[str, object]] = []
    for row in CISCO_TABLE:
        r = run_plan(PlanInputs(agents=row.agents, gadgets=row.gadgets, rtt_ms=row.rtt_ms, seed=seed))
        model = {"model_max_seconds": r.failover_seconds["max"], "peak_mbps": round(r.peak_mbps, 1)}
        rows.append({**row.to_json(), **model})
    base = run_plan(PlanInputs(agents=2000, seed=seed)).failover_seconds["max"]
    eight = run_plan(PlanInputs(agents=2000, vcpus=8, seed=seed)).failover_seconds["max"]
    rows.append(
        {
            "agents": 2000,
            "gadgets": 6,
            "gadget_kind": "xml",
            "network": "LAN, 8 vCPUs",
            "cisco_range_seconds": "20% faster than 4 vCPUs",
            "model_max_seconds": eight,
            "improvement": round(1 - eight / base, 3),
        }
    )
    return rows


def run(args: argparse.Namespace) -> int:
    """``finesse-emu plan``."""
    if args.table:
        rows = table(args.seed)
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            for r in rows:
                cisco_says = r["cisco_range_seconds"]
                if isinstance(cisco_says, list):
                    cisco_says = f"{cisco_says[0]:g}-{cisco_says[1]:g} s"
                extra = f" ({r['improvement']:.0%} faster)" if "improvement" in r else ""
                print(
                    f"{r['agents']:>5} agents  {r['gadgets']} XML  {r['network']:<32} "
                    f"Cisco {cisco_says!s:<26} model {r['model_max_seconds']:.1f} s{extra}"
                )
        return 0
    try:
        result = run_plan(_inputs(args))
    except ValueError as exc:
        raise CannotRun(str(exc)) from exc
    if args.json:
        label = BEYOND if result.beyond_cisco_table else "model output"
        print(json.dumps({**result.to_json(), "label": label}))
    else:
        print(render(result))
    return 0


@command(
    "plan",
    "capacity model: predicted failover time and peak bandwidth (plan --help)",
    add_arguments,
    description=DESCRIPTION,
)
def plan(args: argparse.Namespace) -> int:
    return run(args)


# Callers from Python: the same command as ``finesse-emu plan``.
main = alias("plan")
