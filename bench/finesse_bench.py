"""Finesse node benchmark: a whole deployment as real processes on 127.0.0.1, time_scale 1.

CTI side A and B, an AWDB stub, Prosody and one ``python -m finesse_emu.server`` node; the load comes
from this (bench) process, never from the node's:

- SystemInfo GET requests/s on kept-alive connections (1 and 32 at a time), p50/p99 latency, the
  node's CPU (% of one core) and the load generator's, to tell which side was the limit;
- User GET the same way (HTTP Basic, every credential already in the node's cache);
- state change -> XMPP event: signed-in agents PUT READY / NOT_READY with a unique requestId; the
  time from sending the PUT to the agent's XMPP client receiving the pubsub event carrying it.

Each figure is taken with the node on the default asyncio loop and, when uvloop is installed, on
uvloop (``--uvloop``), each on a fresh deployment.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib.util
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import aiohttp
import psutil
import yaml

from bench.cti_bench import print_table
from emu_base.logs import configure_logging
from emu_base.procs import Proc, cti_stub_argv, free_port, wait_health
from finesse_emu.desktop.xmpp import AgentXmpp
from finesse_emu.xmpp.prosody import ProsodyProcess, agent_accounts

HOST = "127.0.0.1"
API = "/finesse/api"
FIRST_AGENT = 1000  # the generated directory's first agent id (stubs and AWDB agree)
Row = tuple[str, str, str]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def basic(user: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:pass{user}".encode()).decode()


def uvloop_installed() -> bool:
    return importlib.util.find_spec("uvloop") is not None


class CpuMeter:
    """CPU seconds (user + system) of one process, between ``start`` and ``stop``."""

    def __init__(self, pid: int | None = None) -> None:
        self.ps = psutil.Process(pid)
        self._t0 = 0.0

    def seconds(self) -> float:
        t = self.ps.cpu_times()
        return float(t.user + t.system)

    def start(self) -> None:
        self._t0 = self.seconds()

    def stop(self) -> float:
        return self.seconds() - self._t0


class MachineCpu:
    """Busy CPU seconds of the whole machine (every core), to see other processes' share."""

    def __init__(self) -> None:
        self._t0 = 0.0

    @staticmethod
    def seconds() -> float:
        t = psutil.cpu_times()
        return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))

    def start(self) -> None:
        self._t0 = self.seconds()

    def stop(self) -> float:
        return self.seconds() - self._t0


class Deployment:
    """CTI A/B, AWDB, Prosody and one Finesse node, each its own process, on free loopback ports."""

    def __init__(
        self,
        workdir: Path,
        agents: int,
        uvloop: bool,
        host: str = HOST,
        node_env: dict[str, str] | None = None,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.agents = agents
        self.uvloop = uvloop
        self.host = host
        self.node_env = node_env or {}  # e.g. PYTHONPATH: the node from another checkout
        self.ports = {
            k: free_port(host)
            for k in ("a", "b", "la", "lb", "adm_a", "adm_b", "awdb", "awdb_adm", "http", "adm")
        }
        # Real passwords, as every deployment: the stubs' agents, finesse's in prosody/xmpp-password.
        self.prosody = ProsodyProcess(
            host, host=host, c2s_port=free_port(host), http_port=free_port(host), run_dir=workdir / "prosody",
            accounts=agent_accounts(agents),
        )  # fmt: skip
        self.procs: list[Proc] = []
        self.node: Proc | None = None

    def pids(self) -> dict[str, int]:
        """The processes whose CPU the latency runs report: node, Prosody and the active CTI side."""
        assert self.node is not None and self.prosody.pid is not None
        return {"node": self.node.pid, "Prosody": self.prosody.pid, "CTI A": self.procs[0].pid}

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.ports['http']}{API}"

    async def start(self) -> None:
        p = self.ports
        await self.prosody.start()
        quiet = ("--log-level", "WARNING")
        for side, port, adm, link, peer in (("A", "a", "adm_a", "la", "lb"), ("B", "b", "adm_b", "lb", "la")):
            argv = cti_stub_argv(
                side, self.host, p[port], p[adm], p[link], (self.host, p[peer]), self.agents, 1.0, quiet
            )
            self.procs.append(Proc(f"cti-{side.lower()}", argv, self.workdir / f"cti-{side.lower()}.log"))
        awdb = ["-m", "awdb_stub", "--host", self.host, "--port", str(p["awdb"]), "--admin-port"]
        awdb += [str(p["awdb_adm"]), "--agents", str(self.agents), *quiet]
        self.procs.append(Proc("awdb-a", awdb, self.workdir / "awdb-a.log"))
        config = {
            "name": "finesse-a",
            "host": self.host,
            "http_port": p["http"],
            "https_port": -1,
            "admin_port": p["adm"],
            "cti_sides": [["A", self.host, p["a"]], ["B", self.host, p["b"]]],
            "awdb_urls": [f"http://{self.host}:{p['awdb']}"],
            "xmpp_host": self.host,
            "xmpp_port": self.prosody.c2s_port,
            "xmpp_password_file": str(self.prosody.config.password_file),
        }
        cfg = self.workdir / "finesse-a.yaml"
        cfg.write_text(yaml.safe_dump(config))
        argv = ["-m", "finesse_emu.server", "--config", str(cfg), "--time-scale", "1", *quiet]
        if self.uvloop:
            argv.append("--uvloop")
        # The asyncio half pins the standard loop (the node's default is uvloop when installed).
        loop_env = {} if self.uvloop else {"FINESSE_EMU_LOOP": "asyncio"}
        self.node = Proc("finesse-a", argv, self.workdir / "finesse-a.log", {**loop_env, **self.node_env})
        self.procs.append(self.node)
        try:
            await wait_health(self.host, p["adm"], "IN_SERVICE", timeout=60)
        except TimeoutError as exc:
            tail = "\n".join(self.node.log_lines()[-20:])
            raise RuntimeError(f"the Finesse node did not come IN_SERVICE:\n{tail}") from exc

    async def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.prosody.kill()  # in-memory state only; SIGTERM costs about a second
        await self.prosody.wait()


