"""One ``finesse-emu up --detach`` deployment shared by the e2e modules that ask for the same options.

Each ``up`` costs ~5 s of two cores (ten component processes starting) and each ``down`` ~1.5 s: the
modules that only look at a running deployment (test_launcher_admin_token, test_launcher_xmpp_auth)
use this one instead of a deployment each. It is started by the first test that asks for it and
stopped (``down``, its exit code checked) right after the last one (tests/e2e/conftest.py puts those
modules next to each other). A test that uses it leaves it as it found it: a fault it injects is
healed, a component it kills is started again. A test that must see ``up`` or ``down`` themselves,
kill for good, or other options keeps a deployment of its own.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from emu_base.admin import INSECURE_ENV, TOKEN_ENV
from emu_base.procs import run_cli

NETWORK = "127.0.66"  # no other test uses it
AGENTS = "4"
SCALE = "0.05"
UP_OUTPUT = "up-output.txt"  # up's stdout and stderr, beside the run directory


def env_without_token(**extra: str) -> dict[str, str]:
    """The environment without an admin token or the insecure switch: the deployment makes its own."""
    env = {k: v for k, v in os.environ.items() if k not in (TOKEN_ENV, INSECURE_ENV)}
    return {**env, **extra}


def emu(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, timeout=timeout, env=env or env_without_token())


class SharedDeployment:
    """``up --detach --agents 4 --time-scale 0.05 --network 127.0.66`` in a run directory of its own."""

    def __init__(self, base: Path) -> None:
        self.run_dir = base / "run"
        self.running = False

    def start(self) -> Path:
        if not self.running:
            up = emu("up", "--detach", "--run-dir", str(self.run_dir), "--agents", AGENTS,
                     "--time-scale", SCALE, "--network", NETWORK)  # fmt: skip
            (self.run_dir.parent / UP_OUTPUT).write_text(up.stdout + up.stderr)
            if up.returncode != 0:
                emu("down", "--run-dir", str(self.run_dir))
                pytest.fail(f"the shared deployment did not start:\n{up.stdout}{up.stderr}")
            self.running = True
        return self.run_dir

    def stop(self) -> None:
        if self.running:
            self.running = False
            down = emu("down", "--run-dir", str(self.run_dir))
            assert down.returncode == 0, down.stdout + down.stderr
