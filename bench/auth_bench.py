"""Finesse authentication benchmark: the Authenticator against two real AWDB stub processes.

- warm cache: authenticated requests/s when every credential is cached (no AWDB round trip);
- cold cache: requests/s and latency when every request needs the AWDB (distinct agents);
- a hanging primary: the latency it adds (the first request waits out the timeout; the retry and
  every later request go to the secondary).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.awdb_bench import HOST, Stub
from bench.cti_bench import print_table
from emu_base.logs import configure_logging
from emu_base.timers import Timers
from finesse_emu.server.auth import Authenticator, AuthError, AwdbClient

Row = tuple[str, str, str]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


async def run_all(agents: int = 2000, timeout: float = 1.0, quick: bool = False) -> list[Row]:
    rows: list[Row] = []
    n = min(agents, 500 if quick else agents)
    with tempfile.TemporaryDirectory(prefix="auth-bench-") as tmp:
        for sub in ("a", "b"):
            (Path(tmp) / sub).mkdir()
        password = secrets.token_urlsafe(24)  # one deployment: both AWDBs take the same login
        primary = Stub(Path(tmp) / "a", agents, password)
        secondary = Stub(Path(tmp) / "b", agents, password)
        try:
            await primary.ready()
            await secondary.ready()
            urls = [f"http://{HOST}:{primary.port}", f"http://{HOST}:{secondary.port}"]
            client = AwdbClient(urls, timeout, ["awdb-a", "awdb-b"], login=primary.login)
            auth = Authenticator(client, Timers.build(1.0, awdb_request_timeout=timeout))
            users = [(str(1000 + i), f"pass{1000 + i}") for i in range(n)]
            sem = asyncio.Semaphore(32)
            latencies: list[float] = []

            async def one(user: str, password: str) -> None:
                async with sem:
                    t0 = time.perf_counter()
                    await auth.authenticate(user, password)
                    latencies.append(time.perf_counter() - t0)

            t0 = time.perf_counter()
            await asyncio.gather(*(one(u, p) for u, p in users))
            cold = time.perf_counter() - t0
            rows.append((f"cold cache: {n} distinct agents, 32 at a time", f"{n / cold:,.0f} req/s", "-"))
            rows.append(
                (
                    "  p50 / p99 latency",
                    f"{pct(latencies, 0.5) * 1e3:.2f} / {pct(latencies, 0.99) * 1e3:.2f} ms",
                    "-",
                )
            )
            rounds = 5 if quick else 20
            t0 = time.perf_counter()
            for _ in range(rounds):
                for u, p in users:
                    await auth.authenticate(u, p)
            warm = time.perf_counter() - t0
            rows.append(("warm cache: authenticated requests", f"{rounds * n / warm:,.0f} req/s", "-"))
            rows.append(("  AWDB queries for all of that", str(auth.awdb_lookups), str(n)))

            # A hanging primary: fresh cache, so every request needs the AWDB.
            auth.cache.purge(float("inf"))
            async with aiohttp.ClientSession() as http:
                await http.post(f"http://{HOST}:{primary.admin}/emu/faults", json={"kind": "hang"})
            t0 = time.perf_counter()
            try:
                await auth.authenticate(*users[0])
                first_ok = True
            except AuthError:
                first_ok = False
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            await auth.authenticate(*users[0])
            retry = time.perf_counter() - t0
            later = []
            for u, p in users[1:51]:
                t1 = time.perf_counter()
                await auth.authenticate(u, p)
                later.append(time.perf_counter() - t1)
            rows.append((
                "hanging primary: first request",
                f"{first:.3f} s ({'ok' if first_ok else 'timed out'})",
                f"= timeout {timeout:g} s",
            ))  # fmt: skip
            rows.append(("  its retry (goes to the secondary)", f"{retry * 1e3:.2f} ms", "-"))
            rows.append(("  later requests, p50", f"{pct(later, 0.5) * 1e3:.2f} ms", "no added latency"))
            await client.close()
        finally:
            primary.proc.stop()
            secondary.proc.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m bench.auth_bench", description=__doc__)
    p.add_argument("--agents", type=int, default=2000)
    p.add_argument("--timeout", type=float, default=1.0, help="AWDB request timeout in seconds")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    configure_logging("bench", "ERROR")
    with contextlib.suppress(KeyboardInterrupt):
        print_table(
            "Finesse authentication (AWDB failover, 30-minute cache)",
            asyncio.run(run_all(args.agents, args.timeout, args.quick)),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
