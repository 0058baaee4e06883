"""``finesse-emu up --detach`` / ``status --json`` / ``down``: the whole deployment as processes.

Uses the real addresses and ports of topology.py (127.0.10.x), as a user's deployment would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from emu_base.procs import pid_alive, run_cli
from finesse_emu.deployment.launcher import Deployment, write_secrets
from tests.helpers import eventually_blocking

pytestmark = pytest.mark.e2e
# edge-a, edge-b: the nodes' client-path proxies (finesse_emu/edge/), started before the nodes.
NAMES = [
    "awdb-a", "awdb-b", "cti-a", "cti-b", "xmpp-a", "xmpp-b", "imp-a", "imp-b", "edge-a", "edge-b",
    "finesse-a", "finesse-b",
]  # fmt: skip
NODES = ("finesse-a", "finesse-b")


def emu(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, timeout=timeout)


def status(run_dir: Path) -> dict[str, Any]:
    done = emu("status", "--json", "--run-dir", str(run_dir))
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_up_status_kill_and_down(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    up = emu("up", "--detach", "--run-dir", str(run_dir), "--agents", "10", "--time-scale", "0.05")
    pids: list[int] = []
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "finesse-a  publisher  127.0.10.7  IN_SERVICE" in up.stdout
        report = status(run_dir)
        comps = {c["name"]: c for c in report["components"]}
        pids = [c["pid"] for c in report["components"]]
        assert list(comps) == NAMES
        assert comps["cti-a"]["state"] == "active" and comps["cti-b"]["state"] == "idle"
        assert comps["finesse-a"]["ports"] == {"rest_http": 8082, "rest_https": 8445, "admin": 8089}
        assert comps["finesse-b"]["role"] == "subscriber" and comps["finesse-b"]["signed_in_agents"] == 0
        assert report["sample_agents"][0] == {"id": "1000", "login": "agent0001", "password": "pass1000",
                                              "extension": "2000"}  # fmt: skip
        os.kill(comps["cti-a"]["pid"], signal.SIGKILL)  # a killed container stays dead
        comps = eventually_blocking(
            lambda: {c["name"]: c for c in status(run_dir)["components"]},
            "both nodes IN_SERVICE on CTI side B",
            until=lambda seen: all(
                seen[n]["state"] == "IN_SERVICE" and seen[n]["cti_side"] == "B" for n in NODES
            ),
            within=30,
            every=0.2,
        )
        assert comps["cti-a"]["state"] == "down" and comps["cti-b"]["state"] == "active"
        # chaos: a killed component is restored with its own command line and comes back idle.
        assert emu("chaos", "kill", "cti-a", "--run-dir", str(run_dir)).returncode == 2  # already down
        started = emu("chaos", "start", "cti-a", "--run-dir", str(run_dir))
        assert started.returncode == 0, started.stderr
        comps = eventually_blocking(
            lambda: {c["name"]: c for c in status(run_dir)["components"]},
            "the restarted cti-a idle",
            until=lambda seen: seen["cti-a"]["state"] == "idle",
            within=20,
            every=0.2,
        )
        assert comps["cti-b"]["state"] == "active"
        pids.append(comps["cti-a"]["pid"])
        hang = emu("chaos", "hang", "awdb-a", "--run-dir", str(run_dir))
        assert hang.returncode == 0 and "hang" in hang.stdout
        heal = emu("chaos", "heal", "awdb-a", "--run-dir", str(run_dir))
        assert heal.returncode == 0 and "1 fault(s) cleared" in heal.stdout
        bad = emu("chaos", "latency", "xmpp-a", "--ms", "5", "--run-dir", str(run_dir))
        assert bad.returncode == 2 and "not available" in bad.stderr
        assert emu("chaos", "hang", "nope", "--run-dir", str(run_dir)).returncode == 2
    finally:
        down = emu("down", "--run-dir", str(run_dir))
    assert down.returncode == 0, down.stderr
    eventually_blocking(
        lambda: [pid for pid in pids if pid_alive(pid)],
        "no process left behind",
        until=lambda alive: alive == [],
    )
    assert emu("status", "--run-dir", str(run_dir)).returncode == 2  # no deployment: cannot run
    # The CA and the certificates outlive the deployment: the next up keeps them (nothing made).
    again = write_secrets(run_dir.absolute(), Deployment(run_dir).node_hosts())
    assert again.made == () and (run_dir / "ca.crt").exists()


def test_up_refuses_a_taken_address_and_fails_fast_when_a_component_exits(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:  # awdb-a's address and port are taken
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.24.3", 1433))
        busy.listen()
        up = emu("up", "--run-dir", str(tmp_path / "run"), "--agents", "5", "--network", "127.0.24")
    assert up.returncode == 2  # cannot run
    assert "address(es) in use: 127.0.24.3:1433" in up.stderr
    assert not (tmp_path / "run" / "deployment.json").exists()
    # A component that exits while starting (here: an agent file that does not exist) fails up at
    # once with its last log lines, not after the 60 s health timeout, and nothing is left running.
    t0 = time.monotonic()
    up = emu(
        "up",
        "--run-dir",
        str(tmp_path / "run2"),
        "--agents",
        str(tmp_path / "nope.yaml"),
        "--network",
        "127.0.24",
    )
    elapsed = time.monotonic() - t0
    assert up.returncode == 2  # cannot run
    assert "exited with code" in up.stderr and "nope.yaml" in up.stderr, up.stderr
    assert elapsed < 30
    assert not (tmp_path / "run2" / "deployment.json").exists()
