"""chaos-run schedules: a function of the seed only, every fault healed, valid scenarios."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from finesse_emu.scenario.chaos_run import schedule
from finesse_emu.scenario.spec import parse


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10**6), st.floats(30, 3000))
def test_same_seed_same_schedule_and_every_fault_healed(seed: int, duration: float) -> None:
    spec = schedule(seed, duration, 20, 0.05)
    assert spec == schedule(seed, duration, 20, 0.05)
    parse(spec)  # a scenario finesse-emu run accepts
    faulted: list[str] = []
    for step in spec["steps"]:
        fault = step.get("fault")
        if fault is None:
            continue
        if fault["action"] in ("kill", "hang"):
            faulted.append(fault["target"])
        else:
            faulted.remove(fault["target"])
    assert faulted == []  # nothing left broken: convergence can be checked after the last fault


def test_different_seeds_give_different_schedules() -> None:
    assert schedule(1, 600, 20, 0.05) != schedule(2, 600, 20, 0.05)
