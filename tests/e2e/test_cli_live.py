"""What the CLI shows while it works, as processes (docs/cli.md, "Progress"): ``finesse-emu run``
not on a terminal writes a progress line per step on stderr (each once, no escape codes) and its
results on stdout; ``finesse-emu status`` shows a fault injected on a running deployment, and
``status --watch`` prints a line when it comes and when it goes, and ends on Ctrl-C with status 0.

Both on 127.0.105 (no other test uses it), one after the other: the run's deployment is down
before the status test brings up its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emu_base.procs import run_cli
from tests.helpers import eventually_blocking

pytestmark = pytest.mark.e2e
NETWORK = "127.0.105"


def env() -> dict[str, str]:
    """Not a terminal, no colour hints, no width: what CI gives."""
    drop = ("COLUMNS", "NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")
    return {k: v for k, v in os.environ.items() if k not in drop}


def test_run_not_on_a_terminal_prints_each_step_once_on_stderr(tmp_path: Path) -> None:
    scenario = tmp_path / "progress.yaml"
    scenario.write_text(
        "name: progress\n"
        "deployment: {agents: 4, time_scale: 0.05}\n"
        "steps:\n"
        "  - phase: sign in\n"
        "  - until: {all_signed_in: true}\n"
        "  - wait: 20\n"
        "  - phase: quiet\n"
        "  - wait: 20\n"
        "  - expect: {name: still signed in, signed_in: all}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "finesse_emu.cli", "run", str(scenario), "--report-dir", str(tmp_path),
         "--network", NETWORK],
        capture_output=True, text=True, timeout=180, check=False, env=env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "\x1b[" not in done.stderr + done.stdout
    progress = [line for line in done.stderr.splitlines() if "] progress: " in line]
    steps = [line.split("] ", 1)[1].split(" (")[0] for line in progress]
    assert steps == [
        "progress: starting the deployment",
        "progress: starting the swarm",
        "progress: sign in: step 1/6 phase",
        "progress: sign in: step 2/6 until all_signed_in",
        "progress: sign in: step 3/6 wait 20 s",
        "progress: quiet: step 4/6 phase",
        "progress: quiet: step 5/6 wait 20 s",
        "progress: quiet: step 6/6 expect still signed in",
        "progress: quiet: step 6/6 writing the report",
    ], done.stderr
    # Time left where it is known: two waits of 20 emulated seconds at 0.05 once the until is done.
    assert progress[4].endswith("(2 s left)"), progress
    assert "at least 2 s left" in progress[3], progress
    # The results on stdout, not the progress; the phase table one row per phase (not a terminal).
    assert "progress:" not in done.stdout
    assert "expectations: 1 passed, 0 failed (all passed)" in done.stdout
    assert any(line.startswith("quiet ") for line in done.stdout.splitlines()), done.stdout


def up(run_dir: Path) -> None:
    done = run_cli(
        "up", "--detach", "--run-dir", str(run_dir), "--agents", "4", "--time-scale", "0.05",
        "--network", NETWORK, env=env(),
    )  # fmt: skip
    if done.returncode != 0:
        run_cli("down", "--run-dir", str(run_dir))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def run_dir(tmp_path: Path) -> Iterator[Path]:
    run = tmp_path / "run"
    up(run)
    try:
        yield run
    finally:
        assert run_cli("down", "--run-dir", str(run)).returncode == 0


def cti_a(run_dir: Path) -> dict[str, Any]:
    done = run_cli("status", "--json", "--run-dir", str(run_dir), env=env())
    assert done.returncode == 0, done.stderr
    component: dict[str, Any] = next(c for c in json.loads(done.stdout)["components"] if c["name"] == "cti-a")
    return component


def test_status_shows_an_injected_fault_and_watch_follows_it(run_dir: Path, tmp_path: Path) -> None:
    assert cti_a(run_dir)["faults"] == []
    out = (tmp_path / "watch.out").open("w")
    watch = subprocess.Popen(
        [sys.executable, "-m", "finesse_emu.cli", "status", "--watch", "--interval", "0.2",
         "--run-dir", str(run_dir)],
        stdout=out, stderr=subprocess.STDOUT, text=True, env=env(), start_new_session=True,
    )  # fmt: skip
    try:

        def lines() -> list[str]:
            return (tmp_path / "watch.out").read_text().splitlines()

        first = eventually_blocking(
            lines,
            "watch's first lines",
            until=lambda ls: any(" finesse-b: " in line for line in ls),
            within=60,  # a CLI's start on a loaded machine
        )
        assert any(line.endswith(" cti-a: active") for line in first), first
        hang = run_cli("chaos", "hang", "cti-a", "--run-dir", str(run_dir), env=env())
        assert hang.returncode == 0, hang.stderr
        # status: the fault in cti-a's row (and in --json).
        assert [f["kind"] for f in cti_a(run_dir)["faults"]] == ["ignore_heartbeats"]
        table = run_cli("status", "--run-dir", str(run_dir), env=env())
        row = next(line for line in table.stdout.splitlines() if line.startswith("cti-a "))
        assert " ignore_heartbeats " in row, table.stdout
        # --watch: a line when it came...
        eventually_blocking(
            lines,
            "the fault in watch",
            until=lambda ls: any(x.endswith("faults: ignore_heartbeats") for x in ls),
            within=30,
        )
        # The nodes go out of service while cti-a ignores their heartbeats: watch says so too.
        eventually_blocking(
            lines,
            "finesse-a out of service in watch",
            until=lambda ls: any(x.endswith(" finesse-a: OUT_OF_SERVICE") for x in ls),
            within=60,
        )
        assert run_cli("chaos", "heal", "cti-a", "--run-dir", str(run_dir), env=env()).returncode == 0

        # ...and one when it went.
        def cti_lines(ls: list[str]) -> list[str]:
            return [line.split(" ", 1)[1] for line in ls if " cti-a: " in line]

        seen = eventually_blocking(
            lines, "the heal in watch", until=lambda ls: len(cti_lines(ls)) >= 3, within=30
        )
        fault = "cti-a: active, faults: ignore_heartbeats"
        assert cti_lines(seen) == ["cti-a: active", fault, "cti-a: active"], seen
        watch.send_signal(signal.SIGINT)
        assert watch.wait(timeout=30) == 0
    finally:
        if watch.poll() is None:
            os.killpg(watch.pid, signal.SIGKILL)
            watch.wait()
        out.close()