# -- HTTP load ------------------------------------------------------------------------------------
class _KeepAlive(asyncio.Protocol):
    """One kept-alive HTTP/1.1 connection with one request in flight: send, read the answer, repeat.

    Deliberately minimal (status line and Content-Length only), about 30 us of CPU per request:
    aiohttp's client takes about 100 us, CPU that the node (about 150 us) shares on two cores.
    """

    def __init__(self, requests: list[bytes], deadline: float, latencies: list[float]) -> None:
        self.requests = requests
        self.deadline = deadline
        self.latencies = latencies
        self.failures = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._transport: asyncio.WriteTransport | None = None
        self._buf = bytearray()
        self._need = -1
        self._ok = False
        self._sent = 0.0
        self._next = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.WriteTransport, transport)
        self._send()

    def _send(self) -> None:
        assert self._transport is not None
        request = self.requests[self._next]
        self._next = (self._next + 1) % len(self.requests)
        self._sent = time.perf_counter()
        self._transport.write(request)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        while True:
            if self._need < 0:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(buf[:end]).lower()
                at = head.find(b"\r\ncontent-length:")
                if at < 0:
                    self._fail(RuntimeError(f"no Content-Length in {head[:200]!r}"))
                    return
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
                self._ok = head[9:12] == b"200"
                self._need = end + 4 + length
            if len(buf) < self._need:
                return
            del buf[: self._need]
            self._need = -1
            now = time.perf_counter()
            self.latencies.append(now - self._sent)
            if not self._ok:
                self.failures += 1
            if now >= self.deadline:
                assert self._transport is not None
                self._transport.close()
                if not self.done.done():
                    self.done.set_result(None)
                return
            self._send()

    def _fail(self, exc: Exception) -> None:
        if self._transport is not None:
            self._transport.close()
        if not self.done.done():
            self.done.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError("the node closed the connection"))


@dataclass
class LoadResult:
    connections: int
    requests: int
    per_s: float
    p50_ms: float
    p99_ms: float
    node_cpu_pct: float
    client_cpu_pct: float
    other_cpu_pct: float  # every other process on the machine (other components, other users)
    failures: int
    runs: list[float] = field(default_factory=list)  # req/s of every run when best of several


async def best_of(
    repeats: int, port: int, requests: list[bytes], connections: int, seconds: float, node_pid: int
) -> LoadResult:
    """The best of ``repeats`` runs (other work on the machine only ever makes a run slower)."""
    results = [await http_load(port, requests, connections, seconds, node_pid) for _ in range(repeats)]
    best = max(results, key=lambda r: r.per_s)
    best.runs = [r.per_s for r in results]
    return best


