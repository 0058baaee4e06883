"""``finesse-emu run --attach`` on a deployment of ``finesse-emu up`` (processes on 127.0.106): the
run says it uses the deployment's time scale instead of the scenario's, its timeline starts with the
run (not with the deployment's ``up``), and it leaves nothing injected behind although its
expectation failed: the killed AWDB runs again, the CTI side's fault is gone."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest

from emu_base.admin import auth_headers
from emu_base.procs import run_cli
from finesse_emu.deployment.launcher import read_admin_token
from tests.helpers import eventually_blocking

pytestmark = pytest.mark.e2e
NETWORK = "127.0.106"


def faults_of(run_dir: Path, name: str) -> list[object]:
    state = json.loads((run_dir / "deployment.json").read_text())
    (c,) = [c for c in state["components"] if c["name"] == name]
    url = f"http://{c['host']}:{c['ports']['admin']}/emu/faults"
    req = urllib.request.Request(url, headers=auth_headers(read_admin_token(run_dir)))
    with urllib.request.urlopen(req, timeout=5) as resp:
        return list(json.loads(resp.read())["faults"])


def alive(run_dir: Path, name: str) -> bool:
    state = json.loads((run_dir / "deployment.json").read_text())
    (c,) = [c for c in state["components"] if c["name"] == name]
    try:
        os.kill(int(c["pid"]), 0)
    except (OSError, TypeError, ValueError):
        return False
    return True


def test_run_attach_heals_what_it_injected_and_draws_its_own_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    scenario = tmp_path / "attach.yaml"
    scenario.write_text(
        "name: attach\n"
        "deployment: {agents: 4, time_scale: 0.1}\n"
        "steps:\n"
        "  - until: {all_signed_in: true}\n"
        "  - fault: {action: kill, target: awdb-b}\n"
        "  - fault: {action: hang, target: cti-b}\n"
        "  - expect: {name: too many, desktops_on: {finesse-a: 99}}\n"
    )
    up = run_cli("up", "--detach", "--run-dir", str(run_dir), "--agents", "4", "--time-scale", "0.05",
                 "--network", NETWORK)  # fmt: skip
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        reports = tmp_path / "reports"
        done = run_cli(
            "run", str(scenario), "--attach", str(run_dir), "--report-dir", str(reports), timeout=180
        )
        assert done.returncode == 1, done.stdout + done.stderr
        assert (
            f"using the deployment's time scale 0.05 (from {run_dir}), not the scenario's 0.1" in done.stdout
        )
        # Nothing left injected: the AWDB started again, the CTI side's hang cleared.
        eventually_blocking(lambda: alive(run_dir, "awdb-b"), "awdb-b running again", within=30)
        assert faults_of(run_dir, "cti-b") == []
        (report,) = reports.iterdir()
        lines = (report / "history.jsonl").read_text().splitlines()
        events = [json.loads(line) for line in lines]
        # The deployment's logs go back to its `up`; the run's timeline starts with the run.
        assert min(e["t"] for e in events) >= 0
        assert any(e["source"] == "finesse-a" for e in events)  # the components' lines are in it
        heals = [e for e in events if e["event"] == "heal" and "(run ended)" in e.get("detail", "")]
        assert {h["target"] for h in heals} == {"awdb-b", "cti-b"}
    finally:
        assert run_cli("down", "--run-dir", str(run_dir)).returncode == 0
