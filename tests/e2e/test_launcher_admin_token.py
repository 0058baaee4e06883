"""``finesse-emu up`` guards every control plane with a token of its own (issue 9), as processes.

The shared deployment (tests/e2e/shared.py, 127.0.66; test_launcher_xmpp_auth's too): the token
file and where it is not; each component's control plane and the swarm's refusing requests without
the token and with a wrong one; ``finesse-emu chaos`` finding the token by itself, also for a
component it restarts. Then ``--no-admin-token`` and a user's own token, each on 127.0.52.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from emu_base.admin import INSECURE_ENV, TOKEN_ENV
from emu_base.procs import run_cli
from tests.e2e import shared
from tests.helpers import eventually_blocking

pytestmark = pytest.mark.e2e
NETWORK = shared.NETWORK
OTHER_NETWORK = "127.0.52"
SCALE = shared.SCALE
AGENTS = shared.AGENTS
# The control plane of every component but Prosody: (address, admin port) on the module's network.
ADMIN = {
    "awdb-a": (f"{NETWORK}.3", 1434),
    "awdb-b": (f"{NETWORK}.4", 1434),
    "cti-a": (f"{NETWORK}.1", 42029),
    "cti-b": (f"{NETWORK}.2", 43029),
    "finesse-a": (f"{NETWORK}.7", 8089),
    "finesse-b": (f"{NETWORK}.8", 8089),
}
COMMON = [
    ("GET", "/emu/faults"),
    ("HEAD", "/emu/faults"),
    ("POST", "/emu/faults"),
    ("DELETE", "/emu/faults"),
    ("DELETE", "/emu/faults/latency-1"),
]
CTI_ONLY = [
    ("GET", "/emu/sessions"),
    ("GET", "/emu/agents"),
    ("GET", "/emu/agents/1000"),
    ("POST", "/emu/agents/1000/state"),
    ("POST", "/emu/agents/1000/media/5000/work-to-active"),
    ("GET", "/emu/calls"),
    ("POST", "/emu/calls"),
    ("POST", "/emu/calls/1/answer"),
]


def env_without_token(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (TOKEN_ENV, INSECURE_ENV)}
    return {**env, **extra}


def emu(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, timeout=timeout, env=env or env_without_token())


def call(
    method: str, url: str, token: str | None = None, body: Any = None, timeout: float = 5
) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def up(run_dir: Path, network: str, *extra: str, env: dict[str, str] | None = None) -> None:
    done = emu(
        "up", "--detach", "--run-dir", str(run_dir), "--agents", AGENTS, "--time-scale", SCALE,
        "--network", network, *extra, env=env,
    )  # fmt: skip
    if done.returncode != 0:
        emu("down", "--run-dir", str(run_dir))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def run_dir(shared_deployment: Path) -> Path:
    return shared_deployment


def token_of(run_dir: Path) -> str:
    state = json.loads((run_dir / "deployment.json").read_text())
    return Path(state["admin_token_file"]).read_text().strip()


def test_the_token_is_in_a_private_file_only(run_dir: Path) -> None:
    state_text = (run_dir / "deployment.json").read_text()
    state = json.loads(state_text)
    path = Path(state["admin_token_file"])
    assert path == (run_dir / "admin-token").absolute()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = token_of(run_dir)
    assert len(token) >= 40 and token not in state_text
    pids = [c["pid"] for c in state["components"]] + [state["pid"]]
    for pid in pids:  # not on any command line (ps shows them to every user)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        assert token not in cmdline, cmdline
    for c in state["components"]:
        if c["role"] not in ("xmpp", "imp"):  # Prosody: no control plane
            assert "--admin-token-file" in c["command"] and "--admin-token" not in c["command"]
    report = json.loads(emu("status", "--json", "--run-dir", str(run_dir)).stdout)  # no token needed
    assert report["admin_token_file"] == str(path)
    assert {c["name"]: c["state"] for c in report["components"]}["finesse-a"] == "IN_SERVICE"


def test_every_control_plane_refuses_a_missing_or_wrong_token(run_dir: Path) -> None:
    token = token_of(run_dir)
    for name, (host, port) in ADMIN.items():
        base = f"http://{host}:{port}"
        assert call("GET", f"{base}/emu/health")[0] == 200, name  # the read-only probe
        for method, path in COMMON + (CTI_ONLY if name.startswith("cti") else []):
            body = {"kind": "webapp_down"} if method == "POST" else None
            for given in (None, "wrong-token", token[:-1], f"{token}x"):
                status, headers, _ = call(method, base + path, given, body)
                assert status == 401, (name, method, path, given)
                assert headers.get("WWW-Authenticate", "").startswith("Bearer"), (name, path)
        # With the token: the faults are listed, and an unknown kind gets past the guard (400).
        status, _, answer = call("GET", f"{base}/emu/faults", token)
        assert status == 200 and json.loads(answer)["faults"] == [], name
        status, _, answer = call("POST", f"{base}/emu/faults", token, {"kind": "no-such-fault"})
        assert status == 400 and b"unknown fault kind" in answer, name
    report = json.loads(emu("status", "--json", "--run-dir", str(run_dir)).stdout)
    states = {c["name"]: c["state"] for c in report["components"]}
    assert states["finesse-a"] == states["finesse-b"] == "IN_SERVICE"  # nothing refused took effect
    assert (states["cti-a"], states["cti-b"]) == ("active", "idle")


def status_of(run_dir: Path, name: str) -> str:
    report = json.loads(emu("status", "--json", "--run-dir", str(run_dir)).stdout)
    return str({c["name"]: c["state"] for c in report["components"]}[name])


def test_chaos_finds_the_token(run_dir: Path) -> None:
    other = env_without_token(**{TOKEN_ENV: "not-this-deployments"})  # the deployment's file wins
    for action, want in [
        (["hang", "awdb-b"], "awdb-b: hang"),
        (["heal", "awdb-b"], "1 fault(s) cleared"),
        (["latency", "cti-b", "--ms", "2"], "+2 ms"),
        (["heal", "cti-b"], "1 fault(s) cleared"),
        (["hang", "finesse-b"], "webapp_down"),
    ]:
        done = emu("chaos", *action, "--run-dir", str(run_dir), env=other)
        assert done.returncode == 0 and want in done.stdout, (action, done.stdout, done.stderr)
    eventually_blocking(
        lambda: status_of(run_dir, "finesse-b"),
        "finesse-b down",
        until=lambda s: s == "OUT_OF_SERVICE",
        within=30,
    )
    done = emu("chaos", "heal", "finesse-b", "--run-dir", str(run_dir))
    assert done.returncode == 0 and "1 fault(s) cleared" in done.stdout, done.stderr
    eventually_blocking(
        lambda: status_of(run_dir, "finesse-b"),
        "finesse-b back",
        until=lambda s: s == "IN_SERVICE",
        within=30,
    )


def test_a_restarted_component_keeps_the_token(run_dir: Path) -> None:
    token = token_of(run_dir)
    assert emu("chaos", "kill", "awdb-b", "--run-dir", str(run_dir)).returncode == 0
    # chaos start runs its command line (the token file), not a token from its own environment.
    started = emu(
        "chaos", "start", "awdb-b", "--run-dir", str(run_dir), env=env_without_token(**{TOKEN_ENV: "x"})
    )
    assert started.returncode == 0, started.stderr
    base = f"http://{ADMIN['awdb-b'][0]}:{ADMIN['awdb-b'][1]}"

    eventually_blocking(
        lambda: call("GET", f"{base}/emu/health", timeout=1)[0],
        "awdb-b restarted",
        until=lambda code: code == 200,
        within=30,
        retry=(OSError,),
    )
    assert call("POST", f"{base}/emu/faults", None, {"kind": "hang"})[0] == 401
    assert call("POST", f"{base}/emu/faults", "x", {"kind": "hang"})[0] == 401
    assert call("POST", f"{base}/emu/faults", token, {"kind": "slow", "ms": 1})[0] == 201
    done = emu("chaos", "heal", "awdb-b", "--run-dir", str(run_dir))
    assert done.returncode == 0 and "1 fault(s) cleared" in done.stdout, done.stderr


def signed_in(metrics: str) -> int:
    rows = re.findall(r"^finesse_emu_clients\{([^}]*)\} ([0-9.]+)$", metrics, re.M)
    return sum(
        int(float(v)) for labels, v in rows if 'kind="desktop"' in labels and 'state="SIGNED_IN"' in labels
    )


def test_the_swarm_control_needs_the_deployments_token(run_dir: Path) -> None:
    token = token_of(run_dir)
    swarm = subprocess.Popen(
        [sys.executable, "-m", "finesse_emu.cli", "swarm", "--agents", AGENTS, "--run-dir", str(run_dir),
         "--duration", "100"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env_without_token(),
    )  # fmt: skip
    try:
        eventually_blocking((run_dir / "swarm.json").exists, "swarm.json written", within=30)
        control = json.loads((run_dir / "swarm.json").read_text())["control"]
        assert control.startswith("127.0.0.1:")  # loopback only
        base = f"http://{control}"
        eventually_blocking(
            lambda: signed_in(call("GET", f"{base}/metrics")[2].decode()),
            "every desktop signed in",
            until=lambda n: n == int(AGENTS),
            within=60,
        )
        body = {"action": "refresh", "agent": "1000"}
        for given in (None, "wrong-token"):
            status, headers, _ = call("POST", f"{base}/emu/clients", given, body)
            assert status == 401 and headers.get("WWW-Authenticate", "").startswith("Bearer")
        done = emu("chaos", "refresh", "agent:1000", "--run-dir", str(run_dir))
        assert done.returncode == 0 and "refresh: 1000" in done.stdout, done.stderr
        assert call("POST", f"{base}/emu/clients", token, {"action": "nope"})[0] == 400  # past the guard
    finally:
        swarm.send_signal(signal.SIGINT)
        try:
            swarm.wait(30)
        except subprocess.TimeoutExpired:
            swarm.kill()
            swarm.wait()


def test_no_admin_token_and_a_users_own_token(tmp_path: Path) -> None:
    run = tmp_path / "run"
    awdb = f"http://{OTHER_NETWORK}.3:1434"
    # --no-admin-token wins over the environment, and no component takes the variable either.
    up(run, OTHER_NETWORK, "--no-admin-token", env=env_without_token(**{TOKEN_ENV: "ignored"}))
    try:
        state = json.loads((run / "deployment.json").read_text())
        assert state["admin_token_file"] is None and not (run / "admin-token").exists()
        assert call("POST", f"{awdb}/emu/faults", None, {"kind": "slow", "ms": 1})[0] == 201
        assert call("DELETE", f"{awdb}/emu/faults")[0] == 200
        assert "no token (--no-admin-token)" in emu("status", "--run-dir", str(run)).stdout
    finally:
        assert emu("down", "--run-dir", str(run)).returncode == 0
    # A user's own token ($FINESSE_EMU_ADMIN_TOKEN), so the user's scripts can use it.
    up(run, OTHER_NETWORK, env=env_without_token(**{TOKEN_ENV: "my-own-token"}))
    try:
        assert token_of(run) == "my-own-token"
        assert call("POST", f"{awdb}/emu/faults", None, {"kind": "slow", "ms": 1})[0] == 401
        assert call("POST", f"{awdb}/emu/faults", "my-own-token", {"kind": "slow", "ms": 1})[0] == 201
        done = emu("chaos", "heal", "awdb-a", "--run-dir", str(run))
        assert done.returncode == 0 and "1 fault(s) cleared" in done.stdout, done.stderr
    finally:
        assert emu("down", "--run-dir", str(run)).returncode == 0
    assert not (run / "admin-token").exists()  # the deployment's token goes with it
