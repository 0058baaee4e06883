"""The XMPP login phase of N desktops: what checking passwords costs (issue 14).

``python -m bench xmpp-login [--agents 2000] [--rounds 5] [--concurrency 100] [--quick]``

Two Prosody processes, the emulator's own configuration (``finesse_emu.xmpp.prosody``), side by side
on free loopback ports: the baseline with the old ``authentication = "insecure"`` (any password),
and the real scheme every deployment runs (``internal_plain``: an account per agent, its Finesse password,
SASL PLAIN only). Each has the node's ``finesse`` publisher logged in, as in a deployment.

A round logs N agents in, at most ``--concurrency`` (100) at a time, each with the swarm's client
code and call (``AgentXmpp.connect(wait_finesse=True)``: TCP connect, SASL PLAIN, bind, initial
presence, then ``finesse``'s presence, when a desktop counts its session as up), and measures the
wall time from the first connect to the last session up, each login's time, and the CPU of this
process (the clients) and of that Prosody. The clients are built before the clock starts (the swarm
builds them ahead, during the reconnect window). Then every session is dropped and the round waits
until ``finesse`` has seen every agent go.

Why 100 in flight by default: Prosody listens with a backlog of 128 (``tcp_backlog``), and 2000
connects at once from one process overflow its accept queue; the kernel then drops SYNs, clients
retry after 1, 3, 7, 15 s..., and the wall time measures that schedule rather than the logins (two
all-at-once runs here gave ratios of 3.97 and 0.56, the first with 504 logins past the 60 s
timeout). ``--concurrency 0`` still does it, to see that effect.

The schemes alternate (baseline then real, then real then baseline, ...) after a warm-up round of
each, so that a machine that gets busier or quieter during the run weighs on both alike. The table
gives each scheme's median over the rounds and the ratio real / baseline of the medians; the target
is a login phase at most 20% slower (ratio <= 1.20).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.cti_bench import print_table, raise_fd_limit
from emu_base.eventloop import run
from emu_base.logs import configure_logging
from emu_base.procs import free_port
from finesse_emu.desktop.xmpp import AgentXmpp
from finesse_emu.server.publisher import NotificationPublisher
from finesse_emu.xmpp.client import AuthenticationFailed
from finesse_emu.xmpp.prosody import AuthMode, ProsodyProcess, agent_accounts

HOST = "127.0.0.1"
DOMAIN = "finesse-a"
SCHEMES: tuple[AuthMode, AuthMode] = ("insecure", "internal_plain")
LABEL = {"insecure": "any password (old baseline)", "internal_plain": "real passwords"}
TARGET_RATIO = 1.20
LOGIN_TIMEOUT = 60.0


@dataclass
class Round:
    scheme: AuthMode
    wall: float  # first connect to last session up
    p50: float
    p95: float
    prosody_cpu: float
    client_cpu: float
    failed: int


class Server:
    """One Prosody with the finesse publisher logged in."""

    def __init__(self, scheme: AuthMode, agents: int, workdir: Path) -> None:
        self.scheme = scheme
        self.accounts = agent_accounts(agents)
        self.prosody = ProsodyProcess(
            DOMAIN,
            host=HOST,
            c2s_port=free_port(HOST),
            http_port=free_port(HOST),
            run_dir=workdir / scheme,
            auth=scheme,
            accounts=self.accounts,
            crash_detection=None,  # no pings during the run: logins only
        )
        self.publisher: NotificationPublisher | None = None
        self.ps: psutil.Process | None = None

    async def start(self) -> None:
        await self.prosody.start()
        assert self.prosody.pid is not None
        self.ps = psutil.Process(self.prosody.pid)
        self.publisher = NotificationPublisher(
            HOST, self.prosody.c2s_port, DOMAIN, self.prosody.service_password
        )
        await self.publisher.start()

    async def check_scheme(self) -> None:
        """Measure what is claimed: the real scheme refuses a wrong password, the baseline does not."""
        agent_id = next(iter(self.accounts))
        client = AgentXmpp(f"{agent_id}@{DOMAIN}/check", "not-the-password", HOST, self.prosody.c2s_port)
        sasl_log = logging.getLogger("slixmpp.features.feature_mechanisms.mechanisms")
        level = sasl_log.level
        sasl_log.setLevel(logging.CRITICAL)  # "No appropriate login method.": the refusal, expected
        try:
            await client.connect(timeout=10)
        except AuthenticationFailed:
            refused = True
        else:
            refused = False
            await client.disconnect()
        finally:
            sasl_log.setLevel(level)
        if refused != (self.scheme == "internal_plain"):
            raise RuntimeError(f"{self.scheme}: a wrong password was {'refused' if refused else 'accepted'}")

    async def stop(self) -> None:
        if self.publisher is not None:
            await self.publisher.stop()
        self.prosody.kill()
        await self.prosody.wait()

    def cpu(self) -> float:
        assert self.ps is not None
        t = self.ps.cpu_times()
        return float(t.user + t.system)

    async def wait_all_gone(self, timeout: float = 60.0) -> None:
        """Until finesse has seen every agent's session end (Prosody is done with the round)."""
        assert self.publisher is not None
        deadline = time.monotonic() + timeout
        while self.publisher.available_agents:
            if time.monotonic() > deadline:
                left = len(self.publisher.available_agents)
                raise RuntimeError(f"{left} sessions still open {timeout} s after the round")
            await asyncio.sleep(0.05)


