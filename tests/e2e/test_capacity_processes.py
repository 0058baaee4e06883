"""A node process started with ``--capacity 4vcpu`` (CTI sides and an AWDB as processes too): its
sign-ins queue for the Agent PG as the capacity model says.

The model's times are lower bounds a loaded host can only add to, so the test asserts the bound,
never an upper one (not a benchmark). time_scale 2 doubles the model's delays and not the host's
own work: the same 20 sign-ins take about 0.1 s without the model, far below the 0.81 s bound.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
import yaml

from emu_base.procs import Proc, cti_stub_argv, free_port, wait_health
from finesse_emu.capacity import COSTS

HOST = "127.0.0.1"
SCALE = 2.0
AGENTS = 20
pytestmark = pytest.mark.e2e


@asynccontextmanager
async def node_processes(tmp_path: Path, capacity: str) -> AsyncIterator[int]:
    """CTI sides A and B, an AWDB and a node started with ``--capacity``; yields its HTTP port."""
    ports = {
        k: free_port() for k in ("a", "b", "la", "lb", "adm_a", "adm_b", "awdb", "awdb_adm", "http", "adm")
    }
    procs: list[Proc] = []
    try:
        argv = cti_stub_argv(
            "A", HOST, ports["a"], ports["adm_a"], ports["la"], (HOST, ports["lb"]), AGENTS, SCALE
        )
        procs.append(Proc("cti-a", argv, tmp_path / "cti-a.log"))
        await wait_health(HOST, ports["adm_a"], "active")  # A active before B starts
        argv = cti_stub_argv(
            "B", HOST, ports["b"], ports["adm_b"], ports["lb"], (HOST, ports["la"]), AGENTS, SCALE
        )
        procs.append(Proc("cti-b", argv, tmp_path / "cti-b.log"))
        await wait_health(HOST, ports["adm_b"], "idle")
        awdb_argv = ["-m", "awdb_stub", "--host", HOST, "--port", str(ports["awdb"])]
        procs.append(
            Proc(
                "awdb-a",
                [*awdb_argv, "--admin-port", str(ports["awdb_adm"]), "--agents", str(AGENTS)],
                tmp_path / "awdb-a.log",
            )
        )
        config = {
            "name": "finesse-a",
            "host": HOST,
            "http_port": ports["http"],
            "https_port": -1,
            "admin_port": ports["adm"],
            "cti_sides": [["A", HOST, ports["a"]], ["B", HOST, ports["b"]]],
            "awdb_urls": [f"http://{HOST}:{ports['awdb']}"],
        }
        (tmp_path / "finesse-a.yaml").write_text(yaml.safe_dump(config))
        node_argv = ["-m", "finesse_emu.server", "--config", str(tmp_path / "finesse-a.yaml")]
        node_argv += ["--capacity", capacity, "--time-scale", str(SCALE)]
        procs.append(Proc("finesse-a", node_argv, tmp_path / "finesse-a.log"))
        await wait_health(HOST, ports["adm"], "IN_SERVICE", timeout=30)
        yield ports["http"]
    finally:
        for proc in procs:  # SIGTERM to all first: they stop together
            proc.terminate()
        for proc in procs:
            proc.stop()


async def _sign_ins(port: int) -> float:
    """Seconds from sending AGENTS sign-ins at once to the last 202."""

    async def one(http: aiohttp.ClientSession, k: int) -> None:
        agent = str(1000 + k)
        token = base64.b64encode(f"{agent}:pass{agent}".encode()).decode()
        headers = {"Authorization": f"Basic {token}", "Content-Type": "application/xml"}
        body = f"<User><state>LOGIN</state><extension>{2000 + k}</extension></User>"
        url = f"http://{HOST}:{port}/finesse/api/User/{agent}"
        async with http.put(url, data=body, headers=headers) as resp:
            assert resp.status == 202, await resp.text()

    async with aiohttp.ClientSession() as http:
        started = time.monotonic()
        await asyncio.gather(*(one(http, k) for k in range(AGENTS)))
        return time.monotonic() - started


async def test_a_node_process_with_capacity_queues_sign_ins_for_the_agent_pg(tmp_path: Path) -> None:
    async with node_processes(tmp_path, "4vcpu") as port:
        took = await _sign_ins(port)
    # 20 logins through the PG, 20.3 emulated ms each, one at a time: at least 0.406 emulated
    # seconds, 0.81 s at time_scale 2, however fast the host.
    assert took >= AGENTS * COSTS.pg_sign_in * SCALE
