"""The scenarios tagged ``ci`` under finesse_emu/scenarios/, each on a deployment of its own, at their small
time_scale; and ``finesse-emu run`` failing (exit 1) on a scenario whose expectation cannot hold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from finesse_emu.runs.check import check_history
from finesse_emu.runs.report import load_history
from finesse_emu.runs.scenario.catalog import DEMO
from finesse_emu.runs.scenario.runner import run_scenario
from finesse_emu.runs.scenario.spec import load

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
CI_SCENARIOS = sorted(p for p in (ROOT / "finesse_emu" / "scenarios").glob("*.yaml") if "ci" in load(p).tags)


def test_at_least_four_scenarios_run_in_ci() -> None:
    assert len(CI_SCENARIOS) >= 4, CI_SCENARIOS


@pytest.mark.parametrize("path", CI_SCENARIOS, ids=lambda p: p.stem)
async def test_scenario(path: Path, tmp_path: Path) -> None:
    if path.stem == DEMO:
        # The demo as a new user runs it: `finesse-emu demo` from an empty directory (the scenario is
        # package data), its expectations also written as JUnit XML and read back as CI reads it.
        report, ok = demo_from_an_empty_directory(tmp_path)
    else:
        report = tmp_path / "report"
        ok = await run_scenario(load(path), report, network="127.0.41", quiet=True)
    summary = json.loads((report / "summary.json").read_text())
    failed = [e for e in summary.get("expectations", []) if not e.get("ok")]
    assert ok, failed
    assert (report / "report.html").stat().st_size > 1000
    # The nodes log who is signed in on them (event_log, on in scenario runs): one-node-per-agent
    # compares their own view, not only the clients' (docs/check.md).
    history = load_history(report / "history.jsonl")
    (outcome,) = check_history(history, only=["one-node-per-agent"]).outcomes
    assert not outcome.violations, [v.message for v in outcome.violations]
    assert outcome.notes[0].startswith("the nodes' own view compared with the clients'"), outcome.notes


def demo_from_an_empty_directory(tmp_path: Path) -> tuple[Path, bool]:
    cwd = tmp_path / "empty"
    cwd.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-m", "finesse_emu.cli", "demo", "--network", "127.0.41", "--junit", "junit.xml"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (report,) = (cwd / "reports").iterdir()
    assert report.name.startswith(f"{DEMO}-")
    suite = ET.parse(cwd / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("name") == "publisher killed"
    cases = suite.findall("testcase")
    assert len(cases) >= 4 and all(c.get("classname") == DEMO for c in cases)
    assert all(c.find("failure") is None and c.find("error") is None for c in cases)
    assert "no automatic return: none_returned_to" in {c.get("name") for c in cases}
    return report, True


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
            "--junit",
            str(tmp_path / "junit.xml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    # The failed expectations' table fits COLUMNS (80 under pytest): its detail may wrap.
    assert "finesse-a: 2 desktops signed in, want 99" in " ".join(done.stdout.split())
    # The JUnit file as a CI system reads it: the failed expectation, what was expected and seen.
    root = ET.parse(tmp_path / "junit.xml").getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("1", "1", "0")
    (case,) = root.iter("testcase")
    assert (case.get("classname"), case.get("name")) == ("impossible", "too many: desktops_on")
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == "expected {finesse-a: 99}; seen finesse-a: 2 desktops signed in, want 99"
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
