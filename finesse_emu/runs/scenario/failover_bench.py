"""``finesse-emu bench failover``: Cisco's failover-planning measurement on this machine.

Brings up the deployment, signs N desktops in (split between the nodes), kills the publisher's
server (web app and Notification Service) and measures, per desktop that was on it: detection
(the fault to the desktop's failover_detected), sign-in on the subscriber (failover_detected to
failover_done) and the total; with p50/p95/max, the subscriber's peak request rate and bandwidth,
and the CPU and memory of every process. Times are emulated seconds (the run's time_scale undone).

The algorithmic floor is what the documented timers alone allow: the Notification Service fails
on the first of three reconnect attempts 5 s apart, so detection cannot come before 10 s; the
SystemInfo checks then find the subscriber at once; a WAN adds its round trips. Measured minus
floor is the emulator's own overhead (and the machine's).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from emu_base import eventloop
from emu_base.history_events import FailoverDetected, FailoverDone, Fault, Resources
from emu_base.timers import Timers
from finesse_emu.desktop.swarm import publisher_count, slice_sizes
from finesse_emu.runs.report import load_history, run_time_scale, to_emulated_seconds
from finesse_emu.runs.report.summary import failover_stats
from finesse_emu.runs.scenario.runner import Reporter, run_scenario
from finesse_emu.runs.scenario.spec import ScenarioError, parse

# Round trips of one desktop's failover on a WAN: SystemInfo x3 (publisher, subscriber, publisher
# again), the Notification Service connect (4), the sign-in, then the reload (one round of parallel
# requests).
FAILOVER_ROUND_TRIPS = 3 + 4 + 1 + 1


def failing(agents: int, processes: int) -> tuple[int, int]:
    """Desktops on the publisher: (in the runner's own slice, in all slices). Each slice puts half
    of its agents on the publisher (swarm.py)."""
    per_slice = [publisher_count(n, 0.5) for n in slice_sizes(agents, processes)]
    return per_slice[0], sum(per_slice)


def scenario(
    agents: int,
    gadgets: int,
    kind: str,
    rtt_ms: float,
    time_scale: float,
    processes: int = 1,
    reload_distribution: bool = True,
) -> dict[str, Any]:
    own, _all = failing(agents, processes)
    swarm = {"desktops": agents, "gadgets": gadgets, "gadget_kind": kind, "rtt_ms": rtt_ms}
    # No per-request logging: it would be part of what is measured.
    finesse = {"event_log": False, "reload_distribution": reload_distribution}
    off = "" if reload_distribution else ", reload distribution off"
    return {
        "name": f"bench failover: {agents} desktops, {gadgets} {kind} gadgets, RTT {rtt_ms:g} ms{off}",
        "deployment": {"agents": agents, "time_scale": time_scale, "finesse": finesse},
        "swarm": {**swarm, "processes": processes},
        "steps": [
            {"phase": "sign in"},
            {"until": {"all_signed_in": True}, "timeout": 3600},
            {"wait": 10},
            {"phase": "publisher killed"},
            {"fault": {"action": "kill", "target": "publisher"}},
            {"until": {"desktops_on": {"finesse-b": "all"}}, "timeout": 3600},
            {"wait": 5},
            {"expect": {"name": "every desktop on the subscriber", "desktops_on": {"finesse-b": "all"}}},
            # The runner's own slice; measure() counts every slice's.
            {"expect": {"name": "failovers measured", "failover_seconds": {"count": own}}},
        ],
    }


def floor_seconds(rtt_ms: float) -> float:
    timers = Timers.build(1.0)
    detection = (timers.notification_reconnect_attempts - 1) * timers.notification_reconnect_pause
    return detection + FAILOVER_ROUND_TRIPS * rtt_ms / 1000


def measure(report_dir: Path) -> dict[str, Any]:
    """Per-desktop figures and per-process resources of a finished run, in emulated seconds."""
    raw = load_history(report_dir / "history.jsonl")
    scale = run_time_scale(raw)
    events = to_emulated_seconds(raw, scale)
    fault = next(e.t for e in events if e.source == "scenario" and e.of(Fault) is not None)
    detected = {
        d.event.agent: d.t
        for x in events
        if x.source == "desktop" and (d := x.of(FailoverDetected)) is not None
    }
    done = {
        f.event.agent: f.event.seconds or 0.0
        for x in events
        if x.source == "desktop" and (f := x.of(FailoverDone)) is not None
    }
    detection = [detected[a] - fault for a in done if a in detected]
    signin = list(done.values())
    total = [detected[a] - fault + seconds for a, seconds in done.items() if a in detected]
    resources: dict[str, dict[str, float]] = {}
    for x in events:
        if (res := x.of(Resources)) is None or res.t < fault:
            continue
        r = resources.setdefault(res.source, {"cpu_sum": 0.0, "n": 0.0, "cpu_max": 0.0, "rss_max": 0.0})
        r["cpu_sum"] += res.event.cpu_percent
        r["n"] += 1
        r["cpu_max"] = max(r["cpu_max"], res.event.cpu_percent)
        r["rss_max"] = max(r["rss_max"], res.event.rss_mb)
    summary = json.loads((report_dir / "summary.json").read_text())
    phase = next(p for p in summary["phases"] if p["name"] == "publisher killed")

    return {
        "time_scale": scale,
        "desktops_failed_over": len(done),
        "detection": failover_stats(detection),
        "sign_in": failover_stats(signin),
        "total": failover_stats(total),
        "peak_requests_per_second": phase.get("peak_request_rate", {}).get("finesse-b"),
        "peak_mbps": phase.get("peak_mbps", {}).get("finesse-b"),
        "processes": {
            name: {
                "cpu_mean": round(r["cpu_sum"] / r["n"], 1) if r["n"] else 0.0,
                "cpu_max": r["cpu_max"],
                "rss_max_mb": r["rss_max"],
            }
            for name, r in sorted(resources.items())
        },
    }


def render(result: dict[str, Any], floor: float) -> str:
    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    head = f"{result['desktops_failed_over']} desktops failed over"
    if not result.get("reload_distribution", True):
        head += ", reload distribution off"
    lines = [f"{head} (time_scale {result['time_scale']:g}; emulated seconds)"]
    lines.append(f"{'':12} {'p50':>8} {'p95':>8} {'max':>8}")
    for key in ("detection", "sign_in", "total"):
        s = result[key]
        lines.append(f"{key:12} {f(s['p50']):>8} {f(s['p95']):>8} {f(s['max']):>8}")
    over = {k: None if result["total"][k] is None else result["total"][k] - floor for k in ("p95", "max")}
    lines.append(
        f"algorithmic floor {floor:.2f} s; measured - floor: p95 {f(over['p95'])} s, max {f(over['max'])} s"
        " (emulator and machine)"
    )
    lines.append(
        f"subscriber peak: {f(result['peak_requests_per_second'])} requests/s, {f(result['peak_mbps'])} Mb/s"
    )
    lines.append(f"{'process':12} {'cpu mean %':>10} {'cpu max %':>10} {'rss max MB':>11}")
    for name, r in result["processes"].items():
        lines.append(f"{name:12} {r['cpu_mean']:>10.1f} {r['cpu_max']:>10.1f} {r['rss_max_mb']:>11.1f}")
    return "\n".join(lines)


def bench_failover(args: argparse.Namespace, progress: Reporter | None = None) -> bool:
    """``finesse-emu bench failover`` (its options in ``args``): True when every desktop failed
    over; ScenarioError when the bench cannot run. ``progress``: as for :func:`run_scenario`."""
    if args.processes < 1:
        raise ScenarioError("--processes must be at least 1")
    distribution = args.reload_distribution == "on"
    sc = parse(
        scenario(
            args.agents,
            args.gadgets,
            args.gadget_kind,
            args.rtt_ms,
            args.time_scale,
            args.processes,
            distribution,
        )
    )
    report_dir = args.report_dir / f"bench-failover-{args.agents}-{time.strftime('%Y%m%d-%H%M%S')}"
    ok = eventloop.run(
        run_scenario(sc, report_dir, network=args.network, quiet=True, resources=True, progress=progress)
    )
    result = measure(report_dir)
    result["swarm_processes"] = args.processes
    result["reload_distribution"] = distribution
    expected = failing(args.agents, args.processes)[1]
    result["desktops_lost"] = expected - result["desktops_failed_over"]
    floor = floor_seconds(args.rtt_ms)
    result["floor_seconds"] = floor
    result["overhead_seconds"] = {
        k: None if result["total"][k] is None else round(result["total"][k] - floor, 3)
        for k in ("p50", "p95", "max")
    }
    (report_dir / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    print(render(result, floor))
    if result["desktops_lost"]:
        print(f"LOST: {result['desktops_lost']} of {expected} desktops did not fail over")
    print(f"report: {report_dir / 'report.html'}")
    return bool(ok and not result["desktops_lost"])
