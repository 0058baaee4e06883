"""Failover under load, the issue-8 table: ``finesse-emu bench failover`` at time_scale 1 for 1000
and 2000 desktops (half of them failing over), 6 XML gadgets, on the LAN and with a 400 ms RTT.

Each row is one ``finesse-emu bench failover`` run on a fresh deployment (its own report under
``--report-dir``); the table gives the total failover time per desktop (p50/p95/max), the
algorithmic floor, p95 minus the floor (the target: under 5 s) and the desktops lost (the target:
none). ``--quick``: 200 and 400 desktops at time_scale 0.1, a smoke run with no target (the
machine's own overhead counts ten times in emulated seconds there).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bench.cti_bench import print_table
from emu_base.procs import run_cli

TARGET_OVER_FLOOR = 5.0
NETWORK = "127.0.47"  # a loopback /24 no test or default deployment uses


def one(
    agents: int,
    rtt_ms: float,
    time_scale: float,
    report_dir: Path,
    distribution: str = "on",
    network: str = NETWORK,
) -> dict[str, object]:
    args = ["bench", "failover", "--agents", str(agents), "--rtt-ms", f"{rtt_ms:g}"]
    args += ["--time-scale", f"{time_scale:g}", "--report-dir", str(report_dir), "--network", network]
    args += ["--reload-distribution", distribution]
    done = run_cli(*args, timeout=1800)
    reports = sorted(report_dir.glob(f"bench-failover-{agents}-*/bench.json"))
    if not reports:
        raise RuntimeError(f"bench failover --agents {agents} wrote no bench.json:\n{done.stderr[-2000:]}")
    result: dict[str, object] = json.loads(reports[-1].read_text())
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.failover", description=__doc__)
    p.add_argument("--quick", action="store_true", help="200 and 400 desktops at time_scale 0.1")
    p.add_argument("--report-dir", type=Path, help="keep the runs' reports here (default: a temp dir)")
    p.add_argument(
        "--reload-distribution",
        choices=["on", "off", "both"],
        default="on",
        help="the nodes' reload distribution (default on, as every deployment); both: each row twice",
    )
    p.add_argument("--sizes", type=int, nargs="+", help="desktop counts (default 1000 2000; --quick 200 400)")
    p.add_argument("--rtt-ms", type=float, nargs="+", default=[0.0, 400.0], help="RTTs (default 0 400)")
    p.add_argument("--network", default=NETWORK, help=f"loopback /24 of the deployments (default {NETWORK})")
    args = p.parse_args(argv)
    sizes, scale = ((200, 400), 0.1) if args.quick else ((1000, 2000), 1.0)
    sizes = tuple(args.sizes or sizes)
    distributions = ("on", "off") if args.reload_distribution == "both" else (args.reload_distribution,)
    rows: list[tuple[str, str, str]] = []
    code = 0
    with tempfile.TemporaryDirectory() as tmp:
        out = args.report_dir or Path(tmp)
        for rtt in args.rtt_ms:
            for agents in sizes:
                for distribution in distributions:
                    code |= row(
                        rows,
                        one(
                            agents,
                            rtt,
                            scale,
                            out / f"{agents}-{rtt:g}-{distribution}",
                            distribution,
                            args.network,
                        ),
                        agents,
                        rtt,
                        distribution,
                        args.quick,
                    )
    print_table(f"Failover under load (time_scale {scale:g}, 6 XML gadgets)", rows)
    return code


def row(
    rows: list[tuple[str, str, str]],
    r: dict[str, object],
    agents: int,
    rtt: float,
    distribution: str,
    quick: bool,
) -> int:
    """The table rows of one run; 1 when its target is not met."""
    total = r["total"]
    over = r["overhead_seconds"]
    assert isinstance(total, dict) and isinstance(over, dict)
    where = "LAN" if rtt == 0 else f"RTT {rtt:g} ms"
    failing = r["desktops_failed_over"]
    name = f"{agents} desktops ({failing} failing over), {where}, reload distribution {distribution}"
    value = f"{total['p50']:.2f} / {total['p95']:.2f} / {total['max']:.2f} s"
    rows.append((f"{name}: total p50 / p95 / max", value, "-"))
    rows.append((f"{name}: subscriber peak requests/s", f"{r['peak_requests_per_second']}", "-"))
    met = over["p95"] is not None and over["p95"] < TARGET_OVER_FLOOR and not r["desktops_lost"]
    rows.append(
        (
            f"{name}: p95 - floor ({r['floor_seconds']:g} s), lost",
            f"{over['p95']:.2f} s, {r['desktops_lost']}",
            # At time_scale 0.1 the machine's overhead counts ten times in emulated seconds.
            "-" if quick else f"< {TARGET_OVER_FLOOR:g} s, 0: {'met' if met else 'NOT met'}",
        )
    )
    return 0 if met or quick else 1


if __name__ == "__main__":
    raise SystemExit(main())
