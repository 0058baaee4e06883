"""Desktop swarm benchmark: N desktops with their XMPP sessions in one process, against ``finesse-emu up``.

For each N (500, 1000, 2000; ``--quick``: 100) on a fresh deployment (``finesse-emu up --detach
--agents N --time-scale 1`` on its own loopback /24, so it never meets another deployment's ports):

- a child process (``python -m bench.desktops --child``) runs ``finesse_emu.desktop.swarm.Swarm``
  with N desktops (default ``LoadPlan``: 6 XML gadgets), all arriving at once, so its RSS is the
  swarm's alone; it reports its RSS before the swarm and once every desktop is SIGNED_IN (REST sign-in,
  XMPP session with ``finesse`` available, desktop loaded);
- sign-in throughput: desktops signed in per second, from the first desktop's start to the last
  SIGNED_IN (the swarm's own history timestamps);
- a steady-state window once all are signed in (60 s by default: one idle-ping cycle of Prosody at
  time_scale 1, so every XMPP session is pinged about once in it): CPU (% of one core, psutil
  ``cpu_times`` deltas) and RSS of the swarm process and of finesse-a, finesse-b, xmpp-a, xmpp-b
  (and of the CTI and AWDB stubs together), plus the whole machine's busy CPU to show other work.

Target: 2000 desktops with XMPP sessions in one process under 300 MB RSS and under 50% of one core
at steady state. ``--tracemalloc`` and ``--cprofile DIR`` profile the child (they slow it down and,
for tracemalloc, inflate its RSS: use them to see where memory and CPU go, not for the figures).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import ctypes
import gc
import io
import json
import pstats
import resource
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.cti_bench import print_table, raise_fd_limit
from emu_base.procs import run_cli

SIZES = (500, 1000, 2000)
QUICK_SIZES = (100,)
NETWORK = "127.0.46"  # a loopback /24 no test or default deployment uses (default 127.0.10)
TARGET_N = 2000
TARGET_RSS_MB = 300.0
TARGET_CPU_PCT = 50.0
SERVERS = ("finesse-a", "finesse-b", "xmpp-a", "xmpp-b")
STUBS = ("cti-a", "cti-b", "awdb-a", "awdb-b")
MB = 2**20
# One idle-ping cycle of Prosody at time_scale 1 (mod_finesse_roster pings a session silent for half
# of browser_crash_detection, 120 s): every session is pinged about once in the window.
STEADY = 60.0
Row = tuple[str, str, str]


def emit(obj: dict[str, Any]) -> None:
    """One JSON line to the parent (stdout is the child's report channel; logs go to stderr)."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def rss_bytes(proc: psutil.Process | None = None) -> int:
    return int((proc or psutil.Process()).memory_info().rss)


def cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


# -- child: the swarm -------------------------------------------------------------------------------
def _top_allocations(snapshot: tracemalloc.Snapshot, limit: int) -> dict[str, list[str]]:
    def lines(key: str) -> list[str]:
        stats = snapshot.statistics(key)
        out = []
        for s in stats[:limit]:
            frame = s.traceback[0]
            where = f"{frame.filename}:{frame.lineno}" if key == "lineno" else frame.filename
            out.append(f"{s.size / 1024:10.0f} KiB {s.count:9d} blocks  {where}")
        return out

    return {"by_file": lines("filename"), "by_line": lines("lineno")}


def _profile_text(profile: cProfile.Profile, limit: int) -> str:
    buf = io.StringIO()
    stats = pstats.Stats(profile, stream=buf)
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)
    return buf.getvalue()


