"""--slice i/k: three swarm processes against one deployment cover every agent exactly once, fail
over like one swarm, and their histories merge into one run (finesse-emu history merge)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from emu_base.procs import run_cli
from tests.e2e.test_launcher import emu
from tests.helpers import eventually

pytestmark = pytest.mark.e2e
AGENTS, SLICES = 30, 3


def events(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


async def test_three_slices_one_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    up = await asyncio.to_thread(
        emu, "up", "--detach", "--run-dir", str(run_dir), "--agents", str(AGENTS), "--time-scale", "0.05",
        "--network", "127.0.28",
    )  # fmt: skip
    assert up.returncode == 0, up.stdout + up.stderr
    histories = [tmp_path / f"slice{i}.jsonl" for i in range(SLICES)]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "finesse_emu.cli",
            "swarm",
            "--agents",
            str(AGENTS),
            "--slice",
            f"{i}/{SLICES}",
            "--run-dir",
            str(run_dir),
            "--history",
            str(histories[i]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(SLICES)
    ]
    try:
        await eventually(
            lambda: sum(1 for h in histories for e in events(h) if e["event"] == "signed_in"),
            f"{AGENTS} signed_in lines in the slices' histories",
            until=lambda n: n >= AGENTS,
            within=90,
            every=0.2,
        )
        for target in ("xmpp-a", "finesse-a"):
            done = await asyncio.to_thread(emu, "chaos", "kill", target, "--run-dir", str(run_dir))
            assert done.returncode == 0, done.stderr
        await eventually(
            lambda: sum(1 for h in histories for e in events(h) if e["event"] == "failover_done"),
            f"{AGENTS // 2} failover_done lines in the slices' histories",
            until=lambda n: n >= AGENTS // 2,
            within=90,
            every=0.2,
        )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            await asyncio.wait_for(proc.wait(), 30)
        await asyncio.to_thread(emu, "down", "--run-dir", str(run_dir))
    per_slice = [{str(e["agent"]) for e in events(h) if e["event"] == "signed_in"} for h in histories]
    assert sum(len(s) for s in per_slice) == AGENTS and len(set().union(*per_slice)) == AGENTS  # disjoint
    merged = await asyncio.to_thread(emu, "history", "merge", str(tmp_path / "merged"), *map(str, histories))
    assert merged.returncode == 0, merged.stderr
    summary = json.loads((tmp_path / "merged" / "summary.json").read_text())
    assert summary["run"]["clients"]["desktop"] == AGENTS
    assert summary["totals"]["failover"]["count"] == AGENTS // 2
    assert summary["totals"]["ended_on"]["desktop"] == {"finesse-b": AGENTS}
    times = [float(str(e["t"])) for e in events(tmp_path / "merged" / "history.jsonl")]
    assert times == sorted(times) and times[0] == 0.0


def test_a_scenario_swarm_over_two_processes(tmp_path: Path) -> None:
    # bench failover with --processes 2: the runner keeps slice 0, a `finesse-emu swarm --slice 1/2`
    # process runs the rest; until conditions count both, and the histories become one run.
    bench = run_cli(
        "bench", "failover", "--agents", "24", "--processes", "2", "--time-scale", "0.05",
        "--network", "127.0.28", "--report-dir", str(tmp_path), timeout=240,
    )  # fmt: skip
    assert bench.returncode == 0, bench.stdout + bench.stderr
    (report,) = tmp_path.glob("bench-failover-24-*")
    result = json.loads((report / "bench.json").read_text())
    assert result["swarm_processes"] == 2
    assert result["desktops_failed_over"] == 12 and result["desktops_lost"] == 0
    history = events(report / "history.jsonl")
    moved = {str(e["agent"]) for e in history if e.get("event") == "failover_done"}
    # Half of each slice was on the publisher: agents 1000-1005 (slice 0) and 1012-1017 (slice 1).
    assert moved == {str(a) for a in [*range(1000, 1006), *range(1012, 1018)]}
    assert any(e.get("source") == "swarm-1" and e.get("event") == "resources" for e in history)
    times = [float(str(e["t"])) for e in history]
    assert times == sorted(times)
