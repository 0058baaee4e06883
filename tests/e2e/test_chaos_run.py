"""A short randomised run with fixed seeds: random faults, all healed, then every invariant of
finesse-emu check holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from finesse_emu.scenario.chaos_run import chaos_run

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("seed", [7, 11])
async def test_chaos_run_fixed_seed(seed: int, tmp_path: Path) -> None:
    ok, text = await chaos_run(seed, 150, 12, 0.05, tmp_path / "report", "127.0.44")
    assert ok, text
    assert "desktops-converge: ok" in text
