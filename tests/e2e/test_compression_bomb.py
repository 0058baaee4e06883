"""A Finesse node process and unauthenticated gzip bombs (issue 14, finding 5), measured from /proc.

The attack: a 1 MB gzip body (1 GiB of zeros inflated) sent to SystemInfo or /desktop/* cost the
node CPU and memory although no handler reads a body there (about 3 s of CPU per request on this
aiohttp). Now such a body is never inflated: the node's CPU and RSS barely move.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from emu_base.procs import Proc, free_port, wait_health
from tests.gzipbomb import gzip_bomb, send_raw

HOST = "127.0.0.1"
pytestmark = pytest.mark.e2e


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (/proc/PID/stat fields 14 and 15, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def test_gzip_bombs_cost_a_node_process_nothing(tmp_path: Path) -> None:
    http, admin = free_port(HOST), free_port(HOST)
    # No CTI server and no AWDB: SystemInfo, desktop content and the control plane answer anyway.
    config = {
        "name": "finesse-a",
        "host": HOST,
        "http_port": http,
        "https_port": -1,
        "admin_port": admin,
        "cti_sides": [["A", HOST, free_port(HOST)], ["B", HOST, free_port(HOST)]],
        "awdb_urls": [f"http://{HOST}:{free_port(HOST)}"],
    }
    (tmp_path / "node.yaml").write_text(yaml.safe_dump(config))
    bomb = gzip_bomb(1 << 30)
    proc = Proc("finesse-a", ["-m", "finesse_emu.server", "--config", str(tmp_path / "node.yaml")],
                tmp_path / "finesse-a.log")  # fmt: skip
    try:
        await wait_health(HOST, admin)
        rss0 = rss_mb(proc.pid)
        for port, path in [
            (http, "/finesse/api/SystemInfo"),
            (http, "/desktop/resources/bundle0.js"),
            (http, "/desktop/gadgets/xml/gadget0"),
            (admin, "/emu/health"),
        ]:
            head = f"GET {path} HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip"
            cpu0 = cpu_seconds(proc.pid)
            status, _ = await send_raw(HOST, port, head, bomb)
            cpu = cpu_seconds(proc.pid) - cpu0
            # Before: about 3 s of CPU per bomb; reading and dropping 1 MB costs milliseconds.
            assert cpu < 0.15, f"{path}: {cpu:.2f} s of CPU for a body nobody reads"
            assert status == 200, path
        rss = rss_mb(proc.pid) - rss0
        assert rss < 25, f"RSS grew {rss:.0f} MB"
    finally:
        proc.stop()