async def login_round(server: Server, concurrency: int) -> Round:
    prosody = server.prosody
    clients = [
        AgentXmpp(f"{agent_id}@{DOMAIN}/desktop", password, HOST, prosody.c2s_port)
        for agent_id, password in server.accounts.items()
    ]
    gate = asyncio.Semaphore(concurrency or len(clients))
    times: list[float] = []
    failed = 0

    async def one(client: AgentXmpp) -> None:
        nonlocal failed
        async with gate:
            t0 = time.perf_counter()
            try:
                await client.connect(timeout=LOGIN_TIMEOUT, wait_finesse=True)
            except (ConnectionError, TimeoutError):
                failed += 1
                return
            times.append(time.perf_counter() - t0)

    gc.collect()
    me = psutil.Process()
    cpu0, server0 = me.cpu_times(), server.cpu()
    t0 = time.perf_counter()
    await asyncio.gather(*(one(c) for c in clients))
    wall = time.perf_counter() - t0
    cpu1, server1 = me.cpu_times(), server.cpu()
    for client in clients:
        client.abort()
    await server.wait_all_gone()
    quantiles = statistics.quantiles(times, n=20) if len(times) >= 2 else [float("nan")] * 19
    return Round(
        server.scheme,
        wall,
        statistics.median(times) if times else float("nan"),
        quantiles[18],
        server1 - server0,
        (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system),
        failed,
    )


async def run_bench(agents: int, rounds: int, concurrency: int, workdir: Path) -> list[Round]:
    raise_fd_limit(4 * agents + 256)
    servers = {scheme: Server(scheme, agents, workdir) for scheme in SCHEMES}
    try:
        for server in servers.values():
            await server.start()
            await server.check_scheme()
        for scheme in SCHEMES:  # warm-up, not counted
            await login_round(servers[scheme], concurrency)
        results = []
        for i in range(rounds):
            order = SCHEMES if i % 2 == 0 else SCHEMES[::-1]
            for scheme in order:
                r = await login_round(servers[scheme], concurrency)
                results.append(r)
                print(
                    f"round {i + 1}/{rounds} {scheme:<14} wall {r.wall:6.3f} s  p50 {r.p50 * 1000:6.0f} ms"
                    f"  p95 {r.p95 * 1000:6.0f} ms  Prosody CPU {r.prosody_cpu:5.2f} s"
                    f"  client CPU {r.client_cpu:5.2f} s  failed {r.failed}",
                    flush=True,
                )
        return results
    finally:
        for server in servers.values():
            with contextlib.suppress(Exception):
                await server.stop()


def table_rows(results: list[Round], agents: int, concurrency: int) -> list[tuple[str, str, str]]:
    def med(scheme: AuthMode, attr: str) -> float:
        return statistics.median(float(getattr(r, attr)) for r in results if r.scheme == scheme)

    def spread(scheme: AuthMode) -> str:
        walls = [r.wall for r in results if r.scheme == scheme]
        return f"{min(walls):.2f}-{max(walls):.2f}"

    burst = "all at once" if concurrency == 0 else f"{concurrency} in flight"
    rows: list[tuple[str, str, str]] = []
    for scheme in SCHEMES:
        name = f"{agents} logins ({burst}), {LABEL[scheme]}"
        rows.append((f"{name}: wall median (range)", f"{med(scheme, 'wall'):.2f} s ({spread(scheme)})", "-"))
        rows.append(
            (
                f"{name}: login p50 / p95",
                f"{med(scheme, 'p50') * 1000:.0f} / {med(scheme, 'p95') * 1000:.0f} ms",
                "-",
            )
        )
        rows.append(
            (
                f"{name}: CPU Prosody / clients",
                f"{med(scheme, 'prosody_cpu'):.2f} / {med(scheme, 'client_cpu'):.2f} s",
                "-",
            )
        )
    failed = sum(r.failed for r in results)
    ratio = med("internal_plain", "wall") / med("insecure", "wall")
    cpu_ratio = med("internal_plain", "prosody_cpu") / med("insecure", "prosody_cpu")
    verdict = "met" if ratio <= TARGET_RATIO and failed == 0 else "NOT met"
    rows.append(
        ("real / baseline: wall (medians)", f"{ratio:.2f}", f"<= {TARGET_RATIO:.2f}, 0 failed: {verdict}")
    )
    rows.append(("real / baseline: Prosody CPU (medians)", f"{cpu_ratio:.2f}", "-"))
    rows.append(("failed logins (every round)", str(failed), "0"))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench xmpp-login", description=__doc__.split("\n\n")[0])
    p.add_argument("--agents", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=5, help="measured rounds of each scheme (after a warm-up)")
    p.add_argument("--concurrency", type=int, default=100, help="logins in flight at most (0: all at once)")
    p.add_argument("--quick", action="store_true", help="200 agents, 3 rounds")
    p.add_argument(
        "--workdir", type=Path, help="the Prosody run directories, kept (default: a temporary one)"
    )
    args = p.parse_args(argv)
    if args.quick:
        args.agents, args.rounds = 200, 3
    if args.agents < 2 or args.rounds < 1 or args.concurrency < 0:
        p.error("--agents >= 2, --rounds >= 1, --concurrency >= 0")
    configure_logging("bench", "ERROR")
    with (
        contextlib.suppress(KeyboardInterrupt),
        tempfile.TemporaryDirectory(prefix="bench-xmpp-login-") as tmp,
    ):
        results = run(run_bench(args.agents, args.rounds, args.concurrency, args.workdir or Path(tmp)))
        print_table(
            f"XMPP login phase, {args.agents} agents, {args.rounds} rounds of each scheme",
            table_rows(results, args.agents, args.concurrency),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
