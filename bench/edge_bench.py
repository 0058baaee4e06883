"""What the client-path proxy costs (finesse_emu/edge/): round trips and throughput on loopback,
through the proxy against direct, both measured in the same run.

Three processes, as in a deployment: a byte server (echo, or on ``SEND n`` n bytes then close), the
proxy (``python -m finesse_emu.edge``, one ``rest`` route to the server, no fault active) and this
process, the client. Each round measures direct then through the proxy, so both see the same
machine; the table gives the median over rounds and the ratio proxy / direct.

- round trip: ``--size`` bytes (default 100) sent and echoed back, ``--trips`` times on one
  connection; the median and the 99th percentile of one round trip;
- connect: a new connection and its first round trip (the proxy dials its upstream per client);
- throughput: ``--megabytes`` sent by the server to the client over one connection, in MB/s.

``python -m bench edge [--quick] [--host 127.0.0.1]``. Not a test: the figures follow the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

from emu_base.procs import free_port

READ = 256 * 1024
CHUNK = b"y" * READ


# -- the byte server (a process of its own: ``python -m bench.edge_bench --serve HOST:PORT``) -----------
async def _serve_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(READ):
            if data.startswith(b"SEND "):
                left = int(data[5:])
                while left > 0:
                    writer.write(CHUNK[: min(left, READ)])
                    left -= READ
                    await writer.drain()
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def serve(host: str, port: int) -> None:
    server = await asyncio.start_server(_serve_client, host, port)
    async with server:
        await server.serve_forever()


# -- the client ------------------------------------------------------------------------------------------
async def wait_listening(host: str, port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            _, w = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        w.close()
        return
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout} s")


async def round_trips(host: str, port: int, size: int, trips: int) -> list[float]:
    reader, writer = await asyncio.open_connection(host, port)
    payload = b"x" * size
    out = []
    try:
        for _ in range(trips):
            start = time.perf_counter()
            writer.write(payload)
            await reader.readexactly(size)
            out.append(time.perf_counter() - start)
    finally:
        writer.close()
    return out


async def connects(host: str, port: int, count: int) -> list[float]:
    out = []
    for _ in range(count):
        start = time.perf_counter()
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"ping")
        await reader.readexactly(4)
        out.append(time.perf_counter() - start)
        writer.close()
    return out


async def throughput(host: str, port: int, nbytes: int) -> float:
    """MB/s of nbytes from the server to this client over one connection."""
    reader, writer = await asyncio.open_connection(host, port)
    start = time.perf_counter()
    writer.write(f"SEND {nbytes}".encode())
    got = 0
    while got < nbytes:
        data = await reader.read(READ)
        if not data:
            raise RuntimeError(f"closed after {got} of {nbytes} bytes")
        got += len(data)
    elapsed = time.perf_counter() - start
    writer.close()
    return nbytes / elapsed / 1e6


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def start(args: argparse.Namespace) -> tuple[dict[str, int], list[subprocess.Popen[bytes]]]:
    """The byte server and the proxy in front of it, each a process of its own."""
    host = args.host
    ports = {"server": free_port(host), "proxy": free_port(host), "admin": free_port(host)}
    env = {**os.environ, "FINESSE_EMU_ADMIN_TOKEN": ""}  # a loopback control plane needs no token
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.edge_bench", "--serve", f"{host}:{ports['server']}"], env=env
    )
    proxy = subprocess.Popen(
        [
            *(sys.executable, "-m", "finesse_emu.edge", "--name", "edge-bench", "--log-level", "WARNING"),
            *("--route", f"rest={host}:{ports['proxy']},{host}:{ports['server']}"),
            *("--admin-host", host, "--admin-port", str(ports["admin"])),
        ],
        env=env,
    )
    return ports, [server, proxy]


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def measure(
    args: argparse.Namespace, ports: dict[str, int], procs: list[subprocess.Popen[bytes]]
) -> dict[str, dict[str, list[float]]]:
    host = args.host
    results: dict[str, dict[str, list[float]]] = {
        m: {"direct": [], "proxy": []} for m in ("rtt_p50", "rtt_p99", "connect", "throughput")
    }
    await wait_listening(host, ports["server"], procs[0])
    await wait_listening(host, ports["proxy"], procs[1])
    for _ in range(args.rounds):
        for path, port in (("direct", ports["server"]), ("proxy", ports["proxy"])):
            rtt = await round_trips(host, port, args.size, args.trips)
            results["rtt_p50"][path].append(statistics.median(rtt))
            results["rtt_p99"][path].append(p99(rtt))
            results["connect"][path].append(statistics.median(await connects(host, port, args.connects)))
            results["throughput"][path].append(await throughput(host, port, int(args.megabytes * 1e6)))
    return results


def table(args: argparse.Namespace, results: dict[str, dict[str, list[float]]]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for key, label, unit, scale in (
        ("rtt_p50", f"round trip {args.size} B, median", "µs", 1e6),
        ("rtt_p99", f"round trip {args.size} B, p99", "µs", 1e6),
        ("connect", "connect + first round trip, median", "µs", 1e6),
        ("throughput", f"throughput, {args.megabytes:g} MB one way", "MB/s", 1.0),
    ):
        direct = statistics.median(results[key]["direct"]) * scale
        proxy = statistics.median(results[key]["proxy"]) * scale
        rows.append((label, f"{direct:.0f} {unit}", f"{proxy:.0f} {unit}", f"{proxy / direct:.2f}"))
    return rows


def print_rows(rows: list[tuple[str, ...]]) -> None:
    header = ("measure", "direct", "through the proxy", "proxy / direct")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench edge", description=__doc__.split("\n\n")[0])
    p.add_argument("--serve", help=argparse.SUPPRESS)  # the byte server's own process
    p.add_argument("--host", default="127.0.0.1", help="loopback address of all three (default 127.0.0.1)")
    p.add_argument("--rounds", type=int, default=5, help="rounds, each direct then proxy (default 5)")
    p.add_argument("--trips", type=int, default=2000, help="round trips per round (default 2000)")
    p.add_argument("--size", type=int, default=100, help="bytes per round trip (default 100)")
    p.add_argument("--connects", type=int, default=200, help="connections per round (default 200)")
    p.add_argument("--megabytes", type=float, default=50.0, help="MB per throughput run (default 50)")
    p.add_argument("--quick", action="store_true", help="3 rounds of 300 trips, 50 connects, 10 MB")
    args = p.parse_args(argv)
    if args.serve:
        host, port = args.serve.rsplit(":", 1)
        asyncio.run(serve(host, int(port)))
        return 0
    if args.quick:
        args.rounds, args.trips, args.connects, args.megabytes = 3, 300, 50, 10.0
    ports, procs = start(args)
    try:
        results = asyncio.run(measure(args, ports, procs))
    finally:
        stop(procs)
    rows = table(args, results)
    print(f"\nThe client-path proxy on loopback ({args.rounds} rounds, medians over rounds)")
    print_rows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