async def http_load(
    port: int, requests: list[bytes], connections: int, seconds: float, node_pid: int, host: str = HOST
) -> LoadResult:
    """``connections`` kept-alive connections, each cycling through ``requests`` for ``seconds``."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    node_cpu, my_cpu, machine = CpuMeter(node_pid), CpuMeter(), MachineCpu()
    node_cpu.start()
    my_cpu.start()
    machine.start()
    t0 = time.perf_counter()
    deadline = t0 + seconds
    protos: list[_KeepAlive] = []
    for i in range(connections):
        # Spread the request list over the connections (User GET: every agent's credentials used).
        mine = requests[i % len(requests) :: connections] or requests
        proto = _KeepAlive(mine, deadline, latencies)
        protos.append(proto)
        await loop.create_connection(lambda p=proto: p, host, port)  # type: ignore[misc]
    async with asyncio.timeout(seconds + 10):
        await asyncio.gather(*(p.done for p in protos))
    elapsed = time.perf_counter() - t0
    node_s, my_s, all_s = node_cpu.stop(), my_cpu.stop(), machine.stop()
    return LoadResult(
        connections=connections,
        requests=len(latencies),
        per_s=len(latencies) / elapsed,
        p50_ms=pct(latencies, 0.5) * 1e3,
        p99_ms=pct(latencies, 0.99) * 1e3,
        node_cpu_pct=100 * node_s / elapsed,
        client_cpu_pct=100 * my_s / elapsed,
        other_cpu_pct=max(0.0, 100 * (all_s - node_s - my_s) / elapsed),
        failures=sum(p.failures for p in protos),
    )


def get_request(port: int, path: str, user: str | None = None, host: str = HOST) -> bytes:
    lines = [f"GET {API}/{path} HTTP/1.1", f"Host: {host}:{port}", "Accept: application/xml"]
    if user is not None:
        lines.append(f"Authorization: {basic(user)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def load_rows(label: str, r: LoadResult, target: str = "-") -> list[Row]:
    conns = "1 connection" if r.connections == 1 else f"{r.connections} connections"
    per_core = r.per_s / (r.node_cpu_pct / 100) if r.node_cpu_pct else 0.0
    rows = [
        (f"{label}, {conns}", f"{r.per_s:,.0f} req/s", target),
        *(
            [(f"  best of {len(r.runs)} runs, all runs", " ".join(f"{v:,.0f}" for v in r.runs), "-")]
            if len(r.runs) > 1
            else []
        ),
        ("  per second of node CPU (a whole core's worth)", f"{per_core:,.0f} req", "-"),
        ("  p50 / p99 latency", f"{r.p50_ms:.2f} / {r.p99_ms:.2f} ms", "-"),
        (
            "  CPU: node / load generator / all else",
            f"{r.node_cpu_pct:.0f}% / {r.client_cpu_pct:.0f}% / {r.other_cpu_pct:.0f}%",
            "% of one core",
        ),
    ]
    if r.failures:
        rows.append(("  non-200 answers", str(r.failures), "0"))
    return rows


# -- state change -> XMPP event ---------------------------------------------------------------------
@dataclass
class LatencyResult:
    changes: int
    lost: int
    put_p50_ms: float
    event_p50_ms: float
    event_p99_ms: float
    node_cpu_ms_per_change: float
    cpu_pct: dict[str, float]  # process -> % of one core during the run ("bench": this process)
    per_s: float


class Agents:
    """Signed-in agents, each with its XMPP client, changing state over REST."""

    def __init__(self, dep: Deployment, http: aiohttp.ClientSession, count: int) -> None:
        self.dep = dep
        self.http = http
        self.ids = [str(FIRST_AGENT + i) for i in range(count)]
        self.xmpp: dict[str, AgentXmpp] = {}
        self.ready: dict[str, bool] = dict.fromkeys(self.ids, False)
        self._seq = 0

    async def connect(self) -> None:
        port = self.dep.prosody.c2s_port
        for i in range(0, len(self.ids), 25):
            batch = self.ids[i : i + 25]
            clients = [AgentXmpp(f"{a}@{HOST}/bench", f"pass{a}", HOST, port) for a in batch]
            await asyncio.gather(*(c.connect(wait_finesse=True) for c in clients))
            self.xmpp.update(zip(batch, clients, strict=True))

    def close(self) -> None:
        for client in self.xmpp.values():
            client.abort()

    async def change(self, agent: str, body: str, timeout: float = 5.0) -> tuple[float, float] | None:
        """PUT a state; (seconds to the 202, seconds to the XMPP event), or None if no event came."""
        self._seq += 1
        request_id = f"bench-{self._seq}"
        marker = f"<requestId>{request_id}</requestId>"
        hdrs = {"Authorization": basic(agent), "Content-Type": "application/xml", "requestId": request_id}
        events = self.xmpp[agent].events
        t0 = time.perf_counter()
        async with self.http.put(f"{self.dep.base}/User/{agent}", data=body, headers=hdrs) as resp:
            await resp.read()
            if resp.status != 202:
                raise RuntimeError(f"PUT User/{agent} answered {resp.status}")
        put = time.perf_counter() - t0
        try:
            async with asyncio.timeout(timeout):
                while marker not in (await events.get()).update:
                    pass
        except TimeoutError:
            return None
        return put, time.perf_counter() - t0

    async def sign_in(self) -> None:
        async def one(i: int, agent: str) -> None:
            body = f"<User><state>LOGIN</state><extension>{2000 + i}</extension></User>"
            if await self.change(agent, body, timeout=15) is None:
                raise RuntimeError(f"no XMPP event for agent {agent}'s LOGIN")

        await asyncio.gather(*(one(i, a) for i, a in enumerate(self.ids)))

    async def toggle(self, agent: str) -> tuple[float, float] | None:
        self.ready[agent] = not self.ready[agent]
        state = "READY" if self.ready[agent] else "NOT_READY"
        return await self.change(agent, f"<User><state>{state}</state></User>")


async def state_change_latency(agents: Agents, changes: int, concurrent: bool) -> LatencyResult:
    """``changes`` toggles: one at a time round robin, or every agent toggling in its own loop."""
    results: list[tuple[float, float] | None] = []
    assert agents.dep.node is not None
    meters = {name: CpuMeter(pid) for name, pid in agents.dep.pids().items()}
    meters["bench"] = CpuMeter()
    for meter in meters.values():
        meter.start()
    t0 = time.perf_counter()
    if concurrent:
        rounds = max(1, changes // len(agents.ids))

        async def loop(agent: str) -> None:
            for _ in range(rounds):
                results.append(await agents.toggle(agent))

        await asyncio.gather(*(loop(a) for a in agents.ids))
    else:
        for n in range(changes):
            results.append(await agents.toggle(agents.ids[n % len(agents.ids)]))
    elapsed = time.perf_counter() - t0
    cpu = {name: meter.stop() for name, meter in meters.items()}
    got = [r for r in results if r is not None]
    if not got:
        raise RuntimeError("no state change event reached the agents' XMPP clients")
    return LatencyResult(
        changes=len(results),
        lost=len(results) - len(got),
        put_p50_ms=pct([r[0] for r in got], 0.5) * 1e3,
        event_p50_ms=pct([r[1] for r in got], 0.5) * 1e3,
        event_p99_ms=pct([r[1] for r in got], 0.99) * 1e3,
        node_cpu_ms_per_change=cpu["node"] * 1e3 / len(results),
        cpu_pct={name: 100 * seconds / elapsed for name, seconds in cpu.items()},
        per_s=len(results) / elapsed,
    )


def latency_rows(label: str, r: LatencyResult) -> list[Row]:
    rows = [
        (
            f"{label} ({r.changes} changes)",
            f"{r.event_p50_ms:.2f} / {r.event_p99_ms:.2f} ms",
            "p50 / p99",
        ),
        ("  PUT -> 202 answer, p50", f"{r.put_p50_ms:.2f} ms", "-"),
        ("  state changes completed per second", f"{r.per_s:,.0f}/s", "-"),
        ("  node CPU per state change", f"{r.node_cpu_ms_per_change:.2f} ms", "-"),
        (
            "  CPU: " + " / ".join(r.cpu_pct),
            " / ".join(f"{v:.0f}%" for v in r.cpu_pct.values()),
            "% of one core",
        ),
    ]
    if r.lost:
        rows.append(("  changes whose event never came (5 s)", str(r.lost), "0"))
    return rows


# -- one deployment ---------------------------------------------------------------------------------
async def run_variant(
    workdir: Path,
    agents: int,
    xmpp_agents: int,
    changes: int,
    seconds: float,
    repeats: int,
    uvloop: bool,
) -> list[Row]:
    dep = Deployment(workdir, agents, uvloop)
    rows: list[Row] = []
    try:
        t0 = time.perf_counter()
        await dep.start()
        assert dep.node is not None
        rows.append(
            ("deployment up (5 processes), node IN_SERVICE", f"{time.perf_counter() - t0:.1f} s", "-")
        )
        port, pid = dep.ports["http"], dep.node.pid
        system_info = [get_request(port, "SystemInfo")]
        for conns in (1, 32):
            r = await best_of(repeats, port, system_info, conns, seconds, pid)
            target = ">= 10,000/s with uvloop" if conns > 1 else "-"
            rows += load_rows("SystemInfo GET", r, target)

        ids = [str(FIRST_AGENT + i) for i in range(agents)]
        async with aiohttp.ClientSession() as http:
            # Warm the credential cache: one AWDB lookup (and one set of subscriptions) per agent.
            sem = asyncio.Semaphore(16)

            async def warm(agent: str) -> None:
                async with (
                    sem,
                    http.get(f"{dep.base}/User/{agent}", headers={"Authorization": basic(agent)}) as resp,
                ):
                    await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"GET User/{agent} answered {resp.status}")

            await asyncio.gather(*(warm(a) for a in ids))
            await asyncio.sleep(1.0)  # let the node's pubsub subscriptions for them settle
            users = [get_request(port, f"User/{a}", a) for a in ids]
            for conns in (1, 32):
                r = await best_of(repeats, port, users, conns, seconds, pid)
                rows += load_rows(f"User GET (Basic, warm cache, {agents} users)", r)

            team = Agents(dep, http, xmpp_agents)
            try:
                await team.connect()
                await asyncio.sleep(0.3)
                await team.sign_in()
                r_one = await state_change_latency(team, changes, concurrent=False)
                rows += latency_rows("state change -> XMPP event, one at a time", r_one)
                r_all = await state_change_latency(team, changes, concurrent=True)
                rows += latency_rows(f"state change -> XMPP event, {xmpp_agents} agents at once", r_all)
            finally:
                team.close()
        rss = psutil.Process(pid).memory_info().rss / 2**20
        rows.append(("node RSS at the end", f"{rss:.0f} MB", "-"))
    finally:
        await dep.stop()
    return rows


async def run_all(
    agents: int = 200,
    xmpp_agents: int = 50,
    changes: int = 300,
    seconds: float = 2.0,
    repeats: int = 3,
    quick: bool = False,
    loops: tuple[str, ...] = ("asyncio", "uvloop"),
) -> list[Row]:
    if quick:
        seconds, repeats, changes = min(seconds, 1.0), 1, min(changes, 100)
    xmpp_agents = min(xmpp_agents, agents)
    rows: list[Row] = []
    idle = MachineCpu()
    idle.start()
    await asyncio.sleep(1.0)
    busy = f"{100 * idle.stop():.0f}% of one core busy"
    rows.append(
        (f"machine: {psutil.cpu_count()} cores, before the run", busy, "~0% (other work skews it all)")
    )
    with tempfile.TemporaryDirectory(prefix="finesse-bench-") as tmp:
        for name in loops:
            if name == "uvloop" and not uvloop_installed():
                rows.append(("node on uvloop", "skipped", "uvloop is not installed"))
                continue
            rows.append((f"[node on {name}{' (--uvloop)' if name == 'uvloop' else ''}]", "", ""))
            rows += await run_variant(
                Path(tmp) / name, agents, xmpp_agents, changes, seconds, repeats, uvloop=name == "uvloop"
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m bench.finesse_bench", description=__doc__)
    p.add_argument(
        "--agents", type=int, default=200, help="agents in the directory (User GET spreads over them)"
    )
    p.add_argument("--xmpp-agents", type=int, default=50, help="agents signed in with an XMPP client")
    p.add_argument("--changes", type=int, default=300, help="state changes per latency run")
    p.add_argument("--seconds", type=float, default=2.0, help="seconds per HTTP load run")
    p.add_argument("--repeat", type=int, default=3, help="runs per HTTP load phase (the best is shown)")
    p.add_argument(
        "--loop", choices=["asyncio", "uvloop", "both"], default="both", help="the node's event loop"
    )
    p.add_argument("--quick", action="store_true", help="one 1 s run per load phase, 100 changes")
    args = p.parse_args(argv)
    configure_logging("bench", "WARNING")
    loops = ("asyncio", "uvloop") if args.loop == "both" else (args.loop,)
    with contextlib.suppress(KeyboardInterrupt):
        rows = asyncio.run(
            run_all(args.agents, args.xmpp_agents, args.changes, args.seconds, args.repeat, args.quick, loops)
        )
        print_table(f"Finesse node ({args.agents} agents, time_scale 1, every component a process)", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
