"""procs: adopted children (a component restarted by chaos start inside a scenario run) are reaped,
and a pid read from a file is only taken for the component while it still runs its command."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from emu_base.procs import Proc, adopt, adopted, pid_alive, reap_adopted, runs
from tests.helpers import eventually_blocking

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def test_an_adopted_child_killed_from_outside_is_reaped() -> None:
    child = subprocess.Popen(SLEEPER)
    adopt(child)
    assert reap_adopted() == {}
    child.send_signal(signal.SIGKILL)
    reaped = eventually_blocking(reap_adopted, "the killed child reaped", every=0.01)
    assert reaped == {child.pid: -signal.SIGKILL}
    assert state(child.pid) is None  # gone, not <defunct>
    assert reap_adopted() == {}  # reported once


def test_runs_checks_the_command_not_only_the_pid() -> None:
    child = subprocess.Popen(SLEEPER)
    try:
        # Until the child has exec'd, its command line is still the parent's (pytest's).
        eventually_blocking(lambda: runs(child.pid, SLEEPER), "the child runs SLEEPER", every=0.01)
        assert runs(child.pid, ["/another/python", *SLEEPER[1:]])  # the program may differ (lua5.4 prosody)
        assert not runs(child.pid, [sys.executable, "-m", "cti_stub", "--side", "A"])  # a reused pid
    finally:
        child.kill()
        child.wait()
    assert not runs(child.pid, SLEEPER) and not pid_alive(child.pid)


async def test_a_deployment_stops_what_it_restarted_even_without_its_state_file(tmp_path: Path) -> None:
    """A scenario run restarts a component itself (chaos start): stop finds it through procs.adopted,
    also when deployment.json is gone, and leaves neither it nor a zombie behind."""
    from finesse_emu.deployment.launcher import Component, Deployment

    deployment = Deployment(tmp_path, admin_token=None)
    c = Component("cti-a", "cti", "127.0.0.1", {})
    c.proc = Proc("cti-a", SLEEPER[1:], tmp_path / "cti-a.log")
    deployment.components.append(c)
    c.proc.kill()  # chaos kill
    c.proc.popen.wait()
    restarted = subprocess.Popen(c.command)  # noqa: ASYNC220 (as chaos start does, from this process)
    adopt(restarted)
    assert adopted()[restarted.pid] == c.command
    assert not (tmp_path / "deployment.json").exists()
    await deployment.stop()
    assert restarted.pid not in adopted() and state(restarted.pid) is None
