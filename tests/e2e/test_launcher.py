"""``finesse-emu up --detach`` / ``status --json`` / ``down``: the whole deployment as processes.

Uses the real addresses and ports of topology.py (127.0.10.x), as a user's deployment would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from finesse_emu.procs import pid_alive

pytestmark = pytest.mark.e2e
NAMES = ["awdb-a", "awdb-b", "cti-a", "cti-b", "xmpp-a", "xmpp-b", "finesse-a", "finesse-b"]


def emu(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "finesse_emu.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


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
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            comps = {c["name"]: c for c in status(run_dir)["components"]}
            nodes = [comps[n] for n in ("finesse-a", "finesse-b")]
            if all(n["state"] == "IN_SERVICE" and n["cti_side"] == "B" for n in nodes):
                break
            time.sleep(0.2)
        assert comps["cti-a"]["state"] == "down" and comps["cti-b"]["state"] == "active"
        assert all(n["state"] == "IN_SERVICE" and n["cti_side"] == "B" for n in nodes), nodes
        # chaos: a killed component is restored with its own command line and comes back idle.
        assert emu("chaos", "kill", "cti-a", "--run-dir", str(run_dir)).returncode == 1  # already down
        started = emu("chaos", "start", "cti-a", "--run-dir", str(run_dir))
        assert started.returncode == 0, started.stderr
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and comps["cti-a"]["state"] != "idle":
            comps = {c["name"]: c for c in status(run_dir)["components"]}
            time.sleep(0.2)
        assert comps["cti-a"]["state"] == "idle" and comps["cti-b"]["state"] == "active"
        pids.append(comps["cti-a"]["pid"])
        hang = emu("chaos", "hang", "awdb-a", "--run-dir", str(run_dir))
        assert hang.returncode == 0 and "hang" in hang.stdout
        heal = emu("chaos", "heal", "awdb-a", "--run-dir", str(run_dir))
        assert heal.returncode == 0 and "1 fault(s) cleared" in heal.stdout
        bad = emu("chaos", "latency", "xmpp-a", "--ms", "5", "--run-dir", str(run_dir))
        assert bad.returncode == 1 and "not available" in bad.stderr
        assert emu("chaos", "hang", "nope", "--run-dir", str(run_dir)).returncode == 1
    finally:
        down = emu("down", "--run-dir", str(run_dir))
    assert down.returncode == 0, down.stderr
    time.sleep(0.5)
    assert not [pid for pid in pids if pid_alive(pid)], "processes left behind"
    assert emu("status", "--run-dir", str(run_dir)).returncode == 1


def test_up_fails_fast_and_clean_when_a_component_cannot_start(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:  # awdb-a's address and port are taken
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.10.3", 1433))
        busy.listen()
        t0 = time.monotonic()
        up = emu("up", "--run-dir", str(tmp_path / "run"), "--agents", "5")
        elapsed = time.monotonic() - t0
    assert up.returncode == 1
    assert "awdb-a exited" in up.stderr and "Address already in use" in up.stderr
    assert elapsed < 30  # not the 60 s health timeout
    assert not (tmp_path / "run" / "deployment.json").exists()