async def _read_stdin_line() -> str:
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def child(
    run_dir: Path,
    agents: int,
    gadgets: int,
    connections: int,
    timeout: float,
    trace: bool,
    profile_dir: Path | None,
) -> int:
    from emu_base.timers import Timers
    from finesse_emu.desktop.client import LoadPlan
    from finesse_emu.desktop.swarm import Swarm, SwarmConfig, directory_agents, endpoints_from_deployment

    raise_fd_limit(agents * 2 + 1000)
    me = psutil.Process()
    gc.collect()
    rss0 = rss_bytes(me)
    objects0 = len(gc.get_objects())
    if trace:
        tracemalloc.start(1)
    config = SwarmConfig(
        endpoints_from_deployment(run_dir),
        directory_agents(agents),
        Timers.build(1.0),
        plan=LoadPlan(gadgets=gadgets),
        connections=connections,
    )
    swarm = Swarm(config)  # History() in memory, as ``finesse-emu swarm`` keeps it
    loop = asyncio.get_running_loop()
    profiler = cProfile.Profile() if profile_dir is not None else None
    if profiler is not None:
        profiler.enable()
    t_build = loop.time()
    emit({"phase": "starting"})  # the parent starts measuring the servers' sign-in CPU here
    cpu0 = cpu_seconds(me)
    await swarm.start()
    try:
        async with asyncio.timeout(timeout):
            while swarm.signed_in() < agents:
                await asyncio.sleep(0.2)  # (timestamps come from the history, not from this poll)
    except TimeoutError:
        pass
    cpu_signin = cpu_seconds(me) - cpu0
    emit({"phase": "all_signed_in"})  # ... and stops here
    if profiler is not None and profile_dir is not None:
        profiler.disable()
        profiler.dump_stats(profile_dir / f"signin-{agents}.prof")
        (profile_dir / f"signin-{agents}.txt").write_text(_profile_text(profiler, 40))
    history = swarm.history
    t0 = history.t0 if history.t0 is not None else t_build
    done = [e["t"] for e in history.events if e["event"] == "signed_in"]
    failures = Counter(str(e.get("error", "")) for e in history.events if e["event"] == "sign_in_failed")
    await asyncio.sleep(1.0)  # the last sign-ins' responses and buffers settle

    def pings() -> int:
        return sum(c.xmpp.pings_answered for c in swarm.clients if c.xmpp is not None)

    def events() -> int:
        return sum(c.stats["events"] for c in swarm.clients)

    pings0, events0 = pings(), events()
    emit(
        {
            "phase": "signed_in",
            "agents": agents,
            "signed_in": swarm.signed_in(),
            "build_seconds": t0 - t_build,
            "signin_seconds": max(done) if done else None,
            "first_signed_in": min(done) if done else None,
            "sign_in_failed": dict(failures),
            "cpu_signin": cpu_signin,
            "rss_before": rss0,
            "rss_signed_in": rss_bytes(me),
            "rss_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "states": {f"{k[0]} {k[1]} {k[2]}": v for k, v in swarm.counts().items()},
        }
    )
    # Steady state: the parent measures this process from outside; we only idle (and maybe profile).
    gc_before = [s["collections"] for s in gc.get_stats()]
    profiler = cProfile.Profile() if profile_dir is not None else None
    if profiler is not None:
        profiler.enable()
    command = await _read_stdin_line()
    if profiler is not None and profile_dir is not None:
        profiler.disable()
        profiler.dump_stats(profile_dir / f"steady-{agents}.prof")
        (profile_dir / f"steady-{agents}.txt").write_text(_profile_text(profiler, 40))
    gc_after = [s["collections"] for s in gc.get_stats()]
    report: dict[str, Any] = {
        "phase": "steady",
        "command": command.strip(),
        "rss_end": rss_bytes(me),
        "signed_in": swarm.signed_in(),
        "gc_collections": [b - a for a, b in zip(gc_before, gc_after, strict=True)],
        "tasks": len(asyncio.all_tasks()),
        "timer_handles": len(getattr(loop, "_scheduled", ())),
        "objects_per_desktop": (len(gc.get_objects()) - objects0) / agents,
        "events": events() - events0,
        "requests": sum(c.stats["requests"] for c in swarm.clients),
        "pings_answered": pings() - pings0,
    }
    # Diagnostics after the window: how much of the RSS is live objects, how much the allocators keep.
    gc.collect()
    report["rss_after_gc"] = rss_bytes(me)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    report["rss_after_trim"] = rss_bytes(me)
    if trace:
        report["tracemalloc"] = _top_allocations(tracemalloc.take_snapshot(), 25)
        report["tracemalloc_total"] = tracemalloc.get_traced_memory()[0]
    emit(report)
    await swarm.stop()
    emit({"phase": "stopped"})
    return 0


# -- parent: deployment, child, measurements ------------------------------------------------------------
class BenchError(RuntimeError):
    pass


def emu(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, timeout=timeout)


