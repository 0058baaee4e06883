"""slow-network-close.yaml measures the slow network, not the run: the same closes with a normal
network take the close path (signed out 60 s after), and its first expectation fails."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from finesse_emu.runs.scenario.runner import run_scenario
from finesse_emu.runs.scenario.spec import load

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


async def test_without_the_slow_network_the_close_path_signs_out_at_60_s(tmp_path: Path) -> None:
    scenario = load(ROOT / "finesse_emu" / "scenarios" / "slow-network-close.yaml")
    assert scenario.swarm.get("slow_network") is True
    # The same steps up to the first expectation, which is what a normal network must fail.
    first = next(i for i, step in enumerate(scenario.steps) if step.kind == "expect")
    normal = dataclasses.replace(
        scenario,
        swarm={k: v for k, v in scenario.swarm.items() if k != "slow_network"},
        steps=scenario.steps[: first + 1],
    )
    ok = await run_scenario(normal, tmp_path / "report", network="127.0.48", quiet=True)
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    seen = {e["name"]: e for e in summary["expectations"]}
    assert not ok
    early = seen["not the close path (signed out after 60 s): cti_agent"]
    assert not early["ok"] and "reason 50002" in early["detail"], early  # signed out by 80 s
