"""``finesse-emu up`` and the AWDBs (issue 14), as processes on 127.0.27.

- The AWDBs' query API takes the deployment's login (``RUN_DIR/awdb-password``, 0600) and nothing
  else, while the nodes, which have it in their config, sign agents in.
- ``up --agents 60`` in a run directory left by ``up --agents 20`` used to keep the 20-agent AWDB
  files while the CTI sides had 60 agents: agents 1020..1059 got 401 and nothing said why. Now the
  files follow what ``up`` is asked for, and one edited by hand is never replaced silently.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import stat
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from emu_base.procs import run_cli

pytestmark = pytest.mark.e2e
NETWORK = "127.0.27"
NODES = {"finesse-a": f"{NETWORK}.7", "finesse-b": f"{NETWORK}.8"}
AWDBS = {"awdb-a": f"{NETWORK}.3", "awdb-b": f"{NETWORK}.4"}


def emu(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, timeout=timeout)


def up(run_dir: Path, agents: int) -> subprocess.CompletedProcess[str]:
    return emu(
        "up", "--detach", "--run-dir", str(run_dir), "--agents", str(agents),
        "--time-scale", "0.05", "--network", NETWORK,
    )  # fmt: skip


def get(url: str, user: str | None = None, password: str = "") -> tuple[int, Any]:
    req = urllib.request.Request(url)
    if user is not None:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_up_again_with_more_agents_signs_them_all_in_and_the_awdb_takes_only_its_login(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "run"
    first = up(run_dir, 20)
    try:
        assert first.returncode == 0, first.stdout + first.stderr
        first_password = (run_dir / "awdb-password").read_text().strip()
    finally:
        assert emu("down", "--run-dir", str(run_dir)).returncode == 0
    second = up(run_dir, 60)
    try:
        assert second.returncode == 0, second.stdout + second.stderr
        password_file = run_dir / "awdb-password"
        assert f"AWDB query API: login finesse, password in {password_file.absolute()}" in second.stdout
        password = password_file.read_text().strip()
        assert password != first_password and mode(password_file) == 0o600  # new with each `up`
        state = json.loads((run_dir / "deployment.json").read_text())
        assert state["awdb_password_file"] == str(password_file.absolute())
        commands = " ".join(" ".join(c["command"]) for c in state["components"])
        assert password not in commands and "--login-password-file" in commands
        for name in ("finesse-a", "finesse-b"):
            assert password not in (run_dir / f"{name}.yaml").read_text()

        # All 60 agents of this `up` sign in on both nodes, the last one too.
        for name, host in NODES.items():
            for agent in ("1000", "1019", "1020", "1059"):
                status, _ = get(f"http://{host}:8082/finesse/api/User/{agent}", agent, f"pass{agent}")
                assert status == 200, (name, agent, status)
        regenerated = [
            json.loads(line)
            for line in (run_dir / "awdb-a.log").read_text().splitlines()
            if "awdb_db_regenerated" in line
        ]
        assert len(regenerated) == 1 and regenerated[0]["asked"] == "60"

        # The AWDBs answer their login only; the nodes have it.
        for name, host in AWDBS.items():
            base = f"http://{host}:1433/awdb/v1"
            assert get(f"{base}/agents")[0] == 401, name
            assert get(f"{base}/agents", "finesse", first_password)[0] == 401, name  # the last `up`'s
            assert get(f"{base}/agents", "1000", "pass1000")[0] == 401, name
            status, body = get(f"{base}/agents", "finesse", password)
            assert status == 200 and len(json.loads(body)["agents"]) == 60, name
            db = run_dir / f"{name}.sqlite"
            assert mode(db) == 0o600, name
            for side in (run_dir / f"{name}.sqlite-wal", run_dir / f"{name}.sqlite-shm"):
                assert not side.exists() or mode(side) == 0o600, side
    finally:
        assert emu("down", "--run-dir", str(run_dir)).returncode == 0

    # A hand-edited AWDB file is the user's: `up` for other agents refuses, says why and what to do.
    with sqlite3.connect(run_dir / "awdb-a.sqlite") as conn:
        conn.execute("UPDATE person SET first_name = 'Edited' WHERE login_name = 'agent0001'")
    conn.close()
    refused = emu("up", "--run-dir", str(run_dir), "--agents", "20", "--network", NETWORK)  # fails at once
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "awdb-a exited with code 2" in refused.stderr
    assert "60 agents from '60' and was changed since it was seeded" in refused.stderr
    assert "ask for what it was seeded from ('60')" in refused.stderr and "move it away" in refused.stderr
    assert not (run_dir / "deployment.json").exists()
    with sqlite3.connect(run_dir / "awdb-a.sqlite") as conn:
        row = conn.execute("SELECT first_name FROM person WHERE login_name = 'agent0001'").fetchone()
        count = conn.execute("SELECT count(*) FROM agent").fetchone()[0]
    conn.close()
    assert (row[0], count) == ("Edited", 60)  # untouched
