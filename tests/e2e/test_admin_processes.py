"""``finesse-emu admin`` against ``finesse-emu up`` (issue 17), as processes on 127.0.68.

The chapter: "The B Side CTI host and port must be configured through the Finesse administration
console." The administrator points the publisher's side B at an address where nothing listens and
cti-a is killed: the subscriber, untouched, fails over to cti-b and is back in service while the
publisher tries A and the configured B and stays out of service. Its administration API still
answers (a node out of service is configured through its console); the administrator names cti-b
again, and the publisher's next attempt reaches it. The credentials come from a file, never the
command line, and are never printed.
"""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from emu_base.directory import AgentRecord, dump, generate
from emu_base.procs import run_cli

pytestmark = pytest.mark.e2e
NETWORK = "127.0.68"
PUBLISHER, SUBSCRIBER = f"{NETWORK}.7", f"{NETWORK}.8"
CTI_B = f"{NETWORK}.2"
NOWHERE = f"{NETWORK}.250"  # nothing listens there
ADMIN = AgentRecord(id="9000", login="admin", password="s3cret-admin", extension="9000", admin=True)


def emu(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, timeout=timeout)


def system_info(host: str) -> ET.Element | None:
    try:
        with urllib.request.urlopen(f"http://{host}:8082/finesse/api/SystemInfo", timeout=5) as resp:
            return ET.fromstring(resp.read())
    except (urllib.error.URLError, OSError):
        return None


def wait_status(host: str, status: str, within: float = 60) -> ET.Element:
    """Poll SystemInfo (bounded) until the node reports ``status``."""
    deadline = time.monotonic() + within
    seen = None
    while time.monotonic() < deadline:
        info = system_info(host)
        seen = None if info is None else info.findtext("status")
        if info is not None and seen == status:
            return info
        time.sleep(0.2)  # polling a process's observable state, not waiting for it to happen
    raise AssertionError(f"{host} never {status} (last seen {seen})")


def test_admin_changes_side_b_and_the_next_failover_uses_it(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    agents = tmp_path / "agents.yaml"
    agents.write_text(dump([*generate(10), ADMIN]))
    creds = tmp_path / "admin-credentials"
    creds.write_text(f"{ADMIN.login}:{ADMIN.password}\n")
    creds.chmod(0o600)
    admin = ("--credentials", str(creds), "--run-dir", str(run_dir))
    started = emu(
        "up", "--detach", "--run-dir", str(run_dir), "--agents", str(agents),
        "--time-scale", "0.05", "--network", NETWORK,
    )  # fmt: skip
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        wait_status(PUBLISHER, "IN_SERVICE")
        wait_status(SUBSCRIBER, "IN_SERVICE")
        shown = emu("admin", "get", "system-config", *admin)
        assert shown.returncode == 0, shown.stderr
        doc = ET.fromstring(shown.stdout)
        assert (doc.findtext("cti/backupHost"), doc.findtext("cti/backupPort")) == (CTI_B, "43027")
        assert ADMIN.password not in shown.stdout + shown.stderr
        # A wrong administrator: refused (exit 1), the settings untouched.
        wrong = tmp_path / "wrong"
        wrong.write_text("1001:pass1001\n")
        refused = emu("admin", "set", "system-config", f"backupHost={NOWHERE}", "--credentials", str(wrong),
                      "--run-dir", str(run_dir))  # fmt: skip
        assert refused.returncode == 1 and "401" in refused.stderr
        changed = emu("admin", "set", "system-config", f"backupHost={NOWHERE}", *admin)
        assert changed.returncode == 0, changed.stdout + changed.stderr
        assert ET.fromstring(changed.stdout).findtext("cti/backupHost") == NOWHERE
        # The subscriber refuses configuration: 403.
        sub = emu(
            "admin", "get", "system-config", "--url", f"http://{SUBSCRIBER}:8082", "--credentials", str(creds)
        )
        assert sub.returncode == 1 and "403" in sub.stderr

        assert emu("chaos", "kill", "cti-a", "--run-dir", str(run_dir)).returncode == 0
        wait_status(PUBLISHER, "OUT_OF_SERVICE")
        info = wait_status(SUBSCRIBER, "IN_SERVICE")  # the subscriber's B side is cti-b
        active = [
            s.findtext("host") for s in info.findall("ctiServers/ctiServer") if s.findtext("active") == "true"
        ]
        assert active == [CTI_B]
        still = system_info(PUBLISHER)  # tried A and the configured B: neither answers
        assert still is not None and still.findtext("status") == "OUT_OF_SERVICE"

        # Out of service, the publisher's administration API still answers; cti-b named again, the
        # next attempt reaches it.
        back = emu("admin", "set", "system-config", f"backupHost={CTI_B}", *admin)
        assert back.returncode == 0, back.stdout + back.stderr
        info = wait_status(PUBLISHER, "IN_SERVICE")
        active = [
            s.findtext("host") for s in info.findall("ctiServers/ctiServer") if s.findtext("active") == "true"
        ]
        assert active == [CTI_B]
    finally:
        assert emu("down", "--run-dir", str(run_dir)).returncode == 0
