"""The scenarios tagged ``ci`` under scenarios/, each on a deployment of its own, at their small
time_scale; and ``finesse-emu run`` failing (exit 1) on a scenario whose expectation cannot hold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from finesse_emu.runs.check import check_history
from finesse_emu.runs.report import load_history
from finesse_emu.runs.scenario.runner import run_scenario
from finesse_emu.runs.scenario.spec import load

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
CI_SCENARIOS = sorted(p for p in (ROOT / "scenarios").glob("*.yaml") if "ci" in load(p).tags)


def test_at_least_four_scenarios_run_in_ci() -> None:
    assert len(CI_SCENARIOS) >= 4, CI_SCENARIOS


@pytest.mark.parametrize("path", CI_SCENARIOS, ids=lambda p: p.stem)
async def test_scenario(path: Path, tmp_path: Path) -> None:
    ok = await run_scenario(load(path), tmp_path / "report", network="127.0.41", quiet=True)
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    failed = [e for e in summary.get("expectations", []) if not e.get("ok")]
    assert ok, failed
    assert (tmp_path / "report" / "report.html").stat().st_size > 1000
    # The nodes log who is signed in on them (event_log, on in scenario runs): one-node-per-agent
    # compares their own view, not only the clients' (docs/check.md).
    history = load_history(tmp_path / "report" / "history.jsonl")
    (outcome,) = check_history(history, only=["one-node-per-agent"]).outcomes
    assert not outcome.violations, [v.message for v in outcome.violations]
    assert outcome.notes[0].startswith("the nodes' own view compared with the clients'"), outcome.notes


def test_a_failed_expectation_fails_the_run(tmp_path: Path) -> None:
    scenario = tmp_path / "impossible.yaml"
    scenario.write_text(
        "name: impossible\n"
        "deployment: {agents: 4, time_scale: 0.05}\n"
        "steps:\n"
        "  - until: {all_signed_in: true}\n"
        "  - expect: {name: too many, desktops_on: {finesse-a: 99}}\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "finesse_emu.cli",
            "run",
            str(scenario),
            "--report-dir",
            str(tmp_path),
            "--network",
            "127.0.42",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    # The failed expectations' table fits COLUMNS (80 under pytest): its detail may wrap.
    assert "finesse-a: 2 desktops signed in, want 99" in " ".join(done.stdout.split())
    bad = subprocess.run(
        [sys.executable, "-m", "finesse_emu.cli", "run", str(tmp_path / "missing.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "missing.yaml" in bad.stderr


def test_bench_failover_measures_detection_sign_in_and_processes(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "finesse_emu.cli", "bench", "failover", "--agents", "20",
         "--time-scale", "0.05", "--rtt-ms", "100", "--report-dir", str(tmp_path), "--network", "127.0.43"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (bench,) = tmp_path.glob("bench-failover-20-*/bench.json")
    result = json.loads(bench.read_text())
    assert result["desktops_failed_over"] == 10
    # Three reconnect attempts 5 s apart: no detection before the floor's 10 s.
    assert result["detection"]["p50"] >= 9.5
    assert result["total"]["max"] >= result["floor_seconds"] == 10.0 + 9 * 0.1
    assert {"finesse-b", "xmpp-b", "swarm"} <= set(result["processes"])
    assert "algorithmic floor" in done.stdout
