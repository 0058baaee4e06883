"""The emulator's own overhead (issue 20): the node's REST against a bare aiohttp server, one run.

A whole deployment as real processes (``bench.finesse_bench.Deployment``: CTI A/B, AWDB, Prosody,
one Finesse node at time_scale 1), and beside it a bare aiohttp server (this module run with
``--serve``) answering every request with the node's own SystemInfo answer: the same body and the
same headers, on the same event loop (uvloop when installed, as the node). Both servers are pinned
to core 0 (``os.sched_setaffinity``), the load generator (this process) to core 1, and both are
loaded the same way (``--connections`` kept-alive connections, ``bench.finesse_bench.http_load``).

Rounds are interleaved (bare, node SystemInfo, node User GET, then again) so that other work on a
shared machine weighs on every row alike; each row shows its best round (other work only ever
makes a round slower) and its ratio to the bare server's best in the same run. Targets (issue 20):
SystemInfo at least 60% of the bare server, authenticated ``GET User`` at least 10,000 requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil
from aiohttp import web

from bench.cti_bench import print_table
from bench.finesse_bench import (
    FIRST_AGENT,
    Deployment,
    LoadResult,
    Row,
    basic,
    get_request,
    http_load,
    uvloop_installed,
)
from emu_base import eventloop
from emu_base.logs import configure_logging
from emu_base.procs import Proc, free_port

SERVER_CORE = 0
CLIENT_CORE = 1
# Headers aiohttp writes itself on every answer; the rest of the node's are copied to the bare one.
_OWN_HEADERS = {"date", "server", "content-length", "connection", "keep-alive", "transfer-encoding"}


# -- the bare server (a child process) ---------------------------------------------------------------
def serve(host: str, port: int, body_file: Path, headers_file: Path) -> None:
    """Answer every request with the same bytes: the floor the node's own work is measured against."""
    body = body_file.read_bytes()
    headers: dict[str, str] = {}
    for line in headers_file.read_text().splitlines():
        name, _, value = line.partition(": ")
        if name:
            headers[name] = value

    async def answer(_request: web.Request) -> web.Response:
        return web.Response(body=body, headers=headers)

    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        await asyncio.Event().wait()

    eventloop.run(main())


# -- the run ------------------------------------------------------------------------------------------
def pin(pid: int, core: int) -> None:
    os.sched_setaffinity(pid, {core})


