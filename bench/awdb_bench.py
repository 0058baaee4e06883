"""AWDB stub benchmarks.

- the database alone, in process: seeding 2000 agents, one authenticate / lookup (the cost each
  request adds to the event loop, since queries run synchronously there);
- a real ``python -m awdb_stub`` process: authenticate requests/s with p50/p99 latency, one client
  in sequence and N concurrent clients on kept-alive connections, and the stub's CPU meanwhile.
  The process requires the AWDB login, as a launched one does; every request carries it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from awdb_stub.db import AwdbDatabase
from awdb_stub.seed import SeedData
from bench.cti_bench import print_table
from emu_base.awdb_login import DEFAULT_USER, AwdbLogin
from emu_base.directory import generate
from emu_base.logs import configure_logging
from emu_base.procs import Proc, free_port, wait_health
from finesse_emu.deployment.launcher import write_token_file

HOST = "127.0.0.1"


def _median_us(fn: Callable[[int], object], runs: int) -> float:
    costs = []
    for i in range(runs):
        t0 = time.perf_counter()
        fn(i)
        costs.append(time.perf_counter() - t0)
    return statistics.median(costs) * 1e6


def database_costs(agents: int = 2000, runs: int = 2000) -> dict[str, float]:
    db = AwdbDatabase()
    t0 = time.perf_counter()
    db.seed(SeedData(generate(agents)))
    seed_s = time.perf_counter() - t0
    out = {
        "seed_s": seed_s,
        "auth_id_us": _median_us(
            lambda i: db.authenticate(str(1000 + i % agents), f"pass{1000 + i % agents}"), runs
        ),
        "auth_login_us": _median_us(
            lambda i: db.authenticate(f"agent{i % agents + 1:04d}", f"pass{1000 + i % agents}"), runs
        ),
        "auth_wrong_us": _median_us(lambda i: db.authenticate(str(1000 + i % agents), "wrong"), runs),
        "auth_unknown_us": _median_us(lambda i: db.authenticate(f"nobody{i}", "x"), runs),
        "agent_us": _median_us(lambda i: db.agent(str(1000 + i % agents)), runs),
        "team_us": _median_us(lambda i: db.team(1 + i % max(1, agents // 25)), runs // 10),
        "all_agents_ms": _median_us(lambda _: db.agents(), 20) / 1000,
    }
    db.close()
    return out


class Stub:
    """A stub process that requires the AWDB login (``password``, random by default)."""

    def __init__(self, workdir: Path, agents: int, password: str | None = None) -> None:
        self.port, self.admin = free_port(), free_port()
        password = password or secrets.token_urlsafe(24)
        self.login = AwdbLogin.of(DEFAULT_USER, password)
        write_token_file(workdir / "awdb-password", password)
        argv = ["-m", "awdb_stub", "--name", "awdb-a", "--host", HOST, "--port", str(self.port)]
        argv += ["--admin-port", str(self.admin), "--agents", str(agents), "--log-level", "WARNING"]
        argv += ["--login-password-file", str(workdir / "awdb-password")]
        self.proc = Proc("awdb-a", argv, workdir / "awdb-a.log")
        self.ps = psutil.Process(self.proc.pid)

    async def ready(self) -> None:
        await wait_health(HOST, self.admin, "up")

    def cpu_seconds(self) -> float:
        t = self.ps.cpu_times()
        return float(t.user + t.system)

    def rss_mb(self) -> float:
        return float(self.ps.memory_info().rss) / 2**20


async def authenticate_load(stub: Stub, agents: int, clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` concurrent loops of authenticate (kept-alive connections) for ``seconds``."""
    url = f"http://{HOST}:{stub.port}/awdb/v1/authenticate"
    latencies: list[float] = []
    failures = 0
    connector = aiohttp.TCPConnector(limit=clients)
    headers = {"Authorization": stub.login.header}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as http:
        deadline = time.perf_counter() + seconds

        async def client(seed: int) -> None:
            nonlocal failures
            rng = random.Random(seed)
            while time.perf_counter() < deadline:
                n = 1000 + rng.randrange(agents)
                t0 = time.perf_counter()
                async with http.post(url, json={"user": str(n), "password": f"pass{n}"}) as resp:
                    await resp.read()
                    if resp.status != 200:
                        failures += 1
                latencies.append(time.perf_counter() - t0)

        cpu0, t0 = stub.cpu_seconds(), time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(clients)))
        elapsed = time.perf_counter() - t0
        cpu = stub.cpu_seconds() - cpu0
    latencies.sort()
    return {
        "clients": clients,
        "requests": len(latencies),
        "per_s": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "stub_cpu_pct": 100 * cpu / elapsed,
        "failures": failures,
    }


async def run_all(
    agents: int = 2000, seconds: float = 5.0, quick: bool = False
) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    db = database_costs(agents, 500 if quick else 2000)
    rows.append((f"seed {agents} generated agents (in memory)", f"{db['seed_s'] * 1000:.0f} ms", "< 1 s"))
    rows.append(("authenticate by agent id, in process", f"{db['auth_id_us']:.0f} us", "-"))
    rows.append(("authenticate by login name, in process", f"{db['auth_login_us']:.0f} us", "-"))
    rows.append(("authenticate, wrong password, in process", f"{db['auth_wrong_us']:.0f} us", "-"))
    rows.append(
        ("authenticate an unknown user, in process", f"{db['auth_unknown_us']:.0f} us", "~ wrong password")
    )
    rows.append(("agent lookup by id, in process", f"{db['agent_us']:.0f} us", "-"))
    rows.append(("team of 25 with its agents, in process", f"{db['team_us']:.0f} us", "-"))
    rows.append((f"all {agents} agents, in process", f"{db['all_agents_ms']:.1f} ms", "-"))
    with tempfile.TemporaryDirectory(prefix="awdb-bench-") as tmp:
        stub = Stub(Path(tmp), agents)
        try:
            await stub.ready()
            for clients in (1, 32):
                r = await authenticate_load(stub, agents, clients, 1.0 if quick else seconds)
                label = "1 client, sequential" if clients == 1 else f"{clients} concurrent clients"
                rows.append((f"authenticate over HTTP, {label}", f"{r['per_s']:,.0f}/s", "-"))
                rows.append(("  p50 / p99 latency", f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f} ms", "-"))
                rows.append(("  stub CPU", f"{r['stub_cpu_pct']:.0f}% of a core", "-"))
                if r["failures"]:
                    rows.append(("  non-200 answers", str(r["failures"]), "0"))
            rows.append(("stub RSS", f"{stub.rss_mb():.0f} MB", "-"))
        finally:
            stub.proc.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m bench.awdb_bench", description=__doc__)
    p.add_argument("--agents", type=int, default=2000)
    p.add_argument("--seconds", type=float, default=5.0, help="seconds per HTTP load phase")
    p.add_argument("--quick", action="store_true", help="short runs")
    args = p.parse_args(argv)
    configure_logging("bench", "WARNING")
    with contextlib.suppress(KeyboardInterrupt):
        rows = asyncio.run(run_all(args.agents, args.seconds, args.quick))
        print_table("AWDB stub benchmark", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
