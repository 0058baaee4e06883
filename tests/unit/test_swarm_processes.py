"""``swarm: {processes: K}`` in a scenario, and bench failover's count of failing desktops."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from finesse_emu.desktop.swarm import slice_sizes, take_slice
from finesse_emu.runs.scenario.failover_bench import failing, scenario
from finesse_emu.runs.scenario.slices import RemoteSlices
from finesse_emu.runs.scenario.spec import ScenarioError, parse


def spec(**swarm: Any) -> dict[str, Any]:
    return {
        "name": "t",
        "deployment": {"agents": 10, "time_scale": 0.05},
        "swarm": swarm,
        "steps": [{"wait": 1}],
    }


def test_processes_is_a_whole_number_of_at_least_one() -> None:
    assert parse(spec(processes=3)).swarm["processes"] == 3
    for bad in (0, 1.5, "2", True):
        with pytest.raises(ScenarioError, match="processes"):
            parse(spec(processes=bad))


@pytest.mark.parametrize("key", ["ippa", "hold"])
def test_the_other_processes_run_plain_desktops_only(key: str) -> None:
    with pytest.raises(ScenarioError, match=key):
        parse(spec(processes=2, **{key: 1}))
    parse(spec(processes=1, **{key: 1}))  # one process: anything goes


def test_single_sign_on_runs_in_one_swarm_process() -> None:
    sso = {**spec(processes=2), "deployment": {"agents": 10, "sso": {"refresh_token_lifetime": 700}}}
    with pytest.raises(ScenarioError, match="sso"):
        parse(sso)
    assert parse({**sso, "swarm": {}}).sso == {"refresh_token_lifetime": 700.0}
    with pytest.raises(ScenarioError, match="sso"):
        parse({**sso, "swarm": {}, "deployment": {"sso": {"refresh_token_lifetime": -1}}})


def test_failing_desktops_are_half_of_each_slice() -> None:
    assert failing(2000, 1) == (1000, 1000)
    assert failing(2000, 2) == (500, 1000)
    own, total = failing(25, 2)  # slices of 12 and 13: 6 and round(6.5) = 6
    assert (own, total) == (6, 12)


@pytest.mark.parametrize(("n", "k"), [(0, 1), (7, 3), (25, 2), (2000, 3), (5, 8)])
def test_slice_sizes_are_the_lengths_of_take_slice(n: int, k: int) -> None:
    items = list(range(n))
    assert slice_sizes(n, k) == [len(take_slice(items, i, k)) for i in range(k)]
    assert sum(slice_sizes(n, k)) == n


def test_the_bench_scenario_expects_its_own_slice_and_passes_the_processes_on() -> None:
    sc = parse(scenario(2000, 6, "xml", 0.0, 1.0, processes=2))
    assert sc.swarm["processes"] == 2
    checks = [s.args["checks"] for s in sc.steps if s.kind == "expect"]
    # The runner's slice has 1000 desktops, 500 of them on the publisher; measure() counts the rest.
    assert {"failover_seconds": {"count": 500}} in checks
    assert {"desktops_on": {"finesse-b": "all"}} in checks  # counted over both processes


def test_remote_slices_command_lines(tmp_path: Path) -> None:
    swarm = {"gadgets": 4, "gadget_kind": "jsp", "rtt_ms": 400}
    swarm |= {"bypass_server_cache": True, "nocache": True, "preload_secondary": False}
    swarm |= {"rcwn": 0.5, "clear_cache_on_launch": True, "slow_network": True}
    r = RemoteSlices(swarm, desktops=30, count=3, run_dir=tmp_path / "run", out_dir=tmp_path)
    assert r.remote_desktops == 20
    argv = r.argv(2, 4242, tmp_path / "slice-2.jsonl")
    joined = " ".join(argv)
    for part in ("swarm --agents 30", "--slice 2/3", "--gadgets 4", "--gadget-kind jsp", "--rtt-ms 400.0"):
        assert part in joined
    assert "--bypass-server-cache" in argv and "--no-preload-secondary" in argv and "--nocache" in argv
    assert "--rcwn 0.5" in joined and "--clear-cache-on-launch" in argv and "--slow-network" in argv
    assert argv[-4:] == ["--history", str(tmp_path / "slice-2.jsonl"), "--metrics-port", "4242"]
    # Without gadgets in the scenario, every slice loads the node's desktop layout (no override).
    default = RemoteSlices({}, desktops=30, count=3, run_dir=tmp_path / "run", out_dir=tmp_path)
    assert "--gadgets" not in default.argv(1, 4242, tmp_path / "slice-1.jsonl")