def address_busy(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def read_report(proc: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    """The child's next JSON line, or BenchError if it exits or stays silent for ``timeout``."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise BenchError(f"the swarm process said nothing for {timeout:.0f} s")
        ready, _, _ = select.select([proc.stdout], [], [], min(left, 1.0))
        if ready:
            line = proc.stdout.readline()
            if not line:
                raise BenchError(f"the swarm process exited ({proc.wait()})")
            report: dict[str, Any] = json.loads(line)
            return report
        if proc.poll() is not None:
            raise BenchError(f"the swarm process exited ({proc.returncode})")


@dataclass
class Meters:
    """CPU seconds and RSS of a set of named processes, between two snapshots."""

    procs: dict[str, psutil.Process]
    cpu0: dict[str, float] = field(default_factory=dict)
    t0: float = 0.0
    machine0: float = 0.0

    @staticmethod
    def machine_busy() -> float:
        t = psutil.cpu_times()
        return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.machine0 = self.machine_busy()
        self.cpu0 = {name: cpu_seconds(p) for name, p in self.procs.items()}

    def stop(self) -> tuple[float, dict[str, float], float]:
        """(wall seconds, name -> CPU seconds, machine busy CPU seconds) since ``start``."""
        wall = time.monotonic() - self.t0
        cpu = {name: cpu_seconds(p) - self.cpu0[name] for name, p in self.procs.items()}
        return wall, cpu, self.machine_busy() - self.machine0

    def rss(self) -> dict[str, int]:
        return {name: rss_bytes(p) for name, p in self.procs.items()}


@dataclass
class SizeResult:
    n: int
    rows: list[Row]
    rss_per_desktop_kb: float = 0.0
    swarm_rss_mb: float = 0.0
    swarm_cpu_pct: float = 0.0
    signins_per_s: float = 0.0
    servers_cpu_pct: float = 0.0
    servers_rss_mb: float = 0.0
    ok: bool = True


def pct(cpu: float, wall: float) -> str:
    return f"{100 * cpu / wall:.1f}%"


def run_size(n: int, workdir: Path, steady: float, args: argparse.Namespace) -> SizeResult:
    network, signin_timeout = args.network, args.signin_timeout
    run_dir = workdir / f"run-{n}"
    if address_busy(f"{network}.7", 8082) or address_busy(f"{network}.7", 5222):
        raise BenchError(f"{network}.7 is in use: another deployment runs on --network {network}")
    res = SizeResult(n, [(f"[N = {n} desktops]", "", "")])
    t_up = time.monotonic()
    up = emu(
        "up",
        "--detach",
        "--agents",
        str(n),
        "--time-scale",
        "1",
        "--run-dir",
        str(run_dir),
        "--network",
        network,
    )
    child_proc: subprocess.Popen[bytes] | None = None
    try:
        if up.returncode != 0:
            raise BenchError(f"finesse-emu up failed: {up.stdout}{up.stderr}")
        res.rows.append(
            ("deployment up (8 processes), both nodes IN_SERVICE", f"{time.monotonic() - t_up:.1f} s", "-")
        )
        state = json.loads((run_dir / "deployment.json").read_text())
        comps = {c["name"]: psutil.Process(int(c["pid"])) for c in state["components"]}
        servers = Meters({name: comps[name] for name in SERVERS + STUBS})
        rss_idle = servers.rss()
        argv = [
            sys.executable,
            "-m",
            "bench.desktops",
            "--child",
            "--run-dir",
            str(run_dir),
            "--agents",
            str(n),
            "--gadgets",
            str(args.gadgets),
            "--connections",
            str(args.connections),
            "--signin-timeout",
            str(signin_timeout),
        ]
        if args.tracemalloc:
            argv.append("--tracemalloc")
        if args.cprofile:
            argv += ["--cprofile", str(Path(args.cprofile).resolve())]
        stderr_path = workdir / f"swarm-{n}.log"
        with stderr_path.open("wb") as stderr:
            child_proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
        try:
            read_report(child_proc, 120)  # starting
            servers.start()
            read_report(child_proc, signin_timeout + 120)  # all signed in (or the timeout)
            signin = servers.stop()
            signed = read_report(child_proc, 120)
            if signed["signed_in"] < n:
                res.ok = False
                res.rows.append(
                    ("NOT all signed in", f"{signed['signed_in']} of {n}", json.dumps(signed["states"]))
                )
            # Steady window: the swarm and the servers, measured from here, the swarm idling.
            window = Meters({"swarm": psutil.Process(child_proc.pid), **servers.procs})
            window.start()
            time.sleep(steady)
            wall, cpu, machine = window.stop()
            rss_end = window.rss()
            assert child_proc.stdin is not None
            child_proc.stdin.write(b"stop\n")
            child_proc.stdin.flush()
            final = read_report(child_proc, 120)
            read_report(child_proc, 120)  # stopped
            child_proc.wait(30)
        except BaseException:
            log_tail = stderr_path.read_text(errors="replace")[-2000:]
            if log_tail:
                print(f"swarm process log (tail):\n{log_tail}", file=sys.stderr)
            raise
        res.rows += signed_rows(n, signed, final, signin, res)
        res.rows += steady_rows(n, steady, wall, cpu, machine, rss_idle, rss_end, final, res)
        if "tracemalloc" in final:
            print(f"\ntracemalloc, N = {n}: {final['tracemalloc_total'] / MB:.1f} MB traced", file=sys.stderr)
            for title, lines in final["tracemalloc"].items():
                print(f"-- top allocations {title}", file=sys.stderr)
                print("\n".join(lines), file=sys.stderr)
    finally:
        if child_proc is not None and child_proc.poll() is None:
            child_proc.kill()
            child_proc.wait(10)
        down = emu("down", "--run-dir", str(run_dir), timeout=60)
        if down.returncode != 0 and (run_dir / "deployment.json").exists():
            print(f"finesse-emu down: {down.stderr}", file=sys.stderr)
    return res


def signed_rows(
    n: int,
    signed: dict[str, Any],
    final: dict[str, Any],
    signin: tuple[float, dict[str, float], float],
    res: SizeResult,
) -> list[Row]:
    rows: list[Row] = []
    wall_in, cpu_in, machine_in = signin
    seconds = signed["signin_seconds"] or float("nan")
    res.signins_per_s = signed["signed_in"] / seconds
    failed = sum(signed["sign_in_failed"].values())
    rows.append(("sign-in, all at once: first start -> last SIGNED_IN", f"{seconds:.1f} s", "-"))
    rows.append(("  desktops signed in per second", f"{res.signins_per_s:,.0f}/s", "-"))
    rows.append(("  first desktop SIGNED_IN after", f"{signed['first_signed_in']:.2f} s", "-"))
    rows.append(
        (
            "  sign-in failures (retried 20 s later)",
            f"{failed}",
            json.dumps(signed["sign_in_failed"]) if failed else "-",
        )
    )
    rows.append(("  building the N clients before the first start", f"{signed['build_seconds']:.2f} s", "-"))
    swarm_cpu = signed["cpu_signin"]
    busy = " / ".join(pct(x, wall_in) for x in [swarm_cpu, *(cpu_in[name] for name in SERVERS)])
    rows.append(("  CPU: swarm / finesse-a / -b / xmpp-a / -b", busy, "% of one core"))
    stubs = sum(cpu_in[name] for name in STUBS)
    rows.append(("  CPU: cti-a/-b, awdb-a/-b together", pct(stubs, wall_in), "% of one core"))
    nodes = cpu_in["finesse-a"] + cpu_in["finesse-b"]
    prosody = cpu_in["xmpp-a"] + cpu_in["xmpp-b"]
    total = swarm_cpu + nodes + prosody + stubs
    per = " / ".join(f"{1000 * x / n:.1f}" for x in (total, swarm_cpu, nodes, prosody, stubs))
    rows.append(("  CPU per sign-in: all / swarm / nodes / Prosodys / stubs", per, "ms"))
    cores = psutil.cpu_count() or 1
    rows.append(
        (
            "  machine busy: all / everything else",
            f"{pct(machine_in, wall_in)} / {pct(max(0.0, machine_in - total), wall_in)}",
            f"of {cores} cores x 100% (cap {1000 * cores * n / (1000 * total):,.0f}/s)",
        )
    )
    before, after = signed["rss_before"] / MB, signed["rss_signed_in"] / MB
    res.rss_per_desktop_kb = (signed["rss_signed_in"] - signed["rss_before"]) / n / 1024
    res.swarm_rss_mb = after
    rows.append(
        (
            "swarm RSS: before the swarm / all signed in",
            f"{before:.0f} / {after:.0f} MB",
            f"< {TARGET_RSS_MB:.0f} MB at N = {TARGET_N}" if n == TARGET_N else "-",
        )
    )
    rows.append(("  swarm peak RSS (during sign-in)", f"{signed['rss_peak'] / MB:.0f} MB", "-"))
    rows.append(
        (
            "  RSS per desktop (delta / N)",
            f"{res.rss_per_desktop_kb:.0f} KiB",
            f"< {TARGET_RSS_MB * 1024 / TARGET_N:.0f} KiB (whole process / {TARGET_N})",
        )
    )
    rows.append(("  Python objects per desktop (gc-tracked)", f"{final['objects_per_desktop']:,.0f}", "-"))
    rows.append(
        (
            "  asyncio tasks / loop timers (whole process)",
            f"{final['tasks']:,} / {final['timer_handles']:,}",
            "-",
        )
    )
    return rows


def steady_rows(
    n: int,
    steady: float,
    wall: float,
    cpu: dict[str, float],
    machine: float,
    rss_idle: dict[str, int],
    rss_end: dict[str, int],
    final: dict[str, Any],
    res: SizeResult,
) -> list[Row]:
    rows: list[Row] = []
    res.swarm_cpu_pct = 100 * cpu["swarm"] / wall
    target = f"< {TARGET_CPU_PCT:.0f}% of one core at N = {TARGET_N}" if n == TARGET_N else "% of one core"
    rows.append((f"steady state, {steady:.0f} s: swarm CPU", pct(cpu["swarm"], wall), target))
    rows.append(("  swarm RSS at the end of the window", f"{rss_end['swarm'] / MB:.0f} MB", "-"))
    rows.append(
        (
            "  swarm RSS after gc.collect() / then malloc_trim(0)",
            f"{final['rss_after_gc'] / MB:.0f} / {final['rss_after_trim'] / MB:.0f} MB",
            "live objects vs what the allocators keep",
        )
    )
    gc_runs = "/".join(str(x) for x in final["gc_collections"])
    rows.append(("  swarm gc collections gen0/1/2 in the window", gc_runs, "-"))
    rows.append(
        (
            "  swarm: XMPP pings answered / pubsub events received",
            f"{final['pings_answered']} / {final['events']}",
            "-",
        )
    )
    for name in SERVERS:
        rows.append(
            (
                f"  {name}: CPU / RSS idle -> end",
                f"{pct(cpu[name], wall)} / {rss_idle[name] / MB:.0f} -> {rss_end[name] / MB:.0f} MB",
                "-",
            )
        )
    stubs_cpu = sum(cpu[name] for name in STUBS)
    stubs_rss = sum(rss_end[name] for name in STUBS)
    rows.append(
        (
            "  cti-a/-b, awdb-a/-b together: CPU / RSS",
            f"{pct(stubs_cpu, wall)} / {stubs_rss / MB:.0f} MB",
            "-",
        )
    )
    res.servers_cpu_pct = 100 * sum(cpu[name] for name in SERVERS) / wall
    res.servers_rss_mb = sum(rss_end[name] for name in SERVERS) / MB
    rows.append(
        (
            "  the 4 servers together: CPU / RSS",
            f"{res.servers_cpu_pct:.1f}% / {res.servers_rss_mb:.0f} MB",
            "-",
        )
    )
    measured = sum(cpu.values())
    rows.append(
        (
            "  machine busy: all / everything else",
            f"{pct(machine, wall)} / {pct(max(0.0, machine - measured), wall)}",
            f"of {psutil.cpu_count()} cores x 100%",
        )
    )
    return rows


def summary_rows(results: list[SizeResult]) -> list[str]:
    head = (
        f"{'N':>5}  {'RSS/desktop':>11}  {'swarm RSS':>9}  {'swarm CPU':>9}  {'sign-ins/s':>10}  "
        f"{'servers CPU':>11}  {'servers RSS':>11}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r.n:>5}  {r.rss_per_desktop_kb:>7.0f} KiB  {r.swarm_rss_mb:>6.0f} MB  "
            f"{r.swarm_cpu_pct:>8.1f}%  {r.signins_per_s:>8.0f}/s  "
            f"{r.servers_cpu_pct:>10.1f}%  {r.servers_rss_mb:>8.0f} MB"
        )
    for r in results:
        if r.n == TARGET_N:
            rss_ok = r.ok and r.swarm_rss_mb < TARGET_RSS_MB
            cpu_ok = r.ok and r.swarm_cpu_pct < TARGET_CPU_PCT
            lines.append("")
            lines.append(
                f"target: {TARGET_N} desktops under {TARGET_RSS_MB:.0f} MB RSS: "
                f"{'met' if rss_ok else 'NOT met'} ({r.swarm_rss_mb:.0f} MB)"
            )
            lines.append(
                f"target: {TARGET_N} desktops under {TARGET_CPU_PCT:.0f}% of one core at steady "
                f"state: {'met' if cpu_ok else 'NOT met'} ({r.swarm_cpu_pct:.1f}%)"
            )
    return lines


def parent(args: argparse.Namespace) -> int:
    sizes = tuple(args.sizes) if args.sizes else (QUICK_SIZES if args.quick else SIZES)
    steady = args.steady if args.steady is not None else (5.0 if args.quick else STEADY)
    if shutil.which("prosody") is None and not Path("/usr/bin/prosody").exists():
        print("desktops bench: prosody is not installed (make prosody)", file=sys.stderr)
        return 1
    results: list[SizeResult] = []
    code = 0
    profile_dir = Path(args.cprofile).resolve() if args.cprofile else None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="finesse-bench-desktops-") as tmp:
        for n in sizes:
            try:
                results.append(run_size(n, Path(tmp), steady, args))
            except BenchError as exc:
                print(f"desktops bench, N = {n}: {exc}", file=sys.stderr)
                code = 1
            # the previous deployment's sockets close before the next binds the same addresses
            time.sleep(1.0)
    if not results:
        return code or 1
    rows: list[Row] = []
    for r in results:
        rows += r.rows
    cores = psutil.cpu_count()
    ram = psutil.virtual_memory().total / 2**30
    title = (
        f"Desktop swarm (all-at-once arrival, {args.gadgets} XML gadgets, {args.connections} HTTP "
        f"connections, time_scale 1, "
        f"{cores} cores, {ram:.0f} GiB; % of one core)"
    )
    print_table(title, rows)
    print()
    print("\n".join(summary_rows(results)))
    if profile_dir is not None:
        print(f"\ncProfile output (signin-N.txt, steady-N.txt, .prof) in {profile_dir}")
    return code


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.desktops",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="N = 100 only, 5 s steady window")
    p.add_argument("--sizes", type=int, nargs="+", help="desktop counts (default 500 1000 2000)")
    p.add_argument("--steady", type=float, help=f"seconds of the steady-state window (default {STEADY:.0f})")
    p.add_argument("--gadgets", type=int, default=6, help="gadgets per desktop (default 6, LoadPlan's)")
    p.add_argument(
        "--connections", type=int, default=512, help="the swarm's HTTP connection pool (default 512, its own)"
    )
    p.add_argument("--network", default=NETWORK, help=f"loopback /24 of the deployment (default {NETWORK})")
    p.add_argument("--signin-timeout", type=float, default=300.0, help="seconds for all to sign in")
    p.add_argument("--tracemalloc", action="store_true", help="print the swarm's top allocations")
    p.add_argument("--cprofile", metavar="DIR", help="cProfile the swarm's sign-in and steady state")
    # the child (internal)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--run-dir", help=argparse.SUPPRESS)
    p.add_argument("--agents", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        from emu_base.logs import configure_logging

        configure_logging("bench-swarm", "WARNING")
        profile_dir = Path(args.cprofile) if args.cprofile else None
        return asyncio.run(
            child(
                Path(args.run_dir),
                args.agents,
                args.gadgets,
                args.connections,
                args.signin_timeout,
                args.tracemalloc,
                profile_dir,
            )
        )
    with contextlib.suppress(KeyboardInterrupt):
        return parent(args)
    return 130


if __name__ == "__main__":
    raise SystemExit(main())
