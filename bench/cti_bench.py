"""CTI stub benchmarks against a real ``python -m cti_stub`` process.

- heartbeat round trips per second (pipelined, one client) and the stub's CPU while doing them;
- N sessions held open with a heartbeat every 5 s: the stub's CPU (% of one core) and memory;
- detection of a silent CTI side by the Finesse CTI link, against the 3 x 5 s floor.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from emu_base.logs import configure_logging
from emu_base.procs import Proc, cti_stub_argv, free_port, wait_health
from ged188 import FrameDecoder, MessageType, Service, Tag, encode, make

M = MessageType
HOST = "127.0.0.1"
OPEN = make(
    M.OPEN_REQ,
    [(Tag.CLIENT_ID, "bench"), (Tag.CLIENT_PASSWORD, b"")],
    InvokeID=1,
    VersionNumber=24,
    IdleTimeout=60,
    PeripheralID=0xFFFFFFFF,
    ServicesRequested=Service.ALL_EVENTS,
    AgentStateMask=0x3FFF,
)


def raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))


class Stub:
    def __init__(self, workdir: Path, time_scale: float = 1.0, extra: tuple[str, ...] = ()) -> None:
        self.port, self.admin = free_port(), free_port()
        argv = cti_stub_argv("A", HOST, self.port, self.admin, free_port(), None, 10, time_scale, extra)
        self.proc = Proc("cti-a", argv, workdir / "cti-a.log")
        self.ps = psutil.Process(self.proc.pid)

    async def ready(self) -> None:
        await wait_health(HOST, self.admin, "active")

    def cpu_seconds(self) -> float:
        t = self.ps.cpu_times()
        return float(t.user + t.system)

    def rss_mb(self) -> float:
        return float(self.ps.memory_info().rss) / 2**20


async def _open_session() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(HOST, _PORT[0])
    writer.write(encode(OPEN))
    dec = FrameDecoder()
    while True:
        dec.feed(await reader.read(4096))
        frame = dec.next_frame()
        if frame is not None:
            if frame[0] != M.OPEN_CONF:
                raise RuntimeError(f"OPEN_REQ refused: {M.name_of(frame[0])}")
            return reader, writer


_PORT = [0]


async def heartbeat_throughput(stub: Stub, seconds: float = 5.0, window: int = 200) -> dict[str, Any]:
    _PORT[0] = stub.port
    reader, writer = await _open_session()
    dec = FrameDecoder()
    batch = b"".join(encode(make(M.HEARTBEAT_REQ, InvokeID=i)) for i in range(window))
    done = 0
    cpu0, t0 = stub.cpu_seconds(), time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        writer.write(batch)
        got = 0
        while got < window:
            dec.feed(await reader.read(65536))
            while (frame := dec.next_frame()) is not None:
                if frame[0] == M.HEARTBEAT_CONF:
                    got += 1
        done += window
    elapsed = time.perf_counter() - t0
    cpu = stub.cpu_seconds() - cpu0
    writer.close()
    return {"round_trips_per_s": done / elapsed, "stub_cpu_pct": 100 * cpu / elapsed}


async def held_sessions(stub: Stub, sessions: int, hold: float, interval: float = 5.0) -> dict[str, Any]:
    _PORT[0] = stub.port
    conns = []
    for i in range(0, sessions, 100):
        conns += await asyncio.gather(*(_open_session() for _ in range(min(100, sessions - i))))
    confirmed = [0]

    async def beat(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        dec = FrameDecoder()
        await asyncio.sleep(random.uniform(0, interval))  # spread like real clients
        n = 0
        while True:
            n += 1
            writer.write(encode(make(M.HEARTBEAT_REQ, InvokeID=n)))
            dec.feed(await reader.read(4096))
            while (frame := dec.next_frame()) is not None:
                confirmed[0] += frame[0] == M.HEARTBEAT_CONF
            await asyncio.sleep(interval)

    tasks = [asyncio.create_task(beat(r, w)) for r, w in conns]
    await asyncio.sleep(interval)  # let every session reach its cadence
    cpu0, t0, beats0 = stub.cpu_seconds(), time.perf_counter(), confirmed[0]
    await asyncio.sleep(hold)
    elapsed = time.perf_counter() - t0
    cpu = stub.cpu_seconds() - cpu0
    beats = confirmed[0] - beats0
    for t in tasks:
        t.cancel()
    for _, w in conns:
        w.close()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "sessions": sessions,
        "heartbeats_per_s": beats / elapsed,
        "stub_cpu_pct": 100 * cpu / elapsed,
        "stub_rss_mb": stub.rss_mb(),
    }


async def silent_side_detection(time_scale: float, workdir: Path) -> dict[str, Any]:
    """Seconds from the stub going silent to the Finesse CTI link declaring the loss."""
    import aiohttp

    from emu_base.timers import Timers
    from finesse_emu.server.cti import CtiClient, CtiLinkConfig, HeartbeatResult, LinkDown

    stub = Stub(workdir, time_scale)
    try:
        await stub.ready()
        timers = Timers.build(time_scale)
        client = CtiClient(CtiLinkConfig.from_timers([("A", HOST, stub.port)], timers))
        events = client.subscribe()
        await client.start()
        if not await client.wait_in_service(30):
            raise RuntimeError("the CTI link did not come up")
        # Go silent right after a confirmed heartbeat, as a hung CTI Server would.
        async with asyncio.timeout(30):
            while not isinstance(event := await events.get(), HeartbeatResult) or not event.ok:
                pass
        async with aiohttp.ClientSession() as http:
            await http.post(f"http://{HOST}:{stub.admin}/emu/faults", json={"kind": "ignore_heartbeats"})
        t0 = time.perf_counter()
        async with asyncio.timeout(120 * time_scale + 30):
            while not isinstance(down := await events.get(), LinkDown):
                pass
        silent_to_loss = time.perf_counter() - t0
        await client.close()
        floor = timers.cti_heartbeat_interval * timers.cti_missed_heartbeats
        return {
            "time_scale": time_scale,
            # From the first unanswered heartbeat (what the floor measures) and from the fault itself
            # (adds the wait for the next heartbeat: up to one interval).
            "detection_s": down.detection_seconds,
            "silent_to_loss_s": silent_to_loss,
            "floor_s": floor,
            "over_floor_s": down.detection_seconds - floor,
        }
    finally:
        stub.proc.stop()


async def run_all(
    sessions: int = 2000, hold: float = 20.0, quick: bool = False
) -> list[tuple[str, str, str]]:
    raise_fd_limit(sessions * 2 + 256)
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="cti-bench-") as tmp:
        work = Path(tmp)
        stub = Stub(work)
        try:
            await stub.ready()
            hb = await heartbeat_throughput(stub, 2.0 if quick else 5.0)
            rows.append(
                ("heartbeat round trips/s (pipelined, 1 client)", f"{hb['round_trips_per_s']:,.0f}", "-")
            )
            rows.append(("  stub CPU during that run", f"{hb['stub_cpu_pct']:.0f}% of a core", "-"))
            held = await held_sessions(stub, sessions, hold)
            rows.append(("sessions held, heartbeat every 5 s", f"{held['sessions']}", "2000"))
            rows.append(
                ("  heartbeats confirmed/s", f"{held['heartbeats_per_s']:.0f}", f"{sessions / 5:.0f}")
            )
            rows.append(("  stub CPU", f"{held['stub_cpu_pct']:.2f}% of a core", "< 5%"))
            rows.append(("  stub RSS", f"{held['stub_rss_mb']:.0f} MB", "-"))
        finally:
            stub.proc.stop()
        for scale in (0.01,) if quick else (1.0, 0.01):
            det = await silent_side_detection(scale, work)
            rows.append(
                (
                    f"silent CTI side detection, time_scale {scale:g}",
                    f"{det['detection_s']:.3f} s",
                    f"floor {det['floor_s']:.3f} s (+{det['over_floor_s']:.3f})",
                )
            )
            rows.append(
                (
                    "  from the side going silent to link loss",
                    f"{det['silent_to_loss_s']:.3f} s",
                    f"floor + up to one interval ({det['floor_s'] * 4 / 3:.3f})",
                )
            )
    return rows


def print_table(title: str, rows: list[tuple[str, str, str]]) -> None:
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    print(f"\n{title}")
    print(f"{'measure':<{w0}}  {'value':>{w1}}  target")
    print(f"{'-' * w0}  {'-' * w1}  ------")
    for name, value, target in rows:
        print(f"{name:<{w0}}  {value:>{w1}}  {target}")


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m bench.cti_bench", description=__doc__)
    p.add_argument("--sessions", type=int, default=2000)
    p.add_argument("--hold", type=float, default=20.0, help="seconds to measure held sessions")
    p.add_argument("--quick", action="store_true", help="short runs, time_scale 0.01 detection only")
    args = p.parse_args(argv)
    configure_logging("bench", "WARNING")
    with contextlib.suppress(KeyboardInterrupt):
        rows = asyncio.run(run_all(args.sessions, args.hold, args.quick))
        print_table("CTI stub (GED-188) benchmark", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
