"""The scenarios tagged ``ci`` under scenarios/, each on a deployment of its own, at their small
time_scale; and ``finesse-emu run`` failing (exit 1) on a scenario whose expectation cannot hold.

The scenarios run two at a time (docs/design.md, "Tests"): most of a run is waiting for emulated
time, so a second run fills the idle core. Each runs as ``finesse-emu run`` in a process of its own
(its own swarm, its own interpreter: two in-process swarms would share one GIL) on its own loopback
/24, with its own report directory and history; each parametrized test waits for its own run and
checks it as before, so a failure still names its scenario.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest

from finesse_emu.runs.check import check_history
from finesse_emu.runs.report import load_history
from finesse_emu.runs.scenario.spec import load

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
CI_SCENARIOS = sorted(p for p in (ROOT / "scenarios").glob("*.yaml") if "ci" in load(p).tags)
# One /24 per concurrent run: the number of networks is the concurrency. No other test uses them.
NETWORKS = ("127.0.41", "127.0.45")
# Scenarios that run alone (they take every /24, so nothing runs beside them): publisher-killed's 44
# desktops, 4 IP Phone Agents and calls of every kind in one swarm process missed their sign-in bound
# (600 emulated s, 30 s of wall clock) beside another run on a loaded 2-core machine.
RUN_ALONE = frozenset({"publisher-killed"})
RUN_TIMEOUT = 300.0  # s; a run that hangs is stopped (SIGINT: it takes its deployment down) and fails
OUTPUT_TAIL = 4000  # characters of a failed run's output in the assertion message


@dataclass(frozen=True)
class Done:
    returncode: int
    output: str  # finesse-emu run's stdout and stderr
    report_root: Path  # finesse-emu run writes DIR/<name>-<time>/


class ScenarioRuns:
    """Runs ``finesse-emu run`` for each scenario in order, as many at a time as NETWORKS, each on a
    free /24; ``runs[path]`` is the future of its :class:`Done`."""

    def __init__(self, paths: list[Path], base: Path) -> None:
        self.base = base
        self.runs: dict[Path, Future[Done]] = {path: Future() for path in paths}
        self.free: queue.Queue[str] = queue.Queue()
        for net in NETWORKS:
            self.free.put(net)
        self.procs: set[subprocess.Popen[bytes]] = set()
        self.lock = threading.Lock()
        self.stopping = False
        self.workers: list[threading.Thread] = []
        self.scheduler = threading.Thread(target=self._schedule, name="scenario-runs", daemon=True)
        self.scheduler.start()

    def _schedule(self) -> None:
        for path, future in self.runs.items():
            # A /24 frees when a run ends: at most len(NETWORKS) runs at once, one alone if it takes all.
            nets = [self.free.get() for _ in (NETWORKS if path.stem in RUN_ALONE else NETWORKS[:1])]
            if self.stopping:
                future.cancel()
                for net in nets:
                    self.free.put(net)
                continue
            worker = threading.Thread(target=self._run, args=(path, nets, future), daemon=True)
            self.workers.append(worker)
            worker.start()

    def _run(self, path: Path, nets: list[str], future: Future[Done]) -> None:
        try:
            future.set_result(self._run_cli(path, nets[0]))
        except BaseException as exc:  # the test that waits for it re-raises it
            future.set_exception(exc)
        finally:
            for net in nets:
                self.free.put(net)

    def _run_cli(self, path: Path, net: str) -> Done:
        where = self.base / path.stem
        where.mkdir()
        log = where / "run-output.txt"
        argv = [sys.executable, "-m", "finesse_emu.cli", "run", str(path),
                "--report-dir", str(where / "report"), "--network", net]  # fmt: skip
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
            with self.lock:
                self.procs.add(proc)
            try:
                proc.wait(RUN_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._interrupt(proc)
            finally:
                with self.lock:
                    self.procs.discard(proc)
        return Done(proc.returncode, log.read_text(errors="replace"), where / "report")

    @staticmethod
    def _interrupt(proc: subprocess.Popen[bytes]) -> None:
        """Ctrl-C: the run stops its swarm and its deployment (a SIGKILL would orphan its components)."""
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop(self) -> None:
        """Runs not started are dropped, running ones interrupted (a session cut short)."""
        self.stopping = True
        with self.lock:
            running = list(self.procs)
        for proc in running:
            if proc.poll() is None:
                self._interrupt(proc)
        self.scheduler.join(RUN_TIMEOUT)
        for worker in self.workers:
            worker.join(RUN_TIMEOUT)


@pytest.fixture(scope="module")
def scenario_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ScenarioRuns]:
    """The runs of the scenarios this session selected (``-k`` respected), in their order, started
    when the first of their tests asks."""
    selected = [
        cast(Path, item.callspec.params["path"])
        for item in request.session.items
        if isinstance(item, pytest.Function)
        and item.originalname == "test_scenario"
        and item.path == request.path
    ]
    runs = ScenarioRuns(selected, tmp_path_factory.mktemp("scenarios"))
    try:
        yield runs
    finally:
        runs.stop()


def test_at_least_four_scenarios_run_in_ci() -> None:
    assert len(CI_SCENARIOS) >= 4, CI_SCENARIOS


@pytest.mark.parametrize("path", CI_SCENARIOS, ids=lambda p: p.stem)
def test_scenario(path: Path, scenario_runs: ScenarioRuns) -> None:
    done = scenario_runs.runs[path].result()
    reports = list(done.report_root.glob("*/summary.json"))
    assert len(reports) == 1, done.output[-OUTPUT_TAIL:]
    report = reports[0].parent
    summary = json.loads(reports[0].read_text())
    failed = [e for e in summary.get("expectations", []) if not e.get("ok")]
    assert done.returncode == 0, (failed, done.output[-OUTPUT_TAIL:])
    assert (report / "report.html").stat().st_size > 1000
    # The nodes log who is signed in on them (event_log, on in scenario runs): one-node-per-agent
    # compares their own view, not only the clients' (docs/check.md).
    history = load_history(report / "history.jsonl")
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
