"""Failover under load, the issue-8 table: ``finesse-emu bench failover`` at time_scale 1 for 1000
and 2000 desktops (half of them failing over), 6 XML gadgets, on the LAN and with a 400 ms RTT.

Each row is one ``finesse-emu bench failover`` run on a fresh deployment (its own report under
``--report-dir``); the table gives the total failover time per desktop (p50/p95/max), the
algorithmic floor, p95 minus the floor (the target: under 5 s) and the desktops lost (the target:
none). ``--quick``: 200 and 400 desktops at time_scale 0.1, a smoke run with no target (the
machine's own overhead counts ten times in seed seconds there).
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


def one(agents: int, rtt_ms: float, time_scale: float, report_dir: Path) -> dict[str, object]:
    args = ["bench", "failover", "--agents", str(agents), "--rtt-ms", f"{rtt_ms:g}"]
    args += ["--time-scale", f"{time_scale:g}", "--report-dir", str(report_dir), "--network", NETWORK]
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
    args = p.parse_args(argv)
    sizes, scale = ((200, 400), 0.1) if args.quick else ((1000, 2000), 1.0)
    rows: list[tuple[str, str, str]] = []
    code = 0
    with tempfile.TemporaryDirectory() as tmp:
        out = args.report_dir or Path(tmp)
        for rtt in (0.0, 400.0):
            for agents in sizes:
                r = one(agents, rtt, scale, out / f"{agents}-{rtt:g}")
                total = r["total"]
                over = r["overhead_seconds"]
                assert isinstance(total, dict) and isinstance(over, dict)
                where = "LAN" if rtt == 0 else f"RTT {rtt:g} ms"
                name = f"{agents} desktops ({r['desktops_failed_over']} failing over), {where}"
                value = f"{total['p50']:.2f} / {total['p95']:.2f} / {total['max']:.2f} s"
                rows.append((f"{name}: total p50 / p95 / max", value, "-"))
                met = over["p95"] is not None and over["p95"] < TARGET_OVER_FLOOR and not r["desktops_lost"]
                code |= 0 if met or args.quick else 1
                rows.append(
                    (
                        f"{name}: p95 - floor ({r['floor_seconds']:g} s), lost",
                        f"{over['p95']:.2f} s, {r['desktops_lost']}",
                        # At time_scale 0.1 the machine's overhead counts ten times in seed seconds.
                        "-" if args.quick else f"< {TARGET_OVER_FLOOR:g} s, 0: {'met' if met else 'NOT met'}",
                    )
                )
    print_table(f"Failover under load (time_scale {scale:g}, 6 XML gadgets)", rows)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