async def wait_port(host: str, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _r, w = await asyncio.open_connection(host, port)
            w.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


def per_cpu_s(r: LoadResult) -> float:
    """Requests per second of the server's CPU: a whole core's worth, steadier than requests/s when
    other work shares the server's core."""
    return r.per_s / (r.node_cpu_pct / 100) if r.node_cpu_pct else 0.0


def result_rows(
    label: str, results: list[LoadResult], bare: tuple[LoadResult, LoadResult] | None, target: str
) -> list[Row]:
    """``bare``: the bare server's best round by requests/s and by requests per CPU second."""
    best = max(results, key=lambda r: r.per_s)
    best_cpu = max(per_cpu_s(r) for r in results)
    ratio = f" ({100 * best.per_s / bare[0].per_s:.0f}% of bare)" if bare else ""
    cpu_ratio = f" ({100 * best_cpu / per_cpu_s(bare[1]):.0f}% of bare)" if bare else ""
    fails = sum(r.failures for r in results)
    rows = [
        (label, f"{best.per_s:,.0f} req/s{ratio}", target),
        ("  rounds (req/s)", " ".join(f"{r.per_s / 1000:.1f}k" for r in results), "-"),
        ("  server CPU in the best round (% of one core)", f"{best.node_cpu_pct:.0f}%", "-"),
        ("  per second of server CPU, best round", f"{best_cpu:,.0f} req{cpu_ratio}", "-"),
    ]
    if fails:
        rows.append(("  non-200 answers", str(fails), "0"))
    return rows


async def warm_up(dep: Deployment, agents: int) -> tuple[bytes, list[tuple[str, str]]]:
    """SystemInfo's answer (body, headers) and every agent's credentials in the node's cache."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{dep.base}/SystemInfo") as resp:
            body = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"GET SystemInfo answered {resp.status}")
            headers = [(k, v) for k, v in resp.headers.items() if k.lower() not in _OWN_HEADERS]
        # One AWDB lookup (and one set of subscriptions) per agent, before any round.
        sem = asyncio.Semaphore(16)

        async def warm(agent: str) -> None:
            hdrs = {"Authorization": basic(agent)}
            async with sem, http.get(f"{dep.base}/User/{agent}", headers=hdrs) as resp:
                await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"GET User/{agent} answered {resp.status}")

        await asyncio.gather(*(warm(str(FIRST_AGENT + i)) for i in range(agents)))
    return body, headers


async def run(
    host: str,
    agents: int,
    rounds: int,
    seconds: float,
    connections: int,
    workdir: Path,
    compare: Path | None = None,
) -> list[Row]:
    """One deployment (the node of this checkout), and with ``compare`` a second one whose node runs
    the code of that checkout (``PYTHONPATH``): both measured in the same interleaved rounds."""
    pin(os.getpid(), CLIENT_CORE)
    load0 = os.getloadavg()
    uvloop = uvloop_installed()
    trees = {"this checkout": None} if compare is None else {"this checkout": None, str(compare): compare}
    deps: dict[str, Deployment] = {}
    bare_proc: Proc | None = None
    try:
        for n, (label, tree) in enumerate(trees.items()):
            # PYTHONSAFEPATH: `python -m` must not put the working directory (this checkout) first.
            env = None if tree is None else {"PYTHONPATH": str(tree.resolve()), "PYTHONSAFEPATH": "1"}
            deps[label] = dep = Deployment(workdir / f"deployment-{n}", agents, uvloop, host, env)
            await dep.start()
            assert dep.node is not None
            pin(dep.node.pid, SERVER_CORE)
        body, node_headers = b"", list[tuple[str, str]]()
        for dep in deps.values():
            body, node_headers = await warm_up(dep, agents)
        (workdir / "body").write_bytes(body)
        (workdir / "headers").write_text("".join(f"{k}: {v}\n" for k, v in node_headers))
        bare_port = free_port(host)
        argv = ["-m", "bench.overhead", "--serve", "--host", host, "--port", str(bare_port)]
        argv += ["--workdir", str(workdir)]
        bare_proc = Proc("bare-aiohttp", argv, workdir / "bare.log")
        await wait_port(host, bare_port)
        pin(bare_proc.pid, SERVER_CORE)
        await asyncio.sleep(1.0)  # the nodes' pubsub subscriptions for the warmed agents settle

        ids = [str(FIRST_AGENT + i) for i in range(agents)]
        plans: dict[tuple[str, str], tuple[int, int, list[bytes]]] = {
            ("", "bare"): (bare_port, bare_proc.pid, [get_request(bare_port, "SystemInfo", host=host)])
        }
        for label, dep in deps.items():
            assert dep.node is not None
            port = dep.ports["http"]
            plans[(label, "info")] = (port, dep.node.pid, [get_request(port, "SystemInfo", host=host)])
            users = [get_request(port, f"User/{a}", a, host) for a in ids]
            plans[(label, "user")] = (port, dep.node.pid, users)
        got: dict[tuple[str, str], list[LoadResult]] = {k: [] for k in plans}
        for _ in range(rounds):
            for key, (p, pid, requests) in plans.items():
                got[key].append(await http_load(p, requests, connections, seconds, pid, host))
        load1 = os.getloadavg()
    finally:
        if bare_proc is not None:
            bare_proc.stop()
        for dep in deps.values():
            await dep.stop()
    bare = (max(got[("", "bare")], key=lambda r: r.per_s), max(got[("", "bare")], key=per_cpu_s))
    rows: list[Row] = [
        (
            f"machine: {psutil.cpu_count()} cores; load average (1 min) before / after",
            f"{load0[0]:.2f} / {load1[0]:.2f}",
            "-",
        ),
        (
            f"servers on core {SERVER_CORE}, load generator on core {CLIENT_CORE}; "
            f"{connections} connections, {rounds} x {seconds:g} s interleaved",
            "uvloop" if uvloop else "asyncio",
            "-",
        ),
        *result_rows(f"bare aiohttp, SystemInfo's bytes ({len(body)} B)", got[("", "bare")], None, "-"),
    ]
    for label in deps:
        node = "node" if compare is None else f"node ({label})"
        rows += result_rows(f"{node} SystemInfo GET", got[(label, "info")], bare, ">= 60% of bare")
        rows += result_rows(
            f"{node} User GET (Basic, warm cache, {agents} users)",
            got[(label, "user")],
            bare,
            ">= 10,000 req/s",
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench overhead", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="loopback address for every process")
    p.add_argument(
        "--agents", type=int, default=200, help="agents in the directory (User GET spreads over them)"
    )
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (each row shows its best)")
    p.add_argument("--seconds", type=float, default=2.0, help="seconds per round and row")
    p.add_argument("--connections", type=int, default=32, help="kept-alive connections")
    p.add_argument("--quick", action="store_true", help="2 rounds of 1 s")
    p.add_argument(
        "--compare",
        type=Path,
        default=None,
        metavar="CHECKOUT",
        help="also measure a node running another checkout's code (e.g. main's), in the same rounds",
    )
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--workdir", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        assert args.workdir is not None
        serve(args.host, args.port, args.workdir / "body", args.workdir / "headers")
        return 0
    if (psutil.cpu_count() or 1) < 2:
        print("bench overhead needs 2 cores (servers on one, the load generator on the other)")
        return 1
    if args.quick:
        args.rounds, args.seconds = 2, 1.0
    configure_logging("bench", "WARNING")
    with contextlib.suppress(KeyboardInterrupt), tempfile.TemporaryDirectory(prefix="overhead-") as tmp:
        rows = asyncio.run(
            run(args.host, args.agents, args.rounds, args.seconds, args.connections, Path(tmp), args.compare)
        )
        print_table("The emulator's own overhead: node REST against a bare aiohttp server (issue 20)", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
