"""Process hygiene of ``finesse-emu up``: a component killed by ``chaos kill`` is reaped at once (no
<defunct> child left under the launcher), a component restarted by ``chaos start`` (a pid the
launcher did not spawn) is still stopped by ``down``, and ``down`` with nothing running says so and
exits 0. Its own loopback /24 (127.0.26), real processes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from emu_base.procs import pid_alive, run_cli
from tests.helpers import eventually_blocking

pytestmark = pytest.mark.e2e
NETWORK = "127.0.26"


def emu(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, timeout=timeout)


def status(run_dir: Path) -> dict[str, Any]:
    done = emu("status", "--json", "--run-dir", str(run_dir))
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def children(parent: int) -> dict[int, str]:
    """{pid: state letter} of every process whose parent is ``parent`` (from /proc/<pid>/stat)."""
    out: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == parent:
            out[int(entry)] = state
    return out


def zombies(parent: int) -> list[int]:
    return [pid for pid, state in children(parent).items() if state == "Z"]


def test_killed_components_are_reaped_and_a_restarted_one_is_still_stopped(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    args = ("--run-dir", str(run_dir))
    up = emu("up", "--detach", *args, "--agents", "5", "--time-scale", "0.05", "--network", NETWORK)
    restarted = 0
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        report = status(run_dir)
        launcher = report["launcher_pid"]
        pids = {c["name"]: c["pid"] for c in report["components"]}
        assert set(pids.values()) <= set(children(launcher)), "every component is the launcher's child"
        # A Python component (the CTI side on standby, an AWDB) and a Prosody, each killed as a
        # container would be: each must be reaped promptly, not left <defunct> until `down`.
        killed = ("cti-b", "awdb-b", "xmpp-b")
        for name in killed:
            done = emu("chaos", "kill", name, *args)
            assert done.returncode == 0, done.stderr
        gone = {pids[name] for name in killed}
        eventually_blocking(
            lambda: (zombies(launcher), sorted(gone & set(children(launcher)))),
            f"the killed components reaped by the launcher {launcher} (zombies, killed still children)",
            until=lambda seen: seen == ([], []),
        )
        assert pid_alive(launcher) and all(pid_alive(pids[n]) for n in pids if n not in killed)
        assert {c["name"]: c["state"] for c in status(run_dir)["components"]}["cti-b"] == "down"
        # Restarted under a pid the launcher did not spawn: it runs, and `down` still stops it.
        started = emu("chaos", "start", "cti-b", *args)
        assert started.returncode == 0, started.stderr
        restarted = {c["name"]: c["pid"] for c in status(run_dir)["components"]}["cti-b"]
        assert restarted not in children(launcher) and pid_alive(restarted)
        eventually_blocking(
            lambda: {c["name"]: c["state"] for c in status(run_dir)["components"]}["cti-b"],
            "the restarted cti-b idle",
            until=lambda state: state == "idle",
            within=20,
        )
        # The launcher lost nothing: killed again, the restarted side is not the launcher's zombie either.
        assert emu("chaos", "kill", "awdb-a", *args).returncode == 0
        eventually_blocking(
            lambda: zombies(launcher), "no zombie under the launcher", until=lambda z: z == []
        )
    finally:
        down = emu("down", *args)
    assert down.returncode == 0, down.stderr
    eventually_blocking(
        lambda: [p for p in [*pids.values(), restarted, launcher] if pid_alive(p)],
        "every process gone after down (alive shown)",
        until=lambda alive: alive == [],
    )
    again = emu("down", *args)
    assert again.returncode == 0, again.stderr
    assert f"no deployment running from {run_dir}" in again.stdout


def test_down_with_nothing_running_says_so_and_exits_0(tmp_path: Path) -> None:
    done = emu("down", "--run-dir", str(tmp_path / "never-started"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"no deployment running from {tmp_path / 'never-started'}: nothing to stop"
