"""Every component's ``/metrics`` from ``finesse-emu up`` processes (docs/metrics.md), on 127.0.107:
each control plane refuses a scrape without the deployment's token or with a wrong one, and with it
answers Prometheus text that prometheus_client's parser reads; the series the Grafana dashboard
plots are all served."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from emu_base.procs import run_cli
from finesse_emu.deployment import topology as T

pytestmark = pytest.mark.e2e
NETWORK = "127.0.107"
COMPONENTS = [
    T.on_network(ep, NETWORK) for ep in (T.CTI_A, T.CTI_B, T.AWDB_A, T.AWDB_B, T.FINESSE_A, T.FINESSE_B)
]
DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "finesse-emu.json"


def emu(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, timeout=timeout)


def get(url: str, token: str | None) -> tuple[int, str]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_in_service(ep: T.Endpoint, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            status, text = get(f"http://{ep.host}:{ep.port}/finesse/api/SystemInfo", None)
        except OSError:
            status, text = 0, ""
        if status == 200 and "<status>IN_SERVICE</status>" in text:
            return
        time.sleep(0.2)  # polling a process's observable state, not waiting for it to happen
    raise AssertionError(f"{ep.name} never IN_SERVICE")


def test_every_component_of_up_serves_metrics_behind_the_token(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    started = emu("up", "--detach", "--run-dir", str(run_dir), "--agents", "10", "--time-scale", "0.05",
                  "--network", NETWORK)  # fmt: skip
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        for ep in (T.on_network(T.FINESSE_A, NETWORK), T.on_network(T.FINESSE_B, NETWORK)):
            wait_in_service(ep)
        token = (run_dir / "admin-token").read_text().strip()
        served: set[str] = set()
        for ep in COMPONENTS:
            url = f"http://{ep.host}:{ep.admin_port}/metrics"
            assert get(url, None)[0] == 401, ep.name
            assert get(url, "wrong-token")[0] == 401, ep.name
            status, text = get(url, token)
            assert status == 200, ep.name
            families = list(text_string_to_metric_families(text))
            assert families, ep.name
            served |= {s.name for f in families for s in f.samples}
        plotted = {
            name
            for panel in json.loads(DASHBOARD.read_text())["panels"]
            for target in panel.get("targets", [])
            for name in re.findall(r"\b((?:finesse_emu|cti_stub|awdb_stub)_[a-z_]+)", target["expr"])
        }
        assert plotted and plotted <= served, plotted - served
        assert "cti_stub_heartbeats_received_total" in served
    finally:
        assert emu("down", "--run-dir", str(run_dir)).returncode == 0
